package foxtrot_test

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
	"github.com/foxtrotnet/foxtrot/route"
)

// Two disjoint two-relay paths between alice (0) and bob (5):
//
//	alice ── r1 ── r2 ── bob
//	  └───── r3 ── r4 ────┘
var twoPathEdges = [][2]int{{0, 1}, {1, 2}, {2, 5}, {0, 3}, {3, 4}, {4, 5}}

const alice, bob = 0, 5

// twoPaths starts the two-path network, plus any extra links, with logs
// printed if the test fails.
func twoPaths(t *testing.T, config func(i int, c *foxtrot.Config), extra ...[2]int) *foxtrottest.Net {
	return twoPathsOver(t, false, config, extra...)
}

// twoPathsOver is twoPaths over loopback UDP links (transport/quic) when
// udp is set, else over the in-memory network.
func twoPathsOver(t *testing.T, udp bool, config func(i int, c *foxtrot.Config), extra ...[2]int) *foxtrottest.Net {
	edges := append(slices.Clone(extra), twoPathEdges...)
	return foxtrottest.New(t, 6, foxtrottest.Custom(edges), foxtrottest.Options{Logs: true, Config: config, UDP: udp})
}

// carriers are the links a failover scenario runs over, with the size of
// its transfer (UDP links carry less per second, the more so under -race).
var carriers = []struct {
	name string
	udp  bool
	size int
}{{"mem", false, 64 << 20}, {"udp", true, 16 << 20}}

// waitOr waits for ch to close, failing the test if done delivers an
// error (or anything) first: the other side gave up.
func waitOr[T any](t *testing.T, ch <-chan struct{}, done <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case v := <-done:
		t.Fatalf("%s: the other side ended first: %v", what, v)
	}
}

// counted reads and hashes a stream. With pause set, it stops reading
// once it has read pauseAt bytes, closes pause.at and reads on only once
// pause.resume is closed: a writer can then be sure its reader is
// mid-stream, whatever the scheduler does.
type counted struct {
	n     int64
	sum   [32]byte
	err   error
	pause *pause
}

type pause struct {
	at         int64
	reached    chan struct{}
	resume     chan struct{}
	resumeOnce sync.Once
}

func newPause(at int64) *pause {
	return &pause{at: at, reached: make(chan struct{}), resume: make(chan struct{})}
}

func (p *pause) release() { p.resumeOnce.Do(func() { close(p.resume) }) }

func (c *counted) drain(r io.Reader) {
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for {
		b := buf
		if p := c.pause; p != nil && c.n < p.at && c.n+int64(len(b)) > p.at {
			b = b[:p.at-c.n]
		}
		n, err := r.Read(b)
		h.Write(b[:n])
		c.n += int64(n)
		if p := c.pause; p != nil && n > 0 && c.n == p.at {
			close(p.reached)
			<-p.resume
		}
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
// the same time. dialled, if set, runs once the connection is up, before
// any byte is written. Bob stops reading after a quarter of alice's bytes;
// breakPath runs then, so it always strikes mid-transfer with most of the
// bytes still to cross, and bob reads on once it returns. transfer checks
// both hashes and that the connection failed over, and returns the
// connection's relays (as node indices) before and after.
func transfer(t *testing.T, fn *foxtrottest.Net, size int, dialled, breakPath func(c *foxtrot.Conn)) (first, last []int) {
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[bob].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	return transferTo(t, fn, l, size, dialled, breakPath)
}

// transferTo is transfer to a listener of bob's made by the caller.
func transferTo(t *testing.T, fn *foxtrottest.Net, l net.Listener, size int, dialled, breakPath func(c *foxtrot.Conn)) (first, last []int) {
	up, back := make([]byte, size), make([]byte, size/4)
	rand.Read(up)
	rand.Read(back)

	atBob := counted{pause: newPause(int64(size / 4))}
	defer atBob.pause.release() // on a failure before the resume
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
				err = s.(*foxtrot.Conn).CloseWrite()
			}
			werr <- err
		}()
		atBob.drain(s)
		bobDone <- errors.Join(atBob.err, <-werr)
	}()

	c := foxtrottest.Dial(t, fn.Nodes[alice], l.Addr())
	defer c.Close()
	first = fn.Indices(c.Path())
	if dialled != nil {
		dialled(c)
	}
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
	waitOr(t, atBob.pause.reached, bobDone, "bob reading a quarter")
	start := time.Now()
	breakPath(c)
	atBob.pause.release()

	require.NoError(t, <-writeErr)
	require.NoError(t, <-bobDone)
	<-aliceRead
	require.NoError(t, atAlice.err)
	require.Equal(t, sha256.Sum256(up), atBob.sum, "alice -> bob")
	require.Equal(t, sha256.Sum256(back), atAlice.sum, "bob -> alice")
	st := fn.Nodes[alice].Stats()
	require.GreaterOrEqual(t, st.Failovers, int64(1), "three quarters crossed after the break")
	last = fn.Indices(c.Path())
	t.Logf("path %v -> %v; finished %v after the failure; failover took %v",
		first, last, time.Since(start).Round(time.Millisecond),
		(st.FailoverTime / time.Duration(st.Failovers)).Round(time.Microsecond))
	return first, last
}

