package cosign

import (
	"bytes"
	"encoding/hex"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden vectors in testdata/")

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// sampleMessages returns one message of each type, fully deterministic:
// fixed keys, IDs, times and UTXOs, and RFC 6979 signatures.
func sampleMessages(t testing.TB) (*Proposal, *Approval, *Refusal) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	p := testProposal(t, w, "alice")
	p.ID = ID{1, 2, 3}
	p.Time = epoch
	pkt := mustCopyTB(t, p.Packet)
	require.NoError(t, signInputs(pkt, w, testKey("bob")))
	a := &Approval{Header: Header{ID: p.ID, Time: epoch.Add(time.Second), Sender: testKey("bob").PubKey()}, Packet: pkt}
	r := &Refusal{Header: Header{ID: p.ID, Time: epoch.Add(2 * time.Second), Sender: testKey("carol").PubKey()},
		Code: CodeDeclined, Reason: "not this month"}
	return p, a, r
}

func mustCopyTB(t testing.TB, pkt interface{ Serialize(io.Writer) error }) *psbt.Packet {
	var buf bytes.Buffer
	require.NoError(t, pkt.Serialize(&buf))
	c, err := parsePacket(buf.Bytes())
	require.NoError(t, err)
	return c
}

func TestMessagesRoundTrip(t *testing.T) {
	p, a, r := sampleMessages(t)
	for _, tc := range []struct {
		msg interface {
			Message
			Encode(*btcec.PrivateKey) ([]byte, error)
		}
		key *btcec.PrivateKey
	}{{p, testKey("alice")}, {a, testKey("bob")}, {r, testKey("carol")}} {
		t.Run(tc.msg.Type().String(), func(t *testing.T) {
			b, err := tc.msg.Encode(tc.key)
			require.NoError(t, err)
			m, err := Parse(b)
			require.NoError(t, err)
			require.Equal(t, tc.msg.Type(), m.Type())
			require.Equal(t, tc.msg.Head().ID, m.Head().ID)
			require.True(t, tc.msg.Head().Time.Equal(m.Head().Time))
			require.True(t, tc.msg.Head().Sender.IsEqual(m.Head().Sender))
			again, err := m.(interface {
				Encode(*btcec.PrivateKey) ([]byte, error)
			}).Encode(tc.key)
			require.NoError(t, err)
			require.Equal(t, b, again, "decode then encode gives the same bytes")
		})
	}
}

// The vectors in testdata/ pin the wire format: a change to it must be a
// deliberate one (go test -run Golden -update) and bump Version.
func TestMessagesMatchGoldenVectors(t *testing.T) {
	p, a, r := sampleMessages(t)
	encode := map[string]func() ([]byte, error){
		"proposal.hex": func() ([]byte, error) { return p.Encode(testKey("alice")) },
		"approval.hex": func() ([]byte, error) { return a.Encode(testKey("bob")) },
		"refusal.hex":  func() ([]byte, error) { return r.Encode(testKey("carol")) },
	}
	for name, enc := range encode {
		t.Run(name, func(t *testing.T) {
			b, err := enc()
			require.NoError(t, err)
			path := filepath.Join("testdata", name)
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, strings.TrimSpace(string(want)), hex.EncodeToString(b))
			_, err = Parse(b)
			require.NoError(t, err)
		})
	}
}

