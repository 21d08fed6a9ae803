package cosign

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Run each for a while locally, e.g.
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 20s -fuzzminimizetime 1s ./examples/multisig/cosign
//
// Without -fuzzminimizetime, the targets that verify signatures or parse
// PSBTs spend most of their time minimizing new inputs. CI runs only the
// seed corpus, as part of go test.

// seedMessages returns a valid message of each type, signed and timed at
// epoch, and some near misses.
func seedMessages(t testing.TB) [][]byte {
	p, a, r := sampleMessages(t)
	pm, err := p.Encode(testKey("alice"))
	require.NoError(t, err)
	am, err := a.Encode(testKey("bob"))
	require.NoError(t, err)
	rm, err := r.Encode(testKey("carol"))
	require.NoError(t, err)
	return [][]byte{pm, am, rm, withoutSignature(rm), rm[:len(rm)-3], append([]byte{2}, rm[1:]...), nil, {1}}
}

func seedBodies(t testing.TB) map[Type][]byte {
	bodies := make(map[Type][]byte)
	for _, m := range seedMessages(t)[:3] {
		e, err := parseEnvelope(m)
		require.NoError(t, err)
		bodies[e.typ] = e.body
	}
	return bodies
}

// decodeErrors are the only errors a decoder may return.
var decodeErrors = []error{ErrMalformed, ErrVersion, ErrUnsigned, ErrBadSignature, ErrStale, ErrReplay, ErrBusy, ErrNotMember}

func requireDecodeError(t *testing.T, err error) {
	t.Helper()
	require.True(t, strings.HasPrefix(err.Error(), "cosign: "), "unprefixed error %q", err)
	for _, s := range decodeErrors {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %q wraps no sentinel", err)
}

func FuzzParse(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		require.NotNil(t, m.Head().Sender)
	})
}

func FuzzDecoderDecode(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(DecoderConfig{Now: fixedClock(epoch), CacheSize: 4})
		_, err := d.Decode(b)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		_, err = d.Decode(b)
		require.ErrorIs(t, err, ErrReplay, "the same bytes twice")
	})
}

func FuzzProposalBody(f *testing.F) {
	f.Add(seedBodies(f)[TypeProposal])
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseProposalBody(Header{}, body)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again := appendMemo(nil, &p.Memo)
		again, err = appendPacket(again, p.Packet)
		if err != nil {
			return // psbt cannot write every packet it reads
		}
		q, err := parseProposalBody(Header{}, again)
		require.NoError(t, err)
		require.Equal(t, p.Memo, q.Memo)
		require.Equal(t, p.Packet.UnsignedTx.TxHash(), q.Packet.UnsignedTx.TxHash())
	})
}

// The co-signer's checks on any proposal body, as if it came signed by a
// member: the signature gate keeps FuzzCosignerAnswer from getting here.
func FuzzCheckProposal(f *testing.F) {
	f.Add(seedBodies(f)[TypeProposal])
	w := testWallet(f, 2, "alice", "bob", "carol")
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := parseProposalBody(Header{Time: epoch, Sender: testKey("alice").PubKey()}, body)
		if err != nil {
			return
		}
		s, err := w.CheckProposal(p)
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "cosign: "), err.Error())
			require.NotEqual(t, CodeOther, CodeOf(err), "a check failure maps to a refusal code: %v", err)
			return
		}
		require.NotEmpty(t, s.String())
		pkt := mustCopy(t, p.Packet)
		require.NoError(t, signInputs(pkt, w, testKey("bob")), "what passes the checks can be signed")
	})
}

func FuzzApprovalBody(f *testing.F) {
	f.Add(seedBodies(f)[TypeApproval])
	raw := emptyBip32PSBT(f) // btcd#2351
	f.Add(append([]byte{0, 0, byte(len(raw) >> 8), byte(len(raw))}, raw...))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseApprovalBody(Header{}, body)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		require.NotNil(t, a.Packet.UnsignedTx)
		require.Len(t, a.Packet.Inputs, len(a.Packet.UnsignedTx.TxIn))
	})
}

func FuzzRefusalBody(f *testing.F) {
	f.Add(seedBodies(f)[TypeRefusal])
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := parseRefusalBody(Header{}, body)
		if err != nil {
			requireDecodeError(t, err)
			return
		}
		again := []byte{byte(r.Code), byte(len(r.Reason) >> 8), byte(len(r.Reason))}
		require.Equal(t, body, append(again, r.Reason...), "a refusal body has one encoding")
	})
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 9})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			msg, err := ReadFrame(r)
			if err != nil {
				return
			}
			require.NotEmpty(t, msg)
			require.LessOrEqual(t, len(msg), MaxFrameSize)
		}
	})
}

// The whole co-signer on arbitrary bytes: it never panics, and whatever it
// answers is a message it signed.
func FuzzCosignerAnswer(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m)
	}
	w := testWallet(f, 2, "alice", "bob", "carol")
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewCosigner(CosignerConfig{Wallet: w, Key: testKey("bob"), Policy: Approve,
			Now: fixedClock(epoch.Add(time.Minute))})
		require.NoError(t, err)
		ans, err := c.Answer(context.Background(), b)
		if err != nil {
			return
		}
		m, err := Parse(ans)
		require.NoError(t, err)
		require.True(t, m.Head().Sender.IsEqual(testKey("bob").PubKey()))
		require.NotEqual(t, TypeProposal, m.Type())
	})
}
