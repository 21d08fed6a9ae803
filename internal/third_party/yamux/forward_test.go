package yamux

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

// takerConn hands over frame bodies in buffers of their own with room for
// a header in front, as peer/noise's Conn does, and remembers where each
// body lay.
type takerConn struct {
	net.Conn
	mu     sync.Mutex
	bodies map[uintptr]bool
}

func (c *takerConn) TakeBuffered(n int) ([]byte, *[]byte) {
	buf := bufpool.Get(headerSize + n)
	data := (*buf)[headerSize:]
	if _, err := io.ReadFull(c.Conn, data); err != nil {
		bufpool.Put(buf)
		return nil, nil
	}
	c.mu.Lock()
	c.bodies[uintptr(unsafe.Pointer(&data[0]))] = true
	c.mu.Unlock()
	return data, buf
}

// sentConn remembers where the bodies of the data frames written to it lay.
type sentConn struct {
	net.Conn
	mu     sync.Mutex
	bodies []uintptr
}

func (c *sentConn) note(b []byte) {
	if len(b) > headerSize && b[1] == typeData {
		c.mu.Lock()
		c.bodies = append(c.bodies, uintptr(unsafe.Pointer(&b[headerSize])))
		c.mu.Unlock()
	}
}

func (c *sentConn) Write(b []byte) (int, error) { c.note(b); return c.Conn.Write(b) }

func (c *sentConn) WriteBuffers(bufs [][]byte) (int, error) {
	for _, b := range bufs {
		c.note(b)
	}
	return c.Conn.Write(bytes.Join(bufs, nil))
}

func pair(t *testing.T, client, server net.Conn) (*Session, *Session) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.ReadBufSize = 0 // the conn itself is read, as peer/noise's is
	c, err := Client(client, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Server(server, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// A relay's ForwardTo moves a stream's bytes to another stream intact and
// in order, ends with io.EOF, and queues a frame that arrived in a buffer
// of its own in that very buffer (foxtrot patch).
func TestForwardToMovesFramesInTheirOwnBuffers(t *testing.T) {
	a1, r1 := net.Pipe()
	r2, b2 := net.Pipe()
	in := &takerConn{Conn: r1, bodies: map[uintptr]bool{}}
	out := &sentConn{Conn: r2}
	aSess, rIn := pair(t, a1, in)
	rOut, bSess := pair(t, out, b2)

	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>11)
	}
	src, err := aSess.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := src.Write(want)
		if err == nil {
			err = src.CloseWrite()
		}
		werr <- err
	}()

	up, err := rIn.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	down, err := rOut.OpenStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ferr := make(chan error, 1)
	go func() {
		for {
			if _, err := up.ForwardTo(down); err != nil {
				if err == io.EOF {
					err = down.CloseWrite()
				}
				ferr <- err
				return
			}
		}
	}()

	sink, err := bSess.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	sink.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(sink)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("forwarded %d bytes, changed or out of order (want %d)", len(got), len(want))
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if err := <-ferr; err != nil {
		t.Fatal(err)
	}

	in.mu.Lock()
	out.mu.Lock()
	defer in.mu.Unlock()
	defer out.mu.Unlock()
	inPlace := 0
	for _, p := range out.bodies {
		if in.bodies[p] {
			inPlace++
		}
	}
	if inPlace == 0 {
		t.Fatalf("none of %d forwarded frames went out in the buffer it came in (%d taken)", len(out.bodies), len(in.bodies))
	}
	t.Logf("%d of %d data frames forwarded in place", inPlace, len(out.bodies))
}
