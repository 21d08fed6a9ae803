package foxtrottest_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
	"github.com/foxtrotnet/foxtrot/route"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func roundTrip(t *testing.T, fn *foxtrottest.Net, from, to int) []int {
	t.Helper()
	l := foxtrottest.Echo(t, fn.Nodes[to])
	c := foxtrottest.Dial(t, fn.Nodes[from], l.Addr())
	defer c.Close()
	_, err := c.Write([]byte("ping"))
	require.NoError(t, err)
	got := make([]byte, 4)
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, "ping", string(got))
	return fn.Indices(c.Path())
}

func TestNewReturnsALinkedNetwork(t *testing.T) {
	for _, topo := range []foxtrottest.Topology{foxtrottest.Line, foxtrottest.Ring, foxtrottest.Grid(3), foxtrottest.Random(3), foxtrottest.ScaleFree(2)} {
		t.Run(topo.Name, func(t *testing.T) {
			fn := foxtrottest.New(t, 9, topo, foxtrottest.Options{Seed: 1})
			for i, n := range fn.Nodes {
				require.Len(t, n.Peers(), len(fn.Sim.Neighbours(i)), "node %d", i)
				require.Equal(t, fn.Identity(i), n.Identity())
				require.Equal(t, i, fn.Index(n.Identity()))
			}
			far := fn.Sim.Farthest(0)
			path := roundTrip(t, fn, 0, far)
			require.GreaterOrEqual(t, len(path), fn.Sim.Distance(0, far)-1)
			walk := append(append([]int{0}, path...), far)
			for k := 1; k < len(walk); k++ {
				require.Contains(t, fn.Sim.Neighbours(walk[k-1]), walk[k], "the path %v follows links", walk)
			}
		})
	}
}

// carriers are the links a Net can run over.
var carriers = []struct {
	name string
	udp  bool
}{{"mem", false}, {"udp", true}}

func TestACutLinkStaysDownUntilHealed(t *testing.T) {
	for _, carrier := range carriers {
		t.Run(carrier.name, func(t *testing.T) {
			fn := foxtrottest.New(t, 3, foxtrottest.Ring, foxtrottest.Options{UDP: carrier.udp})
			// Direct or around the ring: whichever answer came first.
			require.Contains(t, [][]int{{}, {2}}, roundTrip(t, fn, 0, 1))

			fn.Cut(0, 1)
			require.NotContains(t, fn.Nodes[0].Peers(), fn.Identity(1))
			require.NotContains(t, fn.Nodes[1].Peers(), fn.Identity(0))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := fn.Nodes[0].Connect(ctx, fn.Addr(1))
			require.ErrorIs(t, err, foxtrottest.ErrCut, "a redial cannot relink them")
			err = fn.Nodes[1].Connect(ctx, fn.Addr(0))
			require.ErrorIs(t, err, foxtrottest.ErrCut, "from either end")
			require.Equal(t, []int{2}, roundTrip(t, fn, 0, 1), "around the ring")

			fn.Heal(0, 1)
			require.Contains(t, fn.Nodes[0].Peers(), fn.Identity(1))
			require.Contains(t, fn.Nodes[1].Peers(), fn.Identity(0))
		})
	}
}

func TestAClosedNodeLeavesItsNeighboursAndARestartedOneRejoins(t *testing.T) {
	for _, carrier := range carriers {
		t.Run(carrier.name, func(t *testing.T) {
			fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{Logs: true, UDP: carrier.udp})
			old := fn.Nodes[1]
			addr := fn.Addr(1)
			fn.CloseNode(1)
			require.Empty(t, fn.Nodes[0].Peers())
			require.Empty(t, fn.Nodes[2].Peers())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := fn.Nodes[0].DialContext(ctx, "foxtrot", fn.Identity(2).String())
			require.ErrorIs(t, err, route.ErrNoRoute)

			n := fn.Restart(1)
			require.NotSame(t, old, n)
			require.Same(t, n, fn.Nodes[1])
			require.Same(t, n, fn.Node(1))
			require.Equal(t, fn.Identity(1), n.Identity(), "the same identity")
			require.Equal(t, addr, fn.Addr(1), "the same address")
			require.Equal(t, []int{1}, roundTrip(t, fn, 0, 2), "relaying again")
		})
	}
}

func TestOptionsConfigShapesEveryNode(t *testing.T) {
	var configured []int
	fn := foxtrottest.New(t, 4, foxtrottest.Line, foxtrottest.Options{Config: func(i int, c *foxtrot.Config) {
		configured = append(configured, i)
		c.HopLimit = 1 // a request crosses one relay at most
	}})
	require.Equal(t, []int{0, 1, 2, 3}, configured)
	require.Equal(t, []int{1}, roundTrip(t, fn, 0, 2))
	l := foxtrottest.Echo(t, fn.Nodes[3])
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := fn.Nodes[0].DialContext(ctx, "foxtrot", l.Addr().String())
	require.ErrorIs(t, err, context.DeadlineExceeded, "two relays are past the hop limit")
}

func TestWaitBlockedSeesAGoroutineParkedInAFunction(t *testing.T) {
	fn := foxtrottest.New(t, 1, foxtrottest.Line, foxtrottest.Options{})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[0].Listen(key)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	foxtrottest.WaitBlocked(t, "foxtrot.(*Listener).Accept")
	select {
	case err := <-errc:
		t.Fatalf("Accept returned while it should block: %v", err)
	default:
	}
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-errc, net.ErrClosed)
}
