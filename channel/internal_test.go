package channel

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

func testKey(s string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte(s))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

func testTerms(t *testing.T, p Params) *terms {
	tm := &terms{p: p}
	tm.keys = [2]*btcec.PublicKey{testKey("o").PubKey(), testKey("a").PubKey()}
	tm.payout = [2][]byte{P2WPKH(tm.keys[0]), P2WPKH(tm.keys[1])}
	tm.fundWS = fundingScript(tm.keys[0], tm.keys[1])
	tm.fundPk = p2wsh(tm.fundWS)
	tm.fundOut = wire.OutPoint{Index: 1}
	tm.fundVal = 10_000_000
	tm.computeReserve()
	return tm
}

func defaultParams() Params {
	c, _ := Config{Height: func() uint32 { return 100 }}.withDefaults()
	return c.params(100)
}

func TestSmallestStateIsMinStateVSize(t *testing.T) {
	tm := testTerms(t, defaultParams())
	s := state{Balance: [2]btcutil.Amount{tm.fundVal, 0}}
	tx, err := tm.buildState(&s)
	require.NoError(t, err)
	require.Len(t, tx.TxOut, 1)
	require.EqualValues(t, minStateVSize, nominalVSize(tx, tm.fundWS))
}

func TestSignFixedAlwaysMakesVerifiable70ByteSignatures(t *testing.T) {
	k := testKey("signer")
	firstTry := 0
	for i := range 500 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		sig := signFixed(k, h[:])
		require.Len(t, sig, derSigLen)
		parsed, err := ecdsa.ParseDERSignature(sig)
		require.NoError(t, err)
		require.True(t, parsed.Verify(h[:], k.PubKey()))
		// When plain RFC 6979 already fits, grinding changes nothing.
		if std := ecdsa.Sign(k, h[:]).Serialize(); len(std) == derSigLen {
			require.Equal(t, std, sig)
			firstTry++
		}
	}
	require.Greater(t, firstTry, 150, "about half fit at the first try")
	require.Less(t, firstTry, 350)
}

// TestEveryStateOutbidsEveryOlderOne drives random updates through the
// state rules and checks, pair by pair (the slow, obvious way), that each
// state has an earlier lock time, a higher sequence, a higher absolute fee,
// a higher fee rate and no smaller size than every older one, and that its
// outputs and fee add up to the channel.
func TestEveryStateOutbidsEveryOlderOne(t *testing.T) {
	p := defaultParams()
	tm := testTerms(t, p)
	rng := rand.New(rand.NewPCG(1, 2))
	s := state{Balance: [2]btcutil.Amount{6_000_000, 4_000_000}, AcceptorOut: true}
	type built struct {
		lock, seq uint32
		fee       btcutil.Amount
		vsize     int64
	}
	var hist []built
	record := func(s *state) {
		tx, err := tm.buildState(s)
		require.NoError(t, err)
		var out int64
		for _, o := range tx.TxOut {
			out += o.Value
			require.GreaterOrEqual(t, o.Value, int64(p.DustLimit))
		}
		fee := tm.fundVal - btcutil.Amount(out)
		require.Equal(t, tm.stateFee(s, tx), fee)
		hist = append(hist, built{tx.LockTime, tx.TxIn[0].Sequence, fee, nominalVSize(tx, tm.fundWS)})
	}
	record(&s)
	for len(hist) < 400 {
		r := Role(rng.IntN(2))
		var op Op
		switch k := rng.IntN(4); {
		case k == 0:
			op = Pay{Amount: btcutil.Amount(1 + rng.IntN(5000))}
		case k == 1:
			pre := [32]byte{byte(rng.IntN(256))}
			op = AddHTLC{Amount: btcutil.Amount(546 + rng.IntN(5000)), Hash: sha256.Sum256(pre[:]),
				Expiry: p.LockTime(s.Version+1) + p.HTLCMargin + uint32(rng.IntN(50))}
		default:
			var live []htlc
			for _, sl := range s.Slots {
				if sl.live && sl.h.Offerer != r {
					live = append(live, sl.h)
				}
			}
			if len(live) == 0 {
				continue
			}
			h := live[rng.IntN(len(live))]
			op = FailHTLC{ID: h.ID}
			if k == 2 {
				for b := range 256 {
					if pre := [32]byte{byte(b)}; sha256.Sum256(pre[:]) == h.Hash {
						op = SettleHTLC{ID: h.ID, Preimage: pre}
					}
				}
			}
		}
		n, _, err := tm.apply(&s, r, []Op{op}, s.Version+1+uint32(rng.IntN(2)), 100, true)
		if err != nil {
			require.ErrorIs(t, err, ErrTooManyHTLCs)
			continue
		}
		s = n
		record(&s)
	}
	for v := 1; v < len(hist); v++ {
		for u := range v {
			nu, nv := hist[u], hist[v]
			require.Less(t, nv.lock, nu.lock)
			require.Greater(t, nv.seq, nu.seq)
			require.Greater(t, nv.fee, nu.fee, "fee %d vs %d", v, u)
			require.GreaterOrEqual(t, nv.vsize, nu.vsize)
			// Rate as btcd's mempool compares it, sat/kvB rounded down.
			require.Greater(t, int64(nv.fee)*1000/nv.vsize, int64(nu.fee)*1000/nu.vsize, "rate %d vs %d", v, u)
		}
	}
}

