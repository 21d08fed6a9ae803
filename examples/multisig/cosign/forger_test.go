package cosign

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"
)

// A forgery turns a proposal into the PSBT a dishonest or broken co-signer
// returns, and names the key that signs the approval message.
type forgery struct {
	name  string
	forge func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey)
	want  error
}

func forgeries() []forgery {
	return []forgery{
		{
			name: "signature over a different input amount",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				pkt.Inputs[0].WitnessUtxo.Value += 1
				require.NoError(t, signInputs(pkt, w, self))
				return pkt, self
			},
			want: ErrBadPartialSig,
		},
		{
			name: "signature by another key under the co-signer's name",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				require.NoError(t, signInputs(pkt, w, testKey("mallory")))
				for i := range pkt.Inputs {
					ps, ok := partialSigBy(&pkt.Inputs[i], testKey("mallory").PubKey())
					require.True(t, ok)
					ps.PubKey = self.PubKey().SerializeCompressed()
				}
				return pkt, self
			},
			want: ErrBadPartialSig,
		},
		{
			name: "high-S signature",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				require.NoError(t, signInputs(pkt, w, self))
				ps, _ := partialSigBy(&pkt.Inputs[0], self.PubKey())
				ps.Signature = highS(t, ps.Signature)
				return pkt, self
			},
			// psbt v1.1.8's parser already refuses a high-S partial
			// signature; verifyPartialSig would too (see sign_test.go).
			want: ErrMalformed,
		},
		{
			name: "SIGHASH_NONE signature",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				tx := pkt.UnsignedTx
				hashes := sigHashes(tx, prevOuts(pkt))
				for i := range pkt.Inputs {
					sig, err := txscript.RawTxInWitnessSignature(tx, hashes, i, pkt.Inputs[i].WitnessUtxo.Value,
						w.WitnessScript(), txscript.SigHashNone, self)
					require.NoError(t, err)
					pkt.Inputs[i].PartialSigs = append(pkt.Inputs[i].PartialSigs,
						&psbt.PartialSig{PubKey: self.PubKey().SerializeCompressed(), Signature: sig})
				}
				return pkt, self
			},
			want: ErrBadPartialSig,
		},
		{
			name: "no signature at all",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				return mustCopy(t, p.Packet), self
			},
			want: ErrBadPartialSig,
		},
		{
			name: "signatures for another transaction",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				pkt.UnsignedTx.TxOut[0].Value -= 1_000
				require.NoError(t, signInputs(pkt, w, self))
				return pkt, self
			},
			want: ErrWrongProposal,
		},
		{
			name: "approval signed by a different member",
			forge: func(t *testing.T, w *Wallet, self *btcec.PrivateKey, p *Proposal) (*psbt.Packet, *btcec.PrivateKey) {
				pkt := mustCopy(t, p.Packet)
				require.NoError(t, signInputs(pkt, w, self))
				return pkt, testKey("carol")
			},
			want: ErrWrongSender,
		},
	}
}

func mustCopy(t *testing.T, pkt *psbt.Packet) *psbt.Packet {
	t.Helper()
	c, err := copyPacket(pkt)
	require.NoError(t, err)
	return c
}

// highS returns the same signature with S replaced by N-S: valid ECDSA,
// but not what standard (low-S) script verification accepts.
func highS(t *testing.T, sig []byte) []byte {
	t.Helper()
	der := sig[:len(sig)-1]
	rLen := int(der[3])
	r := der[4 : 4+rLen]
	sBytes := der[4+rLen+2:]
	var s btcec.ModNScalar
	require.False(t, s.SetByteSlice(sBytes))
	s.Negate()
	sb := s.Bytes()
	sEnc := bytes.TrimLeft(sb[:], "\x00")
	if sEnc[0]&0x80 != 0 {
		sEnc = append([]byte{0}, sEnc...)
	}
	body := append([]byte{0x02, byte(len(r))}, r...)
	body = append(body, 0x02, byte(len(sEnc)))
	body = append(body, sEnc...)
	out := append([]byte{0x30, byte(len(body))}, body...)
	return append(out, sig[len(sig)-1])
}

// serveForger runs a co-signer that approves every proposal with a forged
// PSBT, until the test ends.
func serveForger(t *testing.T, c carrier, w *Wallet, name string,
	forge func(*testing.T, *Wallet, *btcec.PrivateKey, *Proposal) (*psbt.Packet, *btcec.PrivateKey)) Peer {

	t.Helper()
	self := testKey(name)
	l := c.listen(t, self)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func(conn net.Conn) {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				raw, err := ReadFrame(conn)
				if err != nil {
					return
				}
				m, err := Parse(raw)
				if err != nil {
					t.Errorf("forger: %v", err)
					return
				}
				p := m.(*Proposal)
				pkt, signer := forge(t, w, self, p)
				a := &Approval{Header: Header{ID: p.ID, Time: time.Now(), Sender: signer.PubKey()}, Packet: pkt}
				msg, err := a.Encode(signer)
				if err != nil {
					t.Errorf("forger: %v", err)
					return
				}
				WriteFrame(conn, msg)
			}(conn)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return Peer{Key: self.PubKey(), Address: l.Addr().String()}
}

// withoutSignature strips the signature off an encoded message.
func withoutSignature(msg []byte) []byte {
	e, err := parseEnvelope(msg)
	if err != nil {
		panic(err)
	}
	return append(bytes.Clone(e.signed), 0)
}
