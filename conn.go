package foxtrot

import (
	"io"
	"net"
	"time"

	"github.com/foxtrotnet/foxtrot/route"
)

// Conn is a connection to a foxtrot address: end-to-end encrypted and
// authenticated, carried through zero or more relays. It implements
// net.Conn with the whole contract of a TCP connection (deadlines that
// fail with a net.Error whose Timeout() is true, concurrent Read and
// Write, Close unblocking both, io.EOF after the other end's Close or
// CloseWrite) and adds CloseWrite and Path.
//
// LocalAddr is the address this end proved: the listened key on the
// accepting side, the node's identity on the dialling side. RemoteAddr is
// the address the other end proved.
type Conn struct {
	s             *route.Session
	local, remote Addr
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *route.Session) *Conn {
	return &Conn{s: s, local: AddrFromPubKey(s.LocalKey()), remote: AddrFromPubKey(s.RemoteKey())}
}

func (c *Conn) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "foxtrot", Source: c.local, Addr: c.remote, Err: err}
}

// Read reads data from the connection.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.s.Read(p)
	return n, c.opErr("read", err)
}

// Write writes data to the connection. It returns once the bytes are in
// the connection's send buffer (as a TCP socket does); they are resent as
// needed until the other end has them.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.s.Write(p)
	return n, c.opErr("write", err)
}

// Close closes the connection. Blocked Read and Write calls return an
// error wrapping net.ErrClosed. Bytes already written are still delivered
// (for up to the node's linger time), then the other end reads io.EOF.
func (c *Conn) Close() error { return c.opErr("close", c.s.Close()) }

// CloseWrite shuts down the writing side: the other end reads io.EOF after
// the bytes written so far, and may keep writing to this end.
func (c *Conn) CloseWrite() error { return c.opErr("close", c.s.CloseWrite()) }

// LocalAddr returns this end's foxtrot address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the other end's foxtrot address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.s.SetReadDeadline(t)
	c.s.SetWriteDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls.
func (c *Conn) SetReadDeadline(t time.Time) error { c.s.SetReadDeadline(t); return nil }

// SetWriteDeadline sets the deadline for Write calls.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.s.SetWriteDeadline(t); return nil }

// Path returns the identities of the relays the connection runs through
// now, dialler side first. A direct connection (or one to a listener of
// the same node) has none.
func (c *Conn) Path() []Addr {
	hops := c.s.Path()
	out := make([]Addr, len(hops))
	for i, h := range hops {
		out[i] = AddrFromHash160(h)
	}
	return out
}
