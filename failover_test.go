package foxtrot

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/route"
)

// Two disjoint two-relay paths between alice (0) and bob (5):
//
//	alice ── r1 ── r2 ── bob
//	  └───── r3 ── r4 ────┘
var (
	twoPathEdges = [][2]int{{0, 1}, {1, 2}, {2, 5}, {0, 3}, {3, 4}, {4, 5}}
	twoPaths     = simnet.Custom(twoPathEdges)
)

const alice, bob = 0, 5

// counted reads and hashes a stream, counting what it has read.
type counted struct {
	n   atomic.Int64
	sum [32]byte
	err error
}

func (c *counted) drain(r io.Reader) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		h.Write(buf[:n])
		c.n.Add(int64(n))
		if err != nil {
			if err != io.EOF {
				c.err = err
			}
			break
		}
	}
	h.Sum(c.sum[:0])
}

// transfer sends size random bytes from alice to bob and size/4 back at
// the same time, calling mid once a quarter of alice's bytes have arrived,
// and checks both hashes and that the connection failed over. It returns
// the connection's path before and after.
func transfer(t *testing.T, nodes []*Node, size int, mid func(c *Conn)) (first, last []Addr) {
	key, _ := GenerateKey()
	l, err := nodes[bob].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	up, back := make([]byte, size), make([]byte, size/4)
	rand.Read(up)
	rand.Read(back)

	var atBob counted
	bobDone := make(chan error, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			bobDone <- err
			return
		}
		defer s.Close()
		werr := make(chan error, 1)
		go func() {
			_, err := s.Write(back)
			if err == nil {
				err = s.(*Conn).CloseWrite()
			}
			werr <- err
		}()
		atBob.drain(s)
		bobDone <- errors.Join(atBob.err, <-werr)
	}()

	c := dialT(t, nodes[alice], l.Addr())
	defer c.Close()
	first = c.Path()
	var atAlice counted
	aliceRead := make(chan struct{})
	go func() { atAlice.drain(c); close(aliceRead) }()
	writeErr := make(chan error, 1)
	go func() {
		_, err := c.Write(up)
		if err == nil {
			err = c.CloseWrite()
		}
		writeErr <- err
	}()
	require.Eventually(t, func() bool { return atBob.n.Load() >= int64(size/4) }, 60*time.Second, time.Millisecond)
	start := time.Now()
	mid(c)

	require.NoError(t, <-writeErr)
	require.NoError(t, <-bobDone)
	<-aliceRead
	require.NoError(t, atAlice.err)
	require.Equal(t, sha256.Sum256(up), atBob.sum, "alice -> bob")
	require.Equal(t, sha256.Sum256(back), atAlice.sum, "bob -> alice")
	st := nodes[alice].Stats()
	require.GreaterOrEqual(t, st.Failovers, int64(1))
	last = c.Path()
	t.Logf("path %v -> %v; finished %v after the failure; failover took %v",
		names(nodes, first), names(nodes, last), time.Since(start).Round(time.Millisecond),
		(st.FailoverTime / time.Duration(st.Failovers)).Round(time.Microsecond))
	return first, last
}

func names(nodes []*Node, path []Addr) []int {
	var out []int
	for _, a := range path {
		for i, n := range nodes {
			if n.Identity() == a {
				out = append(out, i)
			}
		}
	}
	return out
}

func indexOf(nodes []*Node, a Addr) int {
	for i, n := range nodes {
		if n.Identity() == a {
			return i
		}
	}
	return -1
}

func TestTransferSurvivesTheRelayOnItsPathClosing(t *testing.T) {
	nodes := startNet(t, simnet.New(6, twoPaths, simnet.Options{}), logOnFailure(t))
	first, last := transfer(t, nodes, 64<<20, func(c *Conn) {
		relay := indexOf(nodes, c.Path()[0])
		require.NoError(t, nodes[relay].Close())
	})
	require.NotEqual(t, first, last, "the connection moved")
}

func TestTransferSurvivesALinkOnItsPathBeingCut(t *testing.T) {
	nodes := startNet(t, simnet.New(6, twoPaths, simnet.Options{}), logOnFailure(t))
	first, last := transfer(t, nodes, 64<<20, func(c *Conn) {
		p := c.Path()
		require.NoError(t, nodes[indexOf(nodes, p[0])].Disconnect(p[1]))
	})
	require.NotEqual(t, first, last, "the connection moved")
}

// A direct connection relies on its peer link's encryption (see
// Config.EncryptDirect). When that link is cut the connection resumes on
// another path, sealed again, and loses nothing.
func TestADirectTransferSurvivesItsLinkBeingCut(t *testing.T) {
	nodes := startNet(t, simnet.New(6, simnet.Custom(append([][2]int{{alice, bob}}, twoPathEdges...)), simnet.Options{}), logOnFailure(t))
	first, _ := transfer(t, nodes, 64<<20, func(c *Conn) {
		require.Empty(t, c.Path(), "direct")
		require.NoError(t, nodes[alice].Disconnect(nodes[bob].Identity()))
	})
	require.Empty(t, first)
	require.EqualValues(t, 1, nodes[alice].Stats().DirectPaths, "only the first path switched")
	require.EqualValues(t, 1, nodes[bob].Stats().DirectPaths)
}

