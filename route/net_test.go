package route

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is a router on its peer set, as foxtrot.Node composes them.
type node struct {
	r   *Router
	set *peer.Set
}

// startNodes builds sn with one router per node; wrap (may be nil) picks
// each node's handler.
func startNodes(t testing.TB, sn *simnet.Net, mod func(i int, c *Config), wrap func(i int, r *Router) peer.Handler) []*node {
	t.Helper()
	nodes := make([]*node, sn.Len())
	for i := range nodes {
		cfg := Config{Identity: sn.Keys[i]}
		if mod != nil {
			mod(i, &cfg)
		}
		r, err := New(cfg)
		require.NoError(t, err)
		var h peer.Handler = r
		if wrap != nil {
			if w := wrap(i, r); w != nil {
				h = w
			}
		}
		set, err := peer.NewSet(peer.Config{Identity: sn.Keys[i], Transports: transport.Set(sn.Transports()), Handler: h})
		require.NoError(t, err)
		require.NoError(t, set.Register(r.TicketProtocol()))
		_, err = set.Listen(ma.StringCast(sn.Listen(i)))
		require.NoError(t, err)
		for _, p := range sn.Peers(i) {
			set.Keep(ma.StringCast(p))
		}
		nodes[i] = &node{r: r, set: set}
		t.Cleanup(func() { r.Close(); set.Close() })
	}
	require.Eventually(t, func() bool {
		for i, n := range nodes {
			n.r.mu.Lock()
			up := len(n.r.nbrs)
			n.r.mu.Unlock()
			if up != len(sn.Neighbours(i)) {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond)
	return nodes
}

func newTestKey(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return k
}

// echo listens on a fresh key and echoes every connection.
func echo(t testing.TB, n *node) *Listener {
	l, err := n.r.Listen(newTestKey(t))
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go serveEcho(l)
	return l
}

// serveEcho echoes every connection l accepts until it is closed.
func serveEcho(l *Listener) {
	for {
		s, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer s.Close()
			io.Copy(s, s)
		}()
	}
}

func dial(t testing.TB, n *node, target [20]byte, timeout time.Duration) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return n.r.Dial(ctx, nil, target)
}

func roundTrip(t testing.TB, s *Session, msg string) {
	t.Helper()
	_, err := s.Write([]byte(msg))
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(s, got)
	require.NoError(t, err)
	require.Equal(t, msg, string(got))
}

// linkTo returns a's link to b.
func linkTo(t testing.TB, a, b *node) *peer.Link {
	l := a.set.Link(addr.NodeIDFromPubKey(b.r.cfg.Identity.PubKey()))
	require.NotNil(t, l)
	return l
}
