package foxtrot_test

import (
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
	"github.com/foxtrotnet/foxtrot/peer"
)

// A relay's link streams grow their windows with credit from the relay's
// own MemoryBudget: carrying fast connections whose readers then stop,
// the relay's windows grow until its budget is spent and no further, the
// heap of the whole path stays within every node's base windows plus its
// budget, and the credit comes back when the connections end.
func TestARelaysStreamWindowsGrowOnlyWithItsBudget(t *testing.T) {
	foxtrottest.VerifyNoLeaks(t)
	const (
		conns       = 4
		relayBudget = 1 << 20
		endBudget   = 32 << 20
		buffer      = 2 << 20 // SendBuffer and RecvBuffer (the defaults)
		fast        = 16 << 20
	)
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{
		Latency: 10 * time.Millisecond, // 20 ms round trip per link: 256 KiB windows are too small
		Config: func(i int, c *foxtrot.Config) {
			c.MemoryBudget = endBudget
			if i == 1 {
				c.MemoryBudget = relayBudget
			}
		},
	})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[2].Listen(key)
	require.NoError(t, err)
	defer l.Close()

	base := heapAlloc()
	var (
		wg      sync.WaitGroup
		written atomic.Int64
		closers []io.Closer
	)
	for range conns {
		c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
		require.Len(t, c.Path(), 1, "through the relay")
		s, err := l.Accept()
		require.NoError(t, err)
		closers = append(closers, c, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			chunk := make([]byte, 64<<10)
			for {
				n, err := c.Write(chunk)
				written.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		// A fast reader first, so the windows grow; then it stops.
		_, err = io.CopyN(io.Discard, s, fast)
		require.NoError(t, err)
	}
	defer func() {
		for _, c := range closers {
			c.Close()
		}
		wg.Wait()
	}()

	// Every path fills up: the writers block for good.
	var last int64 = -1
	require.Eventually(t, func() bool {
		cur := written.Load()
		full := cur == last
		last = cur
		return full
	}, 20*time.Second, 100*time.Millisecond, "the writers never stopped")
	held := int64(heapAlloc()) - int64(base)
	credit := fn.Nodes[1].Stats().WindowCredit
	t.Logf("%d connections stopped after %d MiB: %d MiB written, heap grew by %.1f MiB; relay credit %.2f MiB of %.2f",
		conns, fast>>20, written.Load()>>20, float64(held)/(1<<20), float64(credit)/(1<<20), float64(relayBudget)/(1<<20))
	// With 1 MiB initial windows (peer.InitialStreamWindow) the relay's
	// windows need not grow on loopback; when they do, it is on credit.
	require.LessOrEqual(t, credit, int64(relayBudget), "the relay's windows grew within its budget")
	// The senders' queues and the readers' windows, each at most its base
	// buffer plus its node's budget (the listener's link streams draw on
	// the same budget); the relay's streams, an initial window each way
	// and two splice buffers per circuit, plus its budget; 8 MiB for
	// everything else the test touches.
	bound := int64(2*conns*buffer+2*endBudget) +
		int64(conns)*(2*peer.InitialStreamWindow+2*64<<10) + relayBudget + 8<<20
	require.Less(t, held, bound, "bytes held along the paths")

	for _, c := range closers {
		c.Close()
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		return fn.Nodes[1].Stats().WindowCredit == 0
	}, 20*time.Second, 10*time.Millisecond, "relay credit held after the connections ended")
}
