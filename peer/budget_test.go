package peer

import (
	"context"
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// go test -memprofile is written after the test has closed its links, so
// it shows nothing of them; this one is taken while they are up and idle.
var idleHeapProfile = flag.String("idleheapprofile", "",
	"TestIdleLinkBudget writes a heap profile, taken while its links are up and idle, to this file "+
		"(add -test.memprofilerate=1 to see every allocation)")

// Budget of one idle link end: what a node pays per peer it is linked to
// and not talking to. The project aim is 24 KiB and 4 goroutines; the
// bounds below are what the code measures (see TestIdleLinkBudget's log)
// with modest headroom, so that a new per-link buffer or goroutine fails
// here rather than in production.
const (
	idleEndMaxHeap       = 16 << 10 // measured 12.8 KiB (go1.26, yamux v0.1.2, AcceptBacklog 64)
	idleEndMaxStack      = 16 << 10 // measured 12.1 KiB: yamux's loops 4 KiB each, ours 2 KiB each
	idleEndMaxGoroutines = 4        // yamux recv and send, control reader, stream acceptor
)

type budgetSnapshot struct {
	heapAlloc, heapInuse, stackInuse uint64
	goroutines                       int
}

func takeBudgetSnapshot() budgetSnapshot {
	// Twice: the first GC moves sync.Pool contents to the victim cache,
	// the second frees them, so pooled buffers do not count as live.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return budgetSnapshot{ms.HeapAlloc, ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()}
}

// TestIdleLinkBudget measures the heap, stack and goroutines of idle links.
//
// Shape: one hub Set listens on the mem transport and n client Sets each
// dial it once, so there are n links and 2n link ends (n on the hub, one
// per client), all in this process. Every Set is created before the
// baseline is taken, so the per-link figures exclude the Sets themselves
// (reported separately) and include everything a link adds on both ends:
// SecureConn and its ciphers, the yamux session and control stream, the
// Link, the hub's map entry, the mem pipe, and the goroutine stacks. The
// figures are reported per link and per end; a node pays per end.
//
// Where an idle end's 14.5 KiB of heap went on hashicorp/yamux (go1.26.8,
// yamux v0.1.2, -idlemuxer hashicorp -idleheapprofile with
// -test.memprofilerate=1): yamux's 4 KiB bufio.Reader; its Session, 2.6 KiB, of which the accept channel sized by
// AcceptBacklog (128) is 1.1 KiB; the runtime's descriptors of the four
// goroutines, 1.9 KiB; the control stream's receive buffer, kept after
// the first ping, 1 KiB, and its yamux.Stream, 0.8 KiB; the sudogs of the
// parked selects, ~0.7 KiB; our Link, SecureConn and Ciphers, ~1 KiB; the
// mem pipe, ~0.6 KiB. The stacks: yamux's recv and send loops 4 KiB each
// (they grew while running the crypto and park too deep to be shrunk),
// the control reader and the acceptor 2 KiB each.
//
// n is 1,000, or 200 under the race detector (which makes handshakes many
// times slower and memory figures meaningless; its run checks the setup,
// teardown and leaks, not the budget).
func TestIdleLinkBudget(t *testing.T) {
	defer goleak.VerifyNone(t)
	n := 1000
	if raceEnabled {
		n = 200
	}
	tr := mem.NewNetwork(mem.Options{}).Transport()
	newSet := func() *Set {
		s, err := NewSet(Config{
			Identity:   newKey(t),
			Transports: transport.Set{tr},
			// No keepalive ping while the test runs: the links stay idle.
			PingInterval: time.Hour,
			NewMuxer:     testMuxer(),
		})
		require.NoError(t, err)
		return s
	}
	var closeOnce sync.Once
	var hub *Set
	clients := make([]*Set, n)
	closeAll := func() {
		closeOnce.Do(func() {
			for _, c := range clients {
				if c != nil {
					c.Close()
				}
			}
			if hub != nil {
				hub.Close()
			}
		})
	}
	defer closeAll()

	base := takeBudgetSnapshot()
	hub = newSet()
	addr := listen(t, hub, "/mem/0")
	for i := range clients {
		clients[i] = newSet()
	}
	links := make([]*Link, n)
	errs := make([]error, n)
	withSets := takeBudgetSnapshot()

	// Dial from a few workers: fast, and well under the hub's
	// MaxHandshakes.
	start := time.Now()
	var wg sync.WaitGroup
	const workers = 4
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				links[i], errs[i] = clients[i].Connect(ctx, addr)
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	setup := time.Since(start)

	// Idle means: every link registered on both ends, every dialler's
	// first ping answered, and the control writers that sent the ping and
	// its pong gone (the goroutine count stops moving).
	require.Eventually(t, func() bool {
		if len(hub.Links()) != n {
			return false
		}
		for _, l := range links {
			if l.RTT() == 0 {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "links did not all come up")
	last, stable := -1, 0
	require.Eventually(t, func() bool {
		g := runtime.NumGoroutine()
		if g == last {
			stable++
		} else {
			last, stable = g, 0
		}
		return stable >= 3
	}, 10*time.Second, 20*time.Millisecond, "goroutines did not settle")

	idle := takeBudgetSnapshot()
	if *idleHeapProfile != "" {
		f, err := os.Create(*idleHeapProfile)
		require.NoError(t, err)
		require.NoError(t, pprof.Lookup("heap").WriteTo(f, 0))
		require.NoError(t, f.Close())
	}

	perSet := float64(int64(withSets.heapAlloc)-int64(base.heapAlloc)) / float64(n+1)
	heap := float64(int64(idle.heapAlloc) - int64(withSets.heapAlloc))
	heapInuse := float64(int64(idle.heapInuse) - int64(withSets.heapInuse))
	stack := float64(int64(idle.stackInuse) - int64(withSets.stackInuse))
	gs := float64(idle.goroutines - withSets.goroutines)
	nf := float64(n)
	t.Logf("%d idle links over mem (hub + %d client Sets), set up in %v (%v per link)",
		n, n, setup.Round(time.Millisecond), (setup / time.Duration(n)).Round(time.Microsecond))
	t.Logf("per link (both ends): heap %.1f KiB (HeapInuse %.1f KiB), stack %.1f KiB, %.2f goroutines",
		heap/nf/1024, heapInuse/nf/1024, stack/nf/1024, gs/nf)
	t.Logf("per link end:         heap %.1f KiB (HeapInuse %.1f KiB), stack %.1f KiB, %.2f goroutines",
		heap/nf/2048, heapInuse/nf/2048, stack/nf/2048, gs/nf/2)
	t.Logf("per Set (not counted above): heap %.1f KiB", perSet/1024)

	if raceEnabled {
		t.Log("race detector on: budget not asserted")
	} else {
		require.LessOrEqual(t, heap/nf/2, float64(idleEndMaxHeap), "heap per idle link end")
		require.LessOrEqual(t, stack/nf/2, float64(idleEndMaxStack), "stack per idle link end")
		// A few stray goroutines of the runtime or the test are tolerated;
		// one more per link is not.
		require.LessOrEqual(t, gs/nf/2, idleEndMaxGoroutines+0.05, "goroutines per idle link end")
	}

	closeAll()
	require.Eventually(t, func() bool { return len(hub.Links()) == 0 }, 10*time.Second, 5*time.Millisecond)
}

// idleMuxer is -idlemuxer: TestIdleLinkBudget's links on hashicorp/yamux
// (peer.Yamux) instead of the default GoYamux, to compare the two.
var idleMuxer = flag.String("idlemuxer", "", "TestIdleLinkBudget: \"hashicorp\" runs the links on peer.Yamux")

func testMuxer() NewMuxerFunc {
	if *idleMuxer == "hashicorp" {
		return Yamux
	}
	return GoYamux
}