func TestParamsRejectARateStepTooSmallToOrderStates(t *testing.T) {
	p := defaultParams()
	p.FeeRateStep = 7
	require.ErrorIs(t, p.validate(), ErrParams)
	p.FeeRateStep = 8
	require.NoError(t, p.validate())
}

func TestPathExpiriesDecreaseTowardPayee(t *testing.T) {
	require.Equal(t, []uint32{1100, 1060, 1020}, PathExpiries([]uint32{900, 1000, 1020}, 40))
	require.Equal(t, []uint32{2000, 1060, 1020}, PathExpiries([]uint32{2000, 1000, 1020}, 40))
	require.Empty(t, PathExpiries(nil, 40))
}

func TestRejectCodesRoundTrip(t *testing.T) {
	for code, e := range rejectCodes {
		if e == nil {
			continue
		}
		require.ErrorIs(t, rejectReason(rejectCode(e)), e)
		require.EqualValues(t, code, rejectCode(e))
	}
	require.ErrorIs(t, rejectReason(999), ErrRefused)
}

func TestPeerSignatureOfAnotherLengthIsRefused(t *testing.T) {
	_, snaps := seedMessages(t)
	c, err := Resume(Config{Height: func() uint32 { return 1000 }}, testKey("b"), snaps[1])
	require.NoError(t, err)
	tx, err := c.t.buildState(&c.cur)
	require.NoError(t, err)
	// A valid signature by the peer, but plain RFC 6979: find a state
	// whose standard signature is not 70 bytes.
	fetch := c.t.fetcher()
	var h []byte
	peer := testKey("a")
	var sig []byte
	for {
		tx.TxOut[0].Value-- // vary the message until the plain signature is 71 bytes
		hashes := txscript.NewTxSigHashes(tx, fetch)
		h, err = txscript.CalcWitnessSigHash(c.t.fundWS, hashes, txscript.SigHashAll, tx, 0, int64(c.t.fundVal))
		require.NoError(t, err)
		if sig = ecdsa.Sign(peer, h).Serialize(); len(sig) != derSigLen {
			break
		}
	}
	var sigs [2][]byte
	sigs[Opener], sigs[Acceptor] = sig, signFixed(testKey("b"), h)
	err = c.checkState(tx, sigs)
	require.ErrorIs(t, err, ErrBadSignature)
	require.ErrorIs(t, verify(peer.PubKey(), sig, tx, 0, c.t.fundWS, int64(c.t.fundVal), fetch), ErrBadSignature)
	// The same transaction with a ground signature passes.
	sigs[Opener] = signFixed(peer, h)
	require.NoError(t, c.checkState(tx, sigs))
}
