package foxtrot_test

import (
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// heapAlloc is the live heap after the garbage (pooled buffers included)
// is collected.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC() // a sync.Pool's buffers go on the second collection
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A reader that stops reading after its windows have grown stops the
// sender: the bytes held along its path, through two relays, stay within
// both ends' base buffers plus their memory budgets, however much the
// writer tries to write.
func TestASlowReadersPathIsBoundedByTheBudget(t *testing.T) {
	const (
		budget = 8 << 20
		buffer = 2 << 20 // SendBuffer and RecvBuffer (the defaults)
	)
	fn := foxtrottest.New(t, 4, foxtrottest.Line, foxtrottest.Options{
		Latency: 20 * time.Millisecond, // 120 ms round trip: the base window is too small
		Config: func(i int, c *foxtrot.Config) {
			c.MemoryBudget = budget
		},
	})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[3].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
	defer c.Close()
	require.Len(t, c.Path(), 2, "through two relays")
	s, err := l.Accept()
	require.NoError(t, err)
	defer s.Close()

	base := heapAlloc()

	// First a fast reader, so the windows grow; then it stops.
	const fast = 48 << 20
	var written atomic.Int64
	writeErr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for written.Load() < 1<<30 {
			n, err := c.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	_, err = io.CopyN(io.Discard, s, fast)
	require.NoError(t, err)

	// The path fills up: the writer blocks for good.
	var last int64 = -1
	require.Eventually(t, func() bool {
		cur := written.Load()
		full := cur == last
		last = cur
		return full
	}, 20*time.Second, 100*time.Millisecond, "the writer never stopped")
	foxtrottest.WaitBlocked(t, "session.(*Session).Write")
	held := int64(heapAlloc()) - int64(base)
	stuck := written.Load() - fast
	t.Logf("after the reader stopped: %d MiB written, heap grew by %.1f MiB", stuck>>20, float64(held)/(1<<20))
	for i, n := range fn.Nodes {
		t.Logf("node %d: window credit %.1f MiB", i, float64(n.Stats().WindowCredit)/(1<<20))
	}
	require.Less(t, written.Load(), int64(1<<30), "the writer is stopped, not done")
	// The sender's queue and the reader's window: each at most its base
	// buffer plus its node's budget; double that for what is in transit
	// between them, plus 8 MiB for everything else the test touches.
	bound := int64(2*(buffer+buffer+budget) + 8<<20)
	require.Less(t, held, bound, "bytes held along the path")
	require.Greater(t, stuck, int64(buffer), "the path did hold data past the base window")

	require.Positive(t, fn.Nodes[0].Stats().WindowCredit+fn.Nodes[3].Stats().WindowCredit, "the windows grew with credit")
	for _, n := range fn.Nodes {
		require.LessOrEqual(t, n.Stats().WindowCredit, int64(budget))
	}

	c.Close()
	s.Close()
	<-writeErr
	// Ended connections give their credit back.
	require.Eventually(t, func() bool {
		return fn.Nodes[0].Stats().WindowCredit == 0 && fn.Nodes[3].Stats().WindowCredit == 0
	}, 20*time.Second, 10*time.Millisecond, "credit held after the connection ended")
}