func TestWhenEveryPathIsGoneTheConnectionFailsInBoundedTime(t *testing.T) {
	const failover = 2 * time.Second
	nodes := startNet(t, simnet.New(6, twoPaths, simnet.Options{}), func(_ int, c *Config) {
		c.FailoverTimeout = failover
	})
	l := echoListener(t, nodes[bob])
	c := dialT(t, nodes[alice], l.Addr())
	defer c.Close()
	roundTrip := func() error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 4))
		return err
	}
	require.NoError(t, roundTrip())
	require.NoError(t, nodes[1].Close()) // r1 and r3: no path is left
	require.NoError(t, nodes[3].Close())
	start := time.Now()
	err := roundTrip()
	for err == nil { // a write can still be buffered; the read fails
		err = roundTrip()
	}
	require.ErrorIs(t, err, route.ErrPathBroken)
	require.Less(t, time.Since(start), failover+3*time.Second, "failed in bounded time: %v", err)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

func TestARestartedRelayLeaksNothingOnItsNeighbours(t *testing.T) {
	sn := simnet.New(6, twoPaths, simnet.Options{})
	logs := logOnFailure(t)
	nodes := startNet(t, sn, logs)
	l := echoListener(t, nodes[bob])

	// Eight connections stream through the network while r1 dies and
	// comes back with the same identity and address.
	const conns = 8
	var wg sync.WaitGroup
	var moved atomic.Int64
	stop := make(chan struct{})
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := nodes[alice].Dial(l.Addr().String())
			if !assertNoError(t, err) {
				return
			}
			defer c.Close()
			first := c.(*Conn).Path()
			buf := make([]byte, 32<<10)
			back := make([]byte, len(buf))
			for {
				select {
				case <-stop:
					if indexOf(nodes, c.(*Conn).Path()[0]) != indexOf(nodes, first[0]) {
						moved.Add(1)
					}
					return
				default:
				}
				if _, err := c.Write(buf); !assertNoError(t, err) {
					return
				}
				if _, err := io.ReadFull(c, back); !assertNoError(t, err) {
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, nodes[1].Close())
	time.Sleep(300 * time.Millisecond)
	nodes[1] = newTestNode(t, netConfig(sn, 1, logs))
	require.Eventually(t, func() bool { return len(nodes[1].Peers()) == 2 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d of %d connections moved off r1", moved.Load(), conns)

	// Every connection closed: no circuit stays open anywhere.
	require.Eventually(t, func() bool {
		for _, n := range nodes {
			if n.Stats().CircuitsActive != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	// Goroutines are checked by TestMain's goleak once every node closed.
}

// assertNoError reports an error from a helper goroutine without stopping
// the test from there.
func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestSecondConnectUsesWhatTheFirstTaught(t *testing.T) {
	sn := simnet.New(60, simnet.Random(4), simnet.Options{Seed: 3})
	nodes := startNet(t, sn)
	target := sn.Farthest(0)
	l := echoListener(t, nodes[target])
	total := func() int64 {
		var n int64
		for _, nd := range nodes {
			n += nd.router.Stats().ControlMessages()
		}
		return n
	}
	connect := func() int64 {
		before := total()
		c := dialT(t, nodes[0], l.Addr())
		c.Close()
		// Let the other answers and copies settle before counting.
		time.Sleep(200 * time.Millisecond)
		return total() - before
	}
	first, second := connect(), connect()
	t.Logf("60-node random network, %d hops: first connect %d control messages, second %d (%.1f%%)",
		sn.Distance(0, target), first, second, 100*float64(second)/float64(first))
	require.Less(t, second*5, first, "the second connect costs under a fifth of the first")
	require.NotEmpty(t, nodes[0].Routes())
	require.Equal(t, l.Addr(), nodes[0].Routes()[0].Target)
}

func TestStatsShowWhatEachPeerDid(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	l := echoListener(t, nodes[2])
	c := dialT(t, nodes[0], l.Addr())
	payload := make([]byte, 1<<20)
	go c.Write(payload)
	_, err := io.ReadFull(c, make([]byte, len(payload)))
	require.NoError(t, err)
	c.Close()
	relay := nodes[1].Stats()
	require.Len(t, relay.Peers, 2)
	for _, p := range relay.Peers {
		require.Greater(t, p.RTT, time.Duration(0))
		require.GreaterOrEqual(t, p.BytesRelayed, int64(2<<20), "both directions through each neighbour")
	}
	require.Eventually(t, func() bool {
		for _, p := range nodes[1].Stats().Peers {
			if p.CircuitsOK != 1 {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "the circuit ended well on both sides")
	dialler := nodes[0].Stats().Peers[0]
	require.EqualValues(t, 1, dialler.RequestsSent)
	require.EqualValues(t, 1, dialler.AcksBack)
	require.GreaterOrEqual(t, relay.RequestsForwarded, int64(1))
}
