package foxtrot

import (
	"net"

	"github.com/foxtrotnet/foxtrot/route"
)

// Listener accepts connections to one key. It implements net.Listener;
// Accept returns *Conn values as net.Conn.
//
// Accept never fails because of one connection: a dialler that does not
// complete its side of the handshake is dropped and counted (see
// Node.Stats), so servers such as net/http's keep serving. After Close,
// Accept's error wraps net.ErrClosed.
type Listener struct {
	l         *route.Listener
	addr      Addr
	unpublish func() // stops publishing its DHT record; nil if unpublished
}

var _ net.Listener = (*Listener)(nil)

// Accept waits for and returns the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	s, err := l.l.Accept()
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "foxtrot", Addr: l.addr, Err: err}
	}
	return newConn(s), nil
}

// Close stops listening. Accept returns at once with an error wrapping
// net.ErrClosed; connections already accepted stay open. Idempotent.
func (l *Listener) Close() error {
	if l.unpublish != nil {
		l.unpublish()
	}
	return l.l.Close()
}

// Addr returns the listened key's foxtrot address.
func (l *Listener) Addr() net.Addr { return l.addr }