// crosses reports whether the path from alice through relays to bob uses
// the link a-b.
func crosses(relays []int, a, b int) bool {
	walk := append(append([]int{alice}, relays...), bob)
	for i := 1; i < len(walk); i++ {
		if walk[i-1] == a && walk[i] == b || walk[i-1] == b && walk[i] == a {
			return true
		}
	}
	return false
}

// The relay-closing and link-cutting tests compare the path after the
// break with the path the break struck (not the one dialled: under load a
// connection may already have moved once, its path silent too long).

func TestTransferSurvivesTheRelayOnItsPathClosing(t *testing.T) {
	fn := twoPaths(t, nil)
	var struck []int
	_, last := transfer(t, fn, 64<<20, nil, func(c *foxtrot.Conn) {
		struck = fn.Indices(c.Path())
		fn.CloseNode(struck[0])
	})
	require.NotEqual(t, struck, last, "the connection moved")
	require.NotContains(t, last, struck[0], "off the closed relay")
}

func TestTransferSurvivesALinkOnItsPathBeingCut(t *testing.T) {
	for _, carrier := range carriers {
		t.Run(carrier.name, func(t *testing.T) {
			fn := twoPathsOver(t, carrier.udp, nil)
			var struck []int
			_, last := transfer(t, fn, carrier.size, nil, func(c *foxtrot.Conn) {
				struck = fn.Indices(c.Path())
				fn.Cut(struck[0], struck[1]) // and it stays cut: no redial can bring it back
			})
			require.NotEqual(t, struck, last, "the connection moved")
			require.False(t, crosses(last, struck[0], struck[1]), "the path %v avoids the cut link %v", last, struck[:2])
		})
	}
}

func TestTransferSurvivesTheRelayOnItsPathClosingOverUDP(t *testing.T) {
	fn := twoPathsOver(t, true, nil)
	var struck []int
	_, last := transfer(t, fn, 16<<20, nil, func(c *foxtrot.Conn) {
		struck = fn.Indices(c.Path())
		fn.CloseNode(struck[0])
	})
	require.NotEqual(t, struck, last, "the connection moved")
	require.NotContains(t, last, struck[0], "off the closed relay")
}

// A direct connection relies on its peer link's encryption (see
// Config.EncryptDirect). When that link is cut the connection resumes on
// another path, sealed again, and loses nothing.
func TestADirectTransferSurvivesItsLinkBeingCut(t *testing.T) {
	// A path is only given up for silence after a minute: the only
	// failover is the one the cut causes, however loaded the machine. A
	// cut direct link looks to bob as a dialler whose process exited
	// (GoneTimeout): bob waits a minute too, since a failover on a loaded
	// machine under -race can take longer than the default 3 s.
	fn := twoPaths(t, func(_ int, c *foxtrot.Config) {
		c.StallTimeout = time.Minute
		c.GoneTimeout = time.Minute
	}, [2]int{alice, bob})
	// Until the direct link is cut it is alice's only one: the dial is
	// answered over it, whichever answer would have come first.
	fn.Cut(alice, 1)
	fn.Cut(alice, 3)
	first, last := transfer(t, fn, 64<<20, nil, func(c *foxtrot.Conn) {
		require.Empty(t, c.Path(), "direct")
		require.Eventually(t, func() bool {
			return fn.Nodes[alice].Stats().DirectPaths == 1 && fn.Nodes[bob].Stats().DirectPaths == 1
		}, 10*time.Second, time.Millisecond, "both ends rely on the link's encryption")
		fn.Heal(alice, 1)
		fn.Heal(alice, 3)
		fn.Cut(alice, bob)
	})
	require.Empty(t, first)
	require.Len(t, last, 2, "through two relays now")
	require.EqualValues(t, 1, fn.Nodes[alice].Stats().DirectPaths, "only the first path switched")
	require.EqualValues(t, 1, fn.Nodes[bob].Stats().DirectPaths)
	require.EqualValues(t, 1, fn.Nodes[alice].Stats().Failovers, "the cut's")
}

