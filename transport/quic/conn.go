package quic

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
)

// Conn is one QUIC stream as a net.Conn. Close sends the FIN at once and
// lingers in the background for the peer's (see the package comment).
//
//	open --Close--> FIN sent, reads and writes fail with net.ErrClosed
//	     --peer FIN, peer close or Linger--> connection closed, socket released
type Conn struct {
	t  *Transport
	s  *socket
	qc *quicgo.Conn
	st *quicgo.Stream

	rmu sync.Mutex // held by Read across the stream's Read
	wmu sync.Mutex // held by Write across the stream's Write, and by Close's FIN

	mu     sync.Mutex // guards closed and the stream's deadlines
	closed bool
}

var _ net.Conn = (*Conn)(nil)

func (t *Transport) newConn(s *socket, qc *quicgo.Conn, st *quicgo.Stream) *Conn {
	return &Conn{t: t, s: s, qc: qc, st: st}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Read reads from the stream; io.EOF once the peer closed its side.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.isClosed() {
		return 0, c.opError("read", net.ErrClosed)
	}
	n, err := c.st.Read(p)
	if err != nil {
		err = c.mapError("read", err)
	}
	return n, err
}

// Write writes to the stream, blocking on its flow control.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return 0, c.opError("write", net.ErrClosed)
	}
	n, err := c.st.Write(p)
	if err != nil {
		err = c.mapError("write", err)
	}
	return n, err
}

// mapError turns a stream error into what net.Conn promises: net.ErrClosed
// after Close, the deadline error as it is (a net.Error with Timeout),
// io.EOF, or an *net.OpError.
func (c *Conn) mapError(op string, err error) error {
	switch {
	case c.isClosed():
		return c.opError(op, net.ErrClosed)
	case err == io.EOF:
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return err
	case isClosedByPeer(err):
		return c.opError(op, wrapPeer(err))
	}
	return c.opError(op, err)
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "quic", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Close ends the conn: blocked Reads and Writes return net.ErrClosed, the
// FIN is sent, and the connection closes in the background once the
// peer's FIN arrives or after Config.Linger. It is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	// Now, not an old time: quic-go reads a time before its monotonic
	// clock began as no deadline at all.
	past := time.Now()
	c.st.SetReadDeadline(past) // wakes a blocked Read
	c.st.SetWriteDeadline(past)
	c.mu.Unlock()

	c.wmu.Lock() // quic-go: Close must not run concurrently with Write
	c.st.Close()
	c.wmu.Unlock()

	if !c.t.goroutine(c.linger) {
		c.qc.CloseWithError(0, "")
		c.t.release(c.s)
	}
	return nil
}

// linger drains the stream until the peer's FIN (or reset, or the
// connection's end), Config.Linger or the Transport's Close, then closes
// the connection.
func (c *Conn) linger() {
	c.rmu.Lock() // no Read is left in the stream
	c.st.SetReadDeadline(time.Now().Add(c.t.cfg.Linger))
	stop := context.AfterFunc(c.t.ctx, func() { c.st.SetReadDeadline(time.Now()) })
	io.Copy(io.Discard, c.st)
	stop()
	c.rmu.Unlock()
	c.qc.CloseWithError(0, "")
	c.t.release(c.s)
}

// LocalAddr is the socket's address (*net.UDPAddr).
func (c *Conn) LocalAddr() net.Addr { return c.qc.LocalAddr() }

// RemoteAddr is the peer's address (*net.UDPAddr).
func (c *Conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.setDeadline(c.st.SetDeadline, t) }

// SetReadDeadline sets the read deadline; a past one wakes a blocked Read.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(c.st.SetReadDeadline, t) }

// SetWriteDeadline sets the write deadline; a past one wakes a blocked
// Write.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(c.st.SetWriteDeadline, t) }

// setDeadline sets a deadline of the stream with set, unless the conn is
// closed.
func (c *Conn) setDeadline(set func(time.Time) error, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opError("set", net.ErrClosed)
	}
	return set(t)
}