func TestParseRefusesBrokenMessages(t *testing.T) {
	_, _, r := sampleMessages(t)
	good, err := r.Encode(testKey("carol"))
	require.NoError(t, err)
	e, err := parseEnvelope(good)
	require.NoError(t, err)
	signedLen := len(e.signed)

	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"wrong version", mutate(func(b []byte) []byte { b[0] = 2; return b }), ErrVersion},
		{"version zero", mutate(func(b []byte) []byte { b[0] = 0; return b }), ErrVersion},
		{"unknown type", mutate(func(b []byte) []byte { b[1] = 9; return b }), ErrMalformed},
		{"truncated header", good[:40], ErrMalformed},
		{"sender not a key", mutate(func(b []byte) []byte { b[42] = 0x05; return b }), ErrMalformed},
		{"body length beyond the end", mutate(func(b []byte) []byte { b[headerLen] = 0xff; return b }), ErrMalformed},
		{"no signature", good[:signedLen], ErrUnsigned},
		{"empty signature", append(bytes.Clone(good[:signedLen]), 0), ErrUnsigned},
		{"signature cut short", good[:len(good)-1], ErrMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), ErrMalformed},
		{"flipped ID bit", mutate(func(b []byte) []byte { b[2] ^= 1; return b }), ErrBadSignature},
		{"flipped time bit", mutate(func(b []byte) []byte { b[41] ^= 1; return b }), ErrBadSignature},
		{"flipped reason bit", mutate(func(b []byte) []byte { b[signedLen-1] ^= 1; return b }), ErrBadSignature},
		{"another sender", mutate(func(b []byte) []byte {
			copy(b[42:], testKey("bob").PubKey().SerializeCompressed())
			return b
		}), ErrBadSignature},
		{"garbage signature", append(append(bytes.Clone(good[:signedLen]), 3), 1, 2, 3), ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.msg)
			require.ErrorIs(t, err, tc.want)
			require.True(t, strings.HasPrefix(err.Error(), "cosign: "), err.Error())
		})
	}
}

