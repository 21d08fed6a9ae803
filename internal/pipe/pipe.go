// Package pipe is a buffered, in-memory, full-duplex net.Conn.
//
// Unlike net.Pipe, a write does not wait for a matching read: each direction
// holds up to Options.Buffer bytes, so it behaves like a socket with kernel
// buffers. An optional one-way latency delays when written bytes become
// readable, which is how the mem transport simulates a network. Deadlines
// come from internal/deadline, so every conn passes nettest.TestConn.
package pipe

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/deadline"
	"github.com/foxtrotnet/foxtrot/internal/signal"
)

// Options shape a pipe. The zero value is a 256 KiB buffer each way with
// no latency.
type Options struct {
	// Buffer is the most bytes queued in one direction before Write blocks.
	// Default 256 KiB.
	Buffer int
	// Latency delays each write's bytes by this much before the other end
	// can read them. Default 0.
	Latency time.Duration
	// Addrs of the two ends; default Addr("pipe").
	A, B net.Addr
}

const defaultBuffer = 256 << 10

// Addr is a trivial net.Addr for pipes.
type Addr string

// Network returns "pipe".
func (Addr) Network() string { return "pipe" }

// String returns the address itself.
func (a Addr) String() string { return string(a) }

// errBroken is what a writer sees when the reading end has been closed, as
// a TCP writer sees ECONNRESET/EPIPE. It is io.ErrClosedPipe.
var errBroken = io.ErrClosedPipe

type chunk struct {
	b  []byte
	at time.Time // readable from this time on
}

// buffer is one direction: bytes written by one end and read by the other.
type buffer struct {
	mu      sync.Mutex
	q       []chunk
	n       int // bytes queued
	limit   int
	latency time.Duration
	eof     bool          // writer closed: reads drain, then io.EOF
	broken  bool          // reader gone: writes fail
	changed signal.Signal // any state change
}

var errStopped = errors.New("pipe: stopped")

// read blocks until bytes are readable, the writer closed (io.EOF), the
// deadline passed (deadline.ErrExceeded) or stop is closed (errStopped).
func (b *buffer) read(p []byte, dl *deadline.Deadline, stop <-chan struct{}) (int, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-stop:
			return 0, errStopped
		default:
		}
		if dl.Exceeded() {
			return 0, deadline.ErrExceeded
		}
		b.mu.Lock()
		var notBefore time.Duration
		if b.n > 0 {
			if wait := time.Until(b.q[0].at); b.latency == 0 || wait <= 0 {
				n := b.takeLocked(p)
				b.mu.Unlock()
				return n, nil
			} else {
				notBefore = wait
			}
		} else if b.eof {
			b.mu.Unlock()
			return 0, io.EOF
		}
		if len(p) == 0 {
			b.mu.Unlock()
			return 0, nil
		}
		wake := b.changed.Wait()
		b.mu.Unlock()

		var ready <-chan time.Time
		if notBefore > 0 {
			if timer == nil {
				timer = time.NewTimer(notBefore)
			} else {
				timer.Reset(notBefore)
			}
			ready = timer.C
		}
		select {
		case <-wake:
		case <-ready:
		case <-dl.Wait():
		case <-stop:
		}
	}
}

// takeLocked copies readable bytes into p, honouring latency per chunk.
func (b *buffer) takeLocked(p []byte) int {
	now := time.Time{}
	if b.latency > 0 {
		now = time.Now()
	}
	n := 0
	for n < len(p) && len(b.q) > 0 {
		c := &b.q[0]
		if b.latency > 0 && c.at.After(now) {
			break
		}
		m := copy(p[n:], c.b)
		n += m
		c.b = c.b[m:]
		if len(c.b) == 0 {
			b.q[0] = chunk{}
			b.q = b.q[1:]
		}
	}
	if len(b.q) == 0 {
		b.q = nil // release the backing array of an idle pipe
	}
	b.n -= n
	if n > 0 {
		b.changed.Notify()
	}
	return n
}

// write queues all of p, blocking while the buffer is full.
func (b *buffer) write(p []byte, dl *deadline.Deadline, stop <-chan struct{}) (int, error) {
	written := 0
	for {
		select {
		case <-stop:
			return written, errStopped
		default:
		}
		if dl.Exceeded() {
			return written, deadline.ErrExceeded
		}
		b.mu.Lock()
		if b.broken {
			b.mu.Unlock()
			return written, errBroken
		}
		if b.eof {
			b.mu.Unlock()
			return written, net.ErrClosed
		}
		if room := b.limit - b.n; room > 0 {
			m := min(room, len(p)-written)
			c := chunk{b: append([]byte(nil), p[written:written+m]...)}
			if b.latency > 0 {
				c.at = time.Now().Add(b.latency)
			}
			b.q = append(b.q, c)
			b.n += m
			written += m
			b.changed.Notify()
		}
		if written == len(p) {
			b.mu.Unlock()
			return written, nil
		}
		wake := b.changed.Wait()
		b.mu.Unlock()
		select {
		case <-wake:
		case <-dl.Wait():
		case <-stop:
		}
	}
}

func (b *buffer) closeWrite() {
	b.mu.Lock()
	b.eof = true
	b.changed.Notify()
	b.mu.Unlock()
}

func (b *buffer) closeRead() {
	b.mu.Lock()
	b.broken = true
	b.q, b.n = nil, 0
	b.changed.Notify()
	b.mu.Unlock()
}

// Conn is one end of a pipe. It implements net.Conn and CloseWrite.
type Conn struct {
	rx, tx        *buffer
	rd, wd        deadline.Deadline
	done          chan struct{}
	closeOnce     sync.Once
	local, remote net.Addr
}

// New returns the two connected ends of a pipe.
func New(o Options) (*Conn, *Conn) {
	if o.Buffer <= 0 {
		o.Buffer = defaultBuffer
	}
	if o.A == nil {
		o.A = Addr("pipe")
	}
	if o.B == nil {
		o.B = Addr("pipe")
	}
	ab := &buffer{limit: o.Buffer, latency: o.Latency}
	ba := &buffer{limit: o.Buffer, latency: o.Latency}
	a := &Conn{rx: ba, tx: ab, done: make(chan struct{}), local: o.A, remote: o.B}
	b := &Conn{rx: ab, tx: ba, done: make(chan struct{}), local: o.B, remote: o.A}
	return a, b
}

func (c *Conn) opErr(op string, err error) error {
	switch err {
	case nil, io.EOF:
		return err
	case errStopped:
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: c.local.Network(), Source: c.local, Addr: c.remote, Err: err}
}

// Read reads from the pipe. It returns io.EOF once the other end has
// closed (or half-closed) and every byte it wrote has been read.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.rx.read(p, &c.rd, c.done)
	return n, c.opErr("read", err)
}

// Write writes all of p unless the deadline passes, the conn is closed or
// the other end is gone.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.tx.write(p, &c.wd, c.done)
	return n, c.opErr("write", err)
}

// Close closes both directions; blocked Read and Write calls return an
// error wrapping net.ErrClosed. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.tx.closeWrite()
		c.rx.closeRead()
	})
	return nil
}

// CloseWrite half-closes the conn: the other end reads io.EOF after the
// bytes already written, and can still write back.
func (c *Conn) CloseWrite() error {
	select {
	case <-c.done:
		return c.opErr("close", net.ErrClosed)
	default:
	}
	c.tx.closeWrite()
	return nil
}

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.Set(t)
	c.wd.Set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.Set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.Set(t); return nil }
