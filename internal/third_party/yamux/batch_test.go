package yamux

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// batchConn is a conn that takes batches (as peer/noise's Conn does) and
// holds its first write until gate closes, so frames queue behind it.
type batchConn struct {
	net.Conn
	gate    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	batches []int // frames per WriteBuffers call
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.once.Do(func() { <-c.gate })
	return c.Conn.Write(p)
}

func (c *batchConn) WriteBuffers(bufs [][]byte) (int, error) {
	c.once.Do(func() { <-c.gate })
	c.mu.Lock()
	c.batches = append(c.batches, len(bufs))
	c.mu.Unlock()
	return c.Conn.Write(bytes.Join(bufs, nil))
}

// The send loop hands frames queued behind the one it took to a conn
// that takes batches in one call, in order and intact (foxtrot patch).
func TestSendLoopBatchesQueuedFrames(t *testing.T) {
	a, b := net.Pipe()
	bc := &batchConn{Conn: a, gate: make(chan struct{})}
	cfg := DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	client, err := Client(bc, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := Server(b, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	// The stream's SYN is the first frame: the send loop holds it (alone
	// or with what queued behind it at once) at the gate while the writes
	// below queue.
	var open sync.Once
	release := func() { open.Do(func() { close(bc.gate) }) }
	defer release()
	s, err := client.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 0, 8<<10)
	for i := range 8 {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 1<<10)
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		want = append(want, chunk...)
	}
	release()

	acc, err := server.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	acc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(acc, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the stream's bytes arrived changed or out of order")
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	most := 0
	for _, n := range bc.batches {
		most = max(most, n)
	}
	// Nine frames queued while one write was held: whatever the held
	// write took, the rest went out as a batch, or it was one itself.
	if most < 2 {
		t.Fatalf("batches %v: the queued frames went out one write each", bc.batches)
	}
}
