package session

import (
	"bytes"
	"io"
	"testing"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/stretchr/testify/require"
)

// The offer and its answer are checked against what each end sees. The
// target ignores an offer that does not name its link's peer and itself
// (a relay hid itself from the hop list, say) and stays sealed; the
// dialler ends a session whose target claims a direct path it did not
// offer or that does not match, since the target's records would be
// unreadable from then on.
func TestDirectRecordsAreCheckedAgainstThePath(t *testing.T) {
	self := addr.NodeID{7}
	other := addr.NodeID{9}
	body := func(from, to addr.NodeID) []byte { return append(append([]byte(nil), from[:]...), to[:]...) }
	var c Counters
	// A same-node path: its peer node is this node.
	path := func(dialer, canDirect bool) *Path {
		return NewPath(nopStream{}, PathInfo{Num: 1, Peer: self, Local: true, Direct: canDirect}, [32]byte{}, dialer)
	}
	sealedOpener := func(p *Path) bool { return p.open.aead != nil }

	t.Run("target ignores a mismatch", func(t *testing.T) {
		for _, b := range [][]byte{body(other, self), body(self, other)} {
			p := path(false, true)
			sw, err := p.onDirect(b, self, &c)
			require.NoError(t, err)
			require.False(t, p.direct)
			require.Zero(t, sw)
		}
	})
	t.Run("target ignores an offer where it may not switch", func(t *testing.T) {
		p := path(false, false)
		sw, err := p.onDirect(body(self, self), self, &c)
		require.NoError(t, err)
		require.Zero(t, sw)
	})
	t.Run("target accepts a match once", func(t *testing.T) {
		p := path(false, true)
		sw, err := p.onDirect(body(self, self), self, &c)
		require.NoError(t, err)
		require.Equal(t, recDirect, sw)
		sw, err = p.onDirect(body(self, self), self, &c)
		require.NoError(t, err)
		require.Zero(t, sw, "a second offer changes nothing")
		require.True(t, sealedOpener(p), "the dialler's records stay sealed until its plain record")
		require.NoError(t, p.onPlain(&c))
		require.False(t, sealedOpener(p))
		require.ErrorIs(t, p.onPlain(&c), ErrProtocol)
	})
	t.Run("target refuses a plain record before any offer", func(t *testing.T) {
		p := path(false, true)
		require.ErrorIs(t, p.onPlain(&c), ErrProtocol)
		require.True(t, sealedOpener(p))
	})
	t.Run("dialler refuses an answer it did not ask for", func(t *testing.T) {
		p := path(true, false)
		_, err := p.onDirect(body(self, self), self, &c)
		require.ErrorIs(t, err, ErrProtocol)
	})
	t.Run("dialler refuses a mismatched answer", func(t *testing.T) {
		p := path(true, true)
		_, err := p.onDirect(body(other, self), self, &c)
		require.ErrorIs(t, err, ErrProtocol)
		require.True(t, sealedOpener(p))
	})
	t.Run("dialler switches on a matching answer, once", func(t *testing.T) {
		p := path(true, true)
		sw, err := p.onDirect(body(self, self), self, &c)
		require.NoError(t, err)
		require.False(t, sealedOpener(p))
		require.Equal(t, recPlain, sw)
		_, err = p.onDirect(body(self, self), self, &c)
		require.ErrorIs(t, err, ErrProtocol)
		require.ErrorIs(t, p.onPlain(&c), ErrProtocol, "only the dialler sends plain")
	})
	require.EqualValues(t, 2, c.DirectPaths.Load(), "one switch at each end of the accepted paths")
}

type nopStream struct{}

func (nopStream) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopStream) Write(b []byte) (int, error) { return len(b), nil }
func (nopStream) Close() error                { return nil }

// Plain records (after the switch) keep their framing checks: a wrong
// size is a protocol error, and a plaintext record is read back as
// written.
func TestPlainRecordsKeepTheirFraming(t *testing.T) {
	s, o := recordPair()
	s.plain()
	o.plain()
	b := s.seal(nil, recData, make([]byte, 8), []byte("hello"))
	b = s.sealAck(b, 5, 5+initialWindow)
	require.Len(t, b, 2*recordHeaderSize+13+ackSize, "no tags")
	typs, bodies, err := openAll(t, o, b)
	require.NoError(t, err)
	require.Equal(t, []byte{recData, recAck}, typs)
	require.True(t, bytes.HasSuffix(bodies[0], []byte("hello")))
	_, _, err = openAll(t, o, s.seal(nil, recAck, []byte{1, 2, 3}, nil))
	require.ErrorIs(t, err, ErrProtocol)
	_, _, err = openAll(t, o, s.seal(nil, recDirect, make([]byte, 39), nil))
	require.ErrorIs(t, err, ErrProtocol)
}

// FuzzOpenPlainRecords feeds arbitrary bytes to a reader past the switch:
// nothing may panic, and whatever opens has a type and size a sealed
// record of that type could have.
func FuzzOpenPlainRecords(f *testing.F) {
	s, _ := recordPair()
	s.plain()
	f.Add(s.seal(s.sealAck(nil, 5, 5+initialWindow), recData, make([]byte, 8), []byte("hi")))
	f.Add(s.seal(nil, recDirect, make([]byte, 40), nil))
	f.Add([]byte{recPlain, 0, 0, 0, recPing, 0, 0, 1, 0})
	f.Add(s.seal(nil, recTicket, []byte("a ticket"), nil))
	f.Add(s.seal(nil, recRekey, make([]byte, 33), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, o := recordPair()
		o.plain()
		typs, bodies, _, _ := openRaw(o, b)
		for i, typ := range typs {
			if err := checkBody(typ, bodies[i]); err != nil {
				t.Fatalf("record %d opened with a bad body: %v", i, err)
			}
		}
	})
}
