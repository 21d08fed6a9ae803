package peer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"
)

// Yamux is a NewMuxerFunc over a hashicorp/yamux session (spec v0), the
// dialler being the yamux client: every stream's window is
// MuxConfig.StreamWindow from the start (it takes no Budget). Over a
// SecureConn it seals each data frame's header with its body (see
// muxConn). GoYamux, the default, speaks the same protocol.
func Yamux(c net.Conn, client bool, cfg MuxConfig) (Muxer, error) {
	return yamuxWith(c, client, yamuxConfig(cfg.StreamWindow, cfg.Logger, cfg.OnReset))
}

func yamuxWith(c net.Conn, client bool, ycfg *yamux.Config) (Muxer, error) {
	var conn io.ReadWriteCloser = c
	if sc, ok := c.(*SecureConn); ok {
		conn = &muxConn{SecureConn: sc}
	}
	var (
		sess *yamux.Session
		err  error
	)
	if client {
		sess, err = yamux.Client(conn, ycfg)
	} else {
		sess, err = yamux.Server(conn, ycfg)
	}
	if err != nil {
		return nil, err
	}
	return &yamuxMux{sess: sess, client: client}, nil
}

// yamuxMux is a Muxer over a yamux session.
type yamuxMux struct {
	sess    *yamux.Session
	client  bool
	checked atomic.Bool // the listener's first accepted stream was checked
}

func (m *yamuxMux) Open(ctx context.Context) (MuxStream, error) {
	s, err := m.sess.OpenStream()
	if err != nil {
		if m.sess.IsClosed() {
			return nil, ErrLinkClosed
		}
		return nil, err
	}
	return newYamuxStream(s), nil
}

func (m *yamuxMux) Accept(ctx context.Context) (MuxStream, error) {
	s, err := m.sess.AcceptStreamWithContext(ctx)
	if err != nil {
		if errors.Is(err, yamux.ErrSessionShutdown) {
			return nil, fmt.Errorf("%w: %w", ErrLinkClosed, err)
		}
		return nil, err
	}
	// The dialler's first stream, the control stream, is stream 1.
	if !m.client && m.checked.CompareAndSwap(false, true) && s.StreamID() != 1 {
		s.Close()
		return nil, fmt.Errorf("peer: first stream is %d, not the control stream", s.StreamID())
	}
	return newYamuxStream(s), nil
}

func (m *yamuxMux) NumStreams() int { return m.sess.NumStreams() }

func (m *yamuxMux) Close() error { return m.sess.Close() }

// yamuxStream is a MuxStream over a yamux stream, translating its errors.
type yamuxStream struct {
	s    *yamux.Stream
	idle *time.Timer // drops the receive buffer of a Read that waits (see Read)
}

// idleShrink is how long a Read waits before its stream's empty receive
// buffer goes back to the allocator.
const idleShrink = 50 * time.Millisecond

func newYamuxStream(s *yamux.Stream) *yamuxStream {
	y := &yamuxStream{s: s}
	y.idle = time.AfterFunc(time.Hour, s.Shrink)
	y.idle.Stop()
	return y
}

// Read reads; a Read that waits idleShrink drops yamux's (empty) receive
// buffer meanwhile. yamux keeps a stream's buffer at the largest size it
// ever reached, up to the whole stream window, so a connection that once
// ran at full speed would otherwise hold its windows' worth of memory per
// hop while idle; under a steady flow no Read waits that long and the
// buffer is kept.
func (y *yamuxStream) Read(p []byte) (int, error) {
	y.idle.Reset(idleShrink)
	n, err := y.s.Read(p)
	y.idle.Stop()
	return n, yamuxErr(err)
}

func (y *yamuxStream) Write(p []byte) (int, error) {
	n, err := y.s.Write(p)
	return n, yamuxErr(err)
}

