package route

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// On a path without relays the two ends agree to rely on the peer link's
// encryption; through a relay, or when either end asks for EncryptDirect,
// every record stays sealed. Data arrives intact either way.
func TestDirectPathsRelyOnTheLinkAndRelayedOnesStaySealed(t *testing.T) {
	cases := []struct {
		name         string
		target       int  // 1 is a neighbour of the dialler, 2 is behind relay 1
		encryptAt    int  // node with EncryptDirect set, -1 for none
		wantSwitched bool // both ends switched to the link's encryption
	}{
		{"direct", 1, -1, true},
		{"through a relay", 2, -1, false},
		{"the dialler encrypts", 1, 0, false},
		{"the target encrypts", 1, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startNodes(t, simnet.New(3, simnet.Line, simnet.Options{}), func(i int, c *Config) {
				c.EncryptDirect = i == tc.encryptAt
			}, nil)
			l := echo(t, nodes[tc.target])
			s, err := dial(t, nodes[0], l.Addr(), 5*time.Second)
			require.NoError(t, err)
			defer s.Close()
			sendAndCheck(t, s, 3<<20)

			want := int64(0)
			if tc.wantSwitched {
				want = 1
			}
			require.Eventually(t, func() bool {
				return nodes[0].r.Stats().DirectPaths == want && nodes[tc.target].r.Stats().DirectPaths == want
			}, 5*time.Second, time.Millisecond)
			time.Sleep(20 * time.Millisecond) // and no late switch either
			require.Equal(t, want, nodes[0].r.Stats().DirectPaths)
			require.Equal(t, want, nodes[tc.target].r.Stats().DirectPaths)
			sendAndCheck(t, s, 1<<20)
		})
	}
}

// A connection to a listener on the dialling node itself runs over an
// in-memory pipe: it switches too.
func TestASameNodeConnectionSwitchesToo(t *testing.T) {
	nodes := startNodes(t, simnet.New(1, simnet.Line, simnet.Options{}), nil, nil)
	l := echo(t, nodes[0])
	s, err := dial(t, nodes[0], l.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer s.Close()
	sendAndCheck(t, s, 1<<20)
	require.Eventually(t, func() bool { return nodes[0].r.Stats().DirectPaths == 2 }, 5*time.Second, time.Millisecond)
}

// sendAndCheck writes n bytes to an echoing session and checks that the
// same bytes come back.
func sendAndCheck(t *testing.T, s *Session, n int) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	go s.Write(data)
	got := make([]byte, n)
	_, err := io.ReadFull(s, got)
	require.NoError(t, err)
	require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
}

// The offer and its answer are checked against what each end sees. The
// target ignores an offer that does not name its link's peer and itself
// (a relay hid itself from the hop list, say) and stays sealed; the
// dialler ends a session whose target claims a direct path it did not
// offer or that does not match, since the target's records would be
// unreadable from then on.
func TestDirectRecordsAreCheckedAgainstThePath(t *testing.T) {
	nodes := startNodes(t, simnet.New(1, simnet.Line, simnet.Options{}), nil, nil)
	r := nodes[0].r
	self := r.self
	other := [20]byte{9}
	body := func(from, to [20]byte) []byte { return append(append([]byte(nil), from[:]...), to[:]...) }
	// A same-node path: its peer node is this node.
	path := func(dialer, canDirect bool) (*Session, *pathConn) {
		s := newSession(r, [20]byte{1}, dialer, nil, nil, [32]byte{})
		p := newPathConn(nopStream{}, nil, nil, s.id, 1, [32]byte{}, dialer)
		p.canDirect = canDirect
		return s, p
	}
	sealedOpener := func(p *pathConn) bool { return p.open.aead != nil }

	t.Run("target ignores a mismatch", func(t *testing.T) {
		for _, b := range [][]byte{body(other, self), body(self, other)} {
			s, p := path(false, true)
			require.NoError(t, s.onDirect(p, b))
			require.False(t, p.direct)
			require.Zero(t, p.switchDue)
		}
	})
	t.Run("target ignores an offer where it may not switch", func(t *testing.T) {
		s, p := path(false, false)
		require.NoError(t, s.onDirect(p, body(self, self)))
		require.Zero(t, p.switchDue)
	})
	t.Run("target accepts a match once", func(t *testing.T) {
		s, p := path(false, true)
		require.NoError(t, s.onDirect(p, body(self, self)))
		require.Equal(t, recDirect, p.switchDue)
		p.switchDue = 0
		require.NoError(t, s.onDirect(p, body(self, self)))
		require.Zero(t, p.switchDue, "a second offer changes nothing")
		require.True(t, sealedOpener(p), "the dialler's records stay sealed until its plain record")
		require.NoError(t, s.handleRecord(p, recPlain, nil, nil))
		require.False(t, sealedOpener(p))
		require.ErrorIs(t, s.handleRecord(p, recPlain, nil, nil), ErrProtocol)
	})
	t.Run("target refuses a plain record before any offer", func(t *testing.T) {
		s, p := path(false, true)
		require.ErrorIs(t, s.handleRecord(p, recPlain, nil, nil), ErrProtocol)
		require.True(t, sealedOpener(p))
	})
	t.Run("dialler refuses an answer it did not ask for", func(t *testing.T) {
		s, p := path(true, false)
		require.ErrorIs(t, s.onDirect(p, body(self, self)), ErrProtocol)
	})
	t.Run("dialler refuses a mismatched answer", func(t *testing.T) {
		s, p := path(true, true)
		require.ErrorIs(t, s.onDirect(p, body(other, self)), ErrProtocol)
		require.True(t, sealedOpener(p))
	})
	t.Run("dialler switches on a matching answer, once", func(t *testing.T) {
		s, p := path(true, true)
		require.NoError(t, s.onDirect(p, body(self, self)))
		require.False(t, sealedOpener(p))
		require.Equal(t, recPlain, p.switchDue)
		require.ErrorIs(t, s.onDirect(p, body(self, self)), ErrProtocol)
		require.ErrorIs(t, s.handleRecord(p, recPlain, nil, nil), ErrProtocol, "only the dialler sends plain")
	})
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
