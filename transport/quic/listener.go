package quic

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
	"github.com/foxtrotnet/foxtrot/transport"
)

// Listener accepts conns on one UDP socket. Accept returns only conns
// whose stream has begun with the preamble; a failed handshake is logged
// and dropped, never returned.
type Listener struct {
	t     *Transport
	s     *socket
	ql    *quicgo.Listener
	conns chan *Conn

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the accept loop and handshakes
	once   sync.Once
}

var _ transport.Listener = (*Listener)(nil)

func (t *Transport) newListener(s *socket, ql *quicgo.Listener) *Listener {
	ctx, cancel := context.WithCancel(t.ctx)
	l := &Listener{t: t, s: s, ql: ql, conns: make(chan *Conn), ctx: ctx, cancel: cancel}
	t.mu.Lock()
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return // closed: the listener's or the transport's Close
		}
		l.wg.Add(1)
		go l.handshake(qc)
	}
}

// handshake waits for the dialler's stream and its preamble.
func (l *Listener) handshake(qc *quicgo.Conn) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, l.t.cfg.HandshakeTimeout)
	defer cancel()
	// Closing the listener (or the timeout) ends a handshake at once,
	// whichever step it is in.
	stop := context.AfterFunc(ctx, func() { qc.CloseWithError(0, "") })
	defer stop()
	st, err := qc.AcceptStream(ctx)
	if err == nil {
		st.SetReadDeadline(time.Now().Add(l.t.cfg.HandshakeTimeout))
		var b [1]byte
		if _, err = io.ReadFull(st, b[:]); err == nil && b[0] != preamble {
			err = ErrPreamble
		}
		if err == nil {
			err = st.SetReadDeadline(time.Time{})
		}
	}
	if err == nil && !stop() {
		err = ctx.Err() // the connection was closed meanwhile
	}
	if err != nil {
		l.t.cfg.Logger.Debug("quic: inbound handshake failed", "remote", qc.RemoteAddr(), "err", err)
		qc.CloseWithError(0, "")
		return
	}
	if !l.t.acquire(l.s) {
		qc.CloseWithError(0, "")
		return
	}
	c := l.t.newConn(l.s, qc, st)
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		c.Close()
	}
}

// Accept returns the next conn; after Close its error wraps
// net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	if l.ctx.Err() != nil { // closed: no conn, even one that is waiting
		return nil, &net.OpError{Op: "accept", Net: "quic", Addr: l.Addr(), Err: net.ErrClosed}
	}
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, &net.OpError{Op: "accept", Net: "quic", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close stops accepting; conns already accepted carry on. It is
// idempotent and returns after the listener's goroutines exit.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.t.mu.Lock()
		delete(l.t.listeners, l)
		l.t.mu.Unlock()
		l.cancel()
		l.ql.Close()
		l.wg.Wait()
		l.t.mu.Lock()
		l.s.listening = false
		l.t.mu.Unlock()
		l.t.release(l.s)
	})
	return nil
}

// Addr is the socket's local address.
func (l *Listener) Addr() net.Addr { return l.s.pc.LocalAddr() }

// Multiaddr is the socket's resolved multiaddr, /ip4|ip6/<ip>/udp/<port>.
func (l *Listener) Multiaddr() ma.Multiaddr { return l.s.pc.Multiaddr() }

// acquire takes a reference to s for a new conn, unless s is closed.
func (t *Transport) acquire(s *socket) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.sockets[s]; !ok {
		return false
	}
	s.refs++
	return true
}

// isClosedByPeer reports whether err is the peer ending the connection
// or stream rather than a local failure.
func isClosedByPeer(err error) bool {
	var ae *quicgo.ApplicationError
	var se *quicgo.StreamError
	var ie *quicgo.IdleTimeoutError
	return errors.As(err, &ae) && ae.Remote || errors.As(err, &se) && se.Remote || errors.As(err, &ie)
}

func wrapPeer(err error) error { return fmt.Errorf("%w: %w", ErrClosedByPeer, err) }