func TestWhenEveryPathIsGoneTheConnectionFailsInBoundedTime(t *testing.T) {
	const failover = 2 * time.Second
	fn := twoPaths(t, func(_ int, c *foxtrot.Config) { c.FailoverTimeout = failover })
	l := foxtrottest.Echo(t, fn.Nodes[bob])
	c := foxtrottest.Dial(t, fn.Nodes[alice], l.Addr())
	defer c.Close()
	roundTrip := func() error {
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		_, err := io.ReadFull(c, make([]byte, 4))
		return err
	}
	require.NoError(t, roundTrip())
	require.NoError(t, fn.Nodes[1].Close()) // r1 and r3: no path is left
	require.NoError(t, fn.Nodes[3].Close())
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
	const r1 = 1
	fn := twoPaths(t, nil)
	l := foxtrottest.Echo(t, fn.Nodes[bob])

	// Eight connections stream through the network while r1 dies and
	// comes back with the same identity and address. Each reports once it
	// has completed a round trip begun in each phase: all connected, r1
	// closed, r1 back.
	const conns, phases = 8, 3
	var phase [phases]chan error
	for i := range phase {
		phase[i] = make(chan error, conns)
	}
	type report struct{ first, afterClose []int }
	reports := make(chan report, conns)
	var now atomic.Int32 // the phase: a round trip begun in it counts for it
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reported := -1
			fail := func(err error) {
				for p := reported + 1; p < phases; p++ {
					phase[p] <- err
				}
			}
			c, err := fn.Node(alice).Dial(l.Addr().String())
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			var rep report
			buf := make([]byte, 32<<10)
			back := make([]byte, len(buf))
			for {
				select {
				case <-stop:
					reports <- rep
					return
				default:
				}
				started := int(now.Load())
				c.SetDeadline(time.Now().Add(time.Minute)) // a hang fails, it does not block the test
				if _, err := c.Write(buf); err != nil {
					fail(err)
					return
				}
				if _, err := io.ReadFull(c, back); err != nil {
					fail(err)
					return
				}
				for ; reported < started; reported++ {
					switch reported + 1 {
					case 0:
						rep.first = fn.Indices(c.(*foxtrot.Conn).Path())
					case 1:
						rep.afterClose = fn.Indices(c.(*foxtrot.Conn).Path())
					}
					phase[reported+1] <- nil
				}
			}
		}()
	}
	next := func(p int, change func()) {
		for i := 0; i < conns; i++ {
			require.NoError(t, <-phase[p], "phase %d", p)
		}
		change() // while the connections stream
		now.Store(int32(p + 1))
	}
	next(0, func() { fn.CloseNode(r1) })
	next(1, func() { fn.Restart(r1) })
	for i := 0; i < conns; i++ {
		require.NoError(t, <-phase[2], "phase 2")
	}
	close(stop)
	wg.Wait()
	close(reports)

	var onR1, moved int
	for rep := range reports {
		require.NotContains(t, rep.afterClose, r1, "a round trip after r1 closed went around it")
		if slices.Contains(rep.first, r1) {
			onR1++
		}
		if rep.first[0] != rep.afterClose[0] {
			moved++
		}
	}
	require.GreaterOrEqual(t, fn.Nodes[alice].Stats().Failovers, int64(onR1), "every connection through r1 moved")
	t.Logf("%d of %d connections moved off r1", moved, conns)

	// Every connection closed: no circuit stays open anywhere.
	require.Eventually(t, func() bool {
		for _, n := range fn.Nodes {
			if n.Stats().CircuitsActive != 0 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	// foxtrottest checks that no goroutine outlives the test.
}

func TestStatsShowWhatEachPeerDid(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{})
	l := foxtrottest.Echo(t, fn.Nodes[2])
	c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
	payload := make([]byte, 1<<20)
	go c.Write(payload)
	_, err := io.ReadFull(c, make([]byte, len(payload)))
	require.NoError(t, err)
	c.Close()
	// A relay counts what it spliced just after passing it on: the last
	// chunk can reach the dialler before the relay has counted it.
	var relay foxtrot.Stats
	require.Eventually(t, func() bool {
		relay = fn.Nodes[1].Stats()
		if len(relay.Peers) != 2 {
			return false
		}
		for _, p := range relay.Peers {
			if p.BytesRelayed < 2<<20 {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond, "both directions through each neighbour")
	require.Len(t, relay.Peers, 2)
	for _, p := range relay.Peers {
		require.Greater(t, p.RTT, time.Duration(0))
		require.GreaterOrEqual(t, p.BytesRelayed, int64(2<<20), "both directions through each neighbour")
	}
	require.Eventually(t, func() bool {
		for _, p := range fn.Nodes[1].Stats().Peers {
			if p.CircuitsOK != 1 {
				return false
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "the circuit ended well on both sides")
	dialler := fn.Nodes[0].Stats().Peers[0]
	require.EqualValues(t, 1, dialler.RequestsSent)
	require.EqualValues(t, 1, dialler.AcksBack)
	require.GreaterOrEqual(t, relay.RequestsForwarded, int64(1))
}