// CloseWrite sends yamux's FIN, which is all its Close does.
func (y *yamuxStream) CloseWrite() error                  { return yamuxErr(y.s.Close()) }
func (y *yamuxStream) Close() error                       { return yamuxErr(y.s.Close()) }
func (y *yamuxStream) SetReadDeadline(t time.Time) error  { return y.s.SetReadDeadline(t) }
func (y *yamuxStream) SetWriteDeadline(t time.Time) error { return y.s.SetWriteDeadline(t) }

// Shrink drops an empty receive buffer (an optional ability: the control
// stream is shrunk after each message, so an idle link holds none).
func (y *yamuxStream) Shrink() { y.s.Shrink() }

// yamuxErr turns yamux's errors into what MuxStream promises.
func yamuxErr(err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, yamux.ErrTimeout):
		return os.ErrDeadlineExceeded
	case errors.Is(err, yamux.ErrSessionShutdown):
		return ErrLinkClosed
	case errors.Is(err, yamux.ErrStreamClosed):
		return net.ErrClosed
	}
	return err
}

// muxConn sits between yamux and a SecureConn. yamux's single send loop
// writes each frame as a 12-byte header and then its body; a data header
// that announces a body is held back and sealed together with the body, so
// one yamux data frame costs one Noise frame run and one transport write.
type muxConn struct {
	*SecureConn
	held    [12]byte
	holding bool
}

func (m *muxConn) Write(p []byte) (int, error) {
	if m.holding {
		m.holding = false
		n, err := m.SecureConn.WriteVec(m.held[:], p)
		return max(n-len(m.held), 0), err
	}
	// Header: version, type (0 = data), flags, stream ID, length.
	if len(p) == 12 && p[1] == 0 && binary.BigEndian.Uint32(p[8:]) > 0 {
		copy(m.held[:], p)
		m.holding = true
		return len(p), nil
	}
	return m.SecureConn.Write(p)
}

// yamuxBacklog is yamux's AcceptBacklog: streams the peer opened that the
// link has not accepted yet; beyond it yamux resets new streams unread.
const yamuxBacklog = 64

func yamuxConfig(window uint32, log *slog.Logger, onReset func()) *yamux.Config {
	c := yamux.DefaultConfig()
	// Streams are accepted as soon as they arrive, so a short backlog is
	// enough; the channel it sizes is the largest part of an idle session.
	c.AcceptBacklog = yamuxBacklog
	c.EnableKeepAlive = false // our pings on the control stream do this
	c.MaxStreamWindowSize = window
	c.StreamOpenTimeout = 30 * time.Second
	// A stream we closed whose peer goes on sending is reset after
	// StreamCloseTimeout; until then yamux buffers what arrives (up to
	// the window). Our streams are closed both ways within moments of
	// each other (sessions end with their own records first), so only a
	// peer that writes on into a refused stream (a relay over budget)
	// meets this: 5 s bounds what such streams pin.
	c.StreamCloseTimeout = 5 * time.Second
	c.LogOutput = nil
	c.Logger = yamuxLogger{log, onReset}
	return c
}

// yamuxLogger passes yamux's log lines to slog. yamux v0.1.2 says
// nothing else when it resets a stream because its accept backlog is full,
// so that line (its format string) is also counted through onReset.
type yamuxLogger struct {
	l       *slog.Logger
	onReset func()
}

// yamuxBacklogReset is yamux v0.1.2's log line for a stream it resets
// because its accept backlog is full (session.go, incomingStream).
const yamuxBacklogReset = "[WARN] yamux: backlog exceeded, forcing connection reset"

func (y yamuxLogger) Print(v ...any) { y.l.Debug(fmt.Sprint(v...), "from", "yamux") }
func (y yamuxLogger) Printf(format string, v ...any) {
	if format == yamuxBacklogReset && y.onReset != nil {
		y.onReset()
	}
	y.l.Debug(fmt.Sprintf(format, v...), "from", "yamux")
}
func (y yamuxLogger) Println(v ...any) { y.l.Debug(fmt.Sprint(v...), "from", "yamux") }