func TestParseRefusesBadBodiesEvenWhenSigned(t *testing.T) {
	key := testKey("carol")
	sign := func(typ Type, body []byte) []byte {
		b, err := encode(typ, &Header{Time: epoch, Sender: key.PubKey()}, body, key)
		require.NoError(t, err)
		return b
	}
	reason := func(s string) []byte { return append([]byte{1, 0, byte(len(s))}, s...) }
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"refusal with trailing bytes", sign(TypeRefusal, append(reason("no"), 0))},
		{"refusal reason cut short", sign(TypeRefusal, reason("no")[:3])},
		{"refusal reason with an escape sequence", sign(TypeRefusal, reason("ok\x1b[2Jfine"))},
		{"refusal reason with a bidi override", sign(TypeRefusal, reason("ok\u202efine"))},
		{"refusal reason not UTF-8", sign(TypeRefusal, reason("\xff\xfe"))},
		{"approval with no PSBT", sign(TypeApproval, []byte{0, 0, 0, 0})},
		{"approval with garbage PSBT", sign(TypeApproval, []byte{0, 0, 0, 3, 'p', 's', 'b'})},
		{"proposal with a negative fee", sign(TypeProposal, append([]byte{0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0))},
		{"empty proposal", sign(TypeProposal, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.msg)
			require.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestEncodeRefusesWhatParseWouldRefuse(t *testing.T) {
	p, _, r := sampleMessages(t)
	_, err := r.Encode(testKey("alice"))
	require.Error(t, err, "signing key is not the sender")

	r.Reason = strings.Repeat("x", MaxReasonLen+1)
	_, err = r.Encode(testKey("carol"))
	require.ErrorIs(t, err, ErrMalformed)

	p.Memo.Note = "bell\a"
	_, err = p.Encode(testKey("alice"))
	require.ErrorIs(t, err, ErrMalformed)

	p.Memo.Note = ""
	p.Time = time.Time{}
	_, err = p.Encode(testKey("alice"))
	require.Error(t, err, "no timestamp")
}

func TestDecoderRefusesReplays(t *testing.T) {
	p, _, _ := sampleMessages(t)
	msg, err := p.Encode(testKey("alice"))
	require.NoError(t, err)
	d := NewDecoder(DecoderConfig{Now: fixedClock(epoch)})
	_, err = d.Decode(msg)
	require.NoError(t, err)
	_, err = d.Decode(msg)
	require.ErrorIs(t, err, ErrReplay)

	// Same ID, newly signed: still a replay.
	p.Time = epoch.Add(time.Second)
	again, err := p.Encode(testKey("alice"))
	require.NoError(t, err)
	_, err = d.Decode(again)
	require.ErrorIs(t, err, ErrReplay)

	// Same ID from another sender is that sender's own message.
	bob := *p
	bob.Sender = testKey("bob").PubKey()
	fromBob, err := bob.Encode(testKey("bob"))
	require.NoError(t, err)
	_, err = d.Decode(fromBob)
	require.NoError(t, err)
}

func TestDecoderRefusesStaleAndFutureMessages(t *testing.T) {
	_, _, r := sampleMessages(t)
	d := NewDecoder(DecoderConfig{Window: time.Minute, Now: fixedClock(epoch)})
	for _, tc := range []struct {
		at   time.Duration
		want error
	}{
		{-time.Minute - time.Second, ErrStale},
		{time.Minute + time.Second, ErrStale},
		{-time.Minute, nil},
		{time.Minute, nil},
	} {
		r.ID[0]++
		r.Time = epoch.Add(tc.at)
		msg, err := r.Encode(testKey("carol"))
		require.NoError(t, err)
		_, err = d.Decode(msg)
		if tc.want == nil {
			require.NoError(t, err, "at %s", tc.at)
		} else {
			require.ErrorIs(t, err, tc.want, "at %s", tc.at)
		}
	}
}

func TestDecoderRefusesNonMembersBeforeTheyReachTheCache(t *testing.T) {
	_, _, r := sampleMessages(t)
	d := NewDecoder(DecoderConfig{
		CacheSize: 1,
		Senders:   []*btcec.PublicKey{testKey("carol").PubKey()},
		Now:       fixedClock(epoch),
	})
	m := *r
	m.Sender = testKey("mallory").PubKey()
	for i := range 3 {
		m.ID[0] = byte(i)
		msg, err := m.Encode(testKey("mallory"))
		require.NoError(t, err)
		_, err = d.Decode(msg)
		require.ErrorIs(t, err, ErrNotMember)
	}
	msg, err := r.Encode(testKey("carol"))
	require.NoError(t, err)
	_, err = d.Decode(msg)
	require.NoError(t, err, "the one-entry cache is still free for carol")
}

func TestReplayCacheIsBoundedAndForgetsOnlyExpiredEntries(t *testing.T) {
	_, _, r := sampleMessages(t)
	now := epoch
	d := NewDecoder(DecoderConfig{Window: time.Minute, CacheSize: 2, Now: func() time.Time { return now }})
	send := func(id byte) error {
		m := *r
		m.ID = ID{id}
		m.Time = now
		msg, err := m.Encode(testKey("carol"))
		require.NoError(t, err)
		_, err = d.Decode(msg)
		return err
	}
	require.NoError(t, send(1))
	require.NoError(t, send(2))
	require.ErrorIs(t, send(3), ErrBusy, "full of live entries: refuse rather than forget")
	now = now.Add(2*time.Minute + time.Second)
	require.NoError(t, send(3), "the old entries expired")
	require.Len(t, d.seen, 1)
}

func TestFramesRoundTripAndOversizeIsRefused(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteFrame(&buf, []byte("hello")))
	require.NoError(t, WriteFrame(&buf, []byte("world")))
	for _, want := range []string{"hello", "world"} {
		got, err := ReadFrame(&buf)
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	_, err := ReadFrame(&buf)
	require.ErrorIs(t, err, io.EOF)

	_, err = ReadFrame(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff}))
	require.ErrorIs(t, err, ErrFrameTooLarge)
	_, err = ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0}))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ReadFrame(bytes.NewReader([]byte{0, 0, 0, 5, 'h', 'i'}))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.ErrorIs(t, WriteFrame(io.Discard, make([]byte, MaxFrameSize+1)), ErrFrameTooLarge)
}

func TestRefusalCodesMapToSentinels(t *testing.T) {
	for c := CodeDeclined; c <= lastCode; c++ {
		require.NotNil(t, c.Err(), "code %d", c)
		require.Equal(t, c, CodeOf(c.Err()))
		err := &RefusalError{Signer: testKey("bob").PubKey(), Code: c, Reason: "x"}
		require.ErrorIs(t, err, ErrRefused)
		require.ErrorIs(t, err, c.Err())
	}
	require.Nil(t, Code(200).Err())
	require.Equal(t, "code 200", Code(200).String())
	require.Equal(t, CodeOther, CodeOf(io.EOF))
}
