package obfs_test

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
)

// queued is more datagrams than ReadFrom reads from the inner conn at a
// time (32), so that a test of the queue crosses batches.
const queued = 100

// burst sends b count datagrams "datagram i" from a in one WriteBatch
// (one sendmmsg), so that they wait in b's socket before b reads.
func burst(t *testing.T, a, b net.PacketConn, count int) {
	t.Helper()
	out := make([]transport.Datagram, count)
	for i := range out {
		out[i] = transport.Datagram{Buf: fmt.Appendf(nil, "datagram %d", i), Addr: b.LocalAddr()}
	}
	n, err := transport.WriteBatch(a, out)
	require.NoError(t, err)
	require.Equal(t, count, n)
}

// readUntil reads b with ReadFrom until it reads last, and returns what
// it read before.
func readUntil(t *testing.T, b net.PacketConn, last string) []string {
	t.Helper()
	var got []string
	for {
		s, _ := read(t, b)
		if s == last {
			return got
		}
		got = append(got, s)
	}
}

func want(count int) []string {
	var w []string
	for i := range count {
		w = append(w, fmt.Sprintf("datagram %d", i))
	}
	return w
}

func TestReadFromHandsOutBatchesInOrderLosingNone(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	burst(t, a, b, queued)
	_, err := a.WriteTo([]byte("end"), b.LocalAddr())
	require.NoError(t, err)
	require.Equal(t, want(queued), readUntil(t, b, "end"))
	require.Equal(t, uint64(queued+1), b.Stats().Received)
}

// Replays that arrive in the same batch as their originals (and after)
// are still dropped: every datagram is opened and checked against the
// replay window as it is handed out.
func TestReplaysInABatchAreDropped(t *testing.T) {
	rec := &recorder{PacketConn: listen(t)} // hides the udp conn's batches: WriteTo each
	a := wrap(t, rec, obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	burst(t, a, b, queued)
	rec.mu.Lock()
	sent := rec.sent
	rec.mu.Unlock()
	require.Len(t, sent, queued)
	replayer := listen(t)
	for _, d := range sent { // all of them again, then the first few once more
		_, err := replayer.WriteTo(d, b.LocalAddr())
		require.NoError(t, err)
	}
	for _, d := range sent[:10] {
		_, err := replayer.WriteTo(d, b.LocalAddr())
		require.NoError(t, err)
	}
	_, err := a.WriteTo([]byte("end"), b.LocalAddr())
	require.NoError(t, err)
	require.Equal(t, want(queued), readUntil(t, b, "end"))
	require.Equal(t, uint64(queued+10), b.Stats().Replayed)
	require.Equal(t, uint64(queued+1), b.Stats().Received)
}

// What ReadFrom has queued, ReadBatch hands out first, in order.
func TestReadBatchTakesWhatReadFromQueued(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	burst(t, a, b, queued)
	_, err := a.WriteTo([]byte("end"), b.LocalAddr())
	require.NoError(t, err)
	first, _ := read(t, b)
	got := []string{first}
	in := make([]transport.Datagram, 7)
	for i := range in {
		in[i].Buf = make([]byte, 64)
	}
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	for got[len(got)-1] != "end" {
		n, err := b.ReadBatch(in)
		require.NoError(t, err)
		for _, d := range in[:n] {
			got = append(got, string(d.Buf[:d.N]))
		}
	}
	require.Equal(t, append(want(queued), "end"), got)
}

// ReadFrom reads batches with room for a payload as long as its buffer:
// a longer datagram cannot authenticate once truncated, and is dropped
// (as ReadBatch drops one too long for its buffer), not delivered cut.
func TestADatagramLongerThanTheReadBufferIsDropped(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	_, err := a.WriteTo(bytes.Repeat([]byte{'x'}, 3000), b.LocalAddr())
	require.NoError(t, err)
	_, err = a.WriteTo([]byte("short"), b.LocalAddr())
	require.NoError(t, err)
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 100)
	n, _, err := b.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "short", string(buf[:n]))
	require.Equal(t, uint64(1), b.Stats().Unauthenticated)

	// With room for it, it comes whole.
	long := bytes.Repeat([]byte{'y'}, 3000)
	_, err = a.WriteTo(long, b.LocalAddr())
	require.NoError(t, err)
	buf = make([]byte, 4000)
	n, _, err = b.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, long, buf[:n])
}

func TestCloseUnblocksAReaderWithDatagramsQueued(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	burst(t, a, b, 5)
	s, _ := read(t, b) // the others may be queued now
	require.Equal(t, "datagram 0", s)
	require.NoError(t, b.Close())
	_, _, err := b.ReadFrom(make([]byte, 64))
	require.ErrorIs(t, err, net.ErrClosed)
	_, err = b.ReadBatch([]transport.Datagram{{Buf: make([]byte, 64)}})
	require.ErrorIs(t, err, net.ErrClosed)

	// And a reader blocked on an empty queue.
	c := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	done := make(chan error)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 64))
		done <- err
	}()
	require.NoError(t, c.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
}

// Readers take turns at the queue: two of them, together, get every
// datagram exactly once.
func TestConcurrentReadersShareTheQueue(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	got := make(chan string, queued)
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 64)
			for {
				n, _, err := b.ReadFrom(buf)
				if err != nil {
					errs <- err
					return
				}
				got <- string(buf[:n])
			}
		}()
	}
	burst(t, a, b, queued)
	seen := map[string]int{}
	for range queued {
		seen[<-got]++
	}
	require.NoError(t, b.Close())
	wg.Wait()
	require.ErrorIs(t, <-errs, net.ErrClosed)
	require.ErrorIs(t, <-errs, net.ErrClosed)
	require.Empty(t, got, "more datagrams than were sent")
	for _, w := range want(queued) {
		require.Equal(t, 1, seen[w], w)
	}
}
