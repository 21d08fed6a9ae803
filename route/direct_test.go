package route

import (
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
			sendAndCheck(t, s, 1<<20)
			// and no late switch either, a whole round trip later
			require.Equal(t, want, nodes[0].r.Stats().DirectPaths)
			require.Equal(t, want, nodes[tc.target].r.Stats().DirectPaths)
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
