package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/third_party/yamux"
	"github.com/foxtrotnet/foxtrot/peer/noise"
)

// InitialStreamWindow is the receive window every GoYamux stream starts
// with: what a stream may hold before its window grows, and all it holds
// without credit from Config.WindowBudget. 1 MiB, hashicorp yamux's fixed
// window before: at yamux's 256 KiB minimum a link's control stream to a
// peer busy checking a flood of connect requests filled its window, its
// writes timed out and the link went down (route's
// TestCircuitsNobodyReadsStayWithinTheRelaysBudget, on every run).
const InitialStreamWindow = 1 << 20

// WindowBudget is node-wide memory credit that GoYamux streams' receive
// windows grow into beyond InitialStreamWindow (Config.WindowBudget). A
// *session.Budget is one, so a node's connections and its links' streams
// draw on one MemoryBudget.
type WindowBudget interface {
	// Take grants up to n bytes of credit, as much as is left, and
	// returns how much.
	Take(n int64) int64
	// Give returns n bytes taken before.
	Give(n int64)
}

// GoYamux is the default NewMuxerFunc: a libp2p/go-yamux session
// (internal/third_party/yamux, v5.1.0 with five patches, see its FORK.md), the
// dialler being the yamux client. It speaks the same yamux (spec v0) as
// Yamux, so links between nodes using either interoperate. Each stream's
// receive window starts at InitialStreamWindow and grows fourfold
// whenever the reader consumed half of it within four round trips of the
// link (a yamux ping measures the round trip when the first stream
// starts, and again on a busy link every 30 s), up to
// MuxConfig.StreamWindow, each growth paid for with credit from
// MuxConfig.Budget (no budget: windows stay at InitialStreamWindow). A
// stream's credit goes back when the stream ends. So an idle stream holds
// no buffer and no credit, a busy one at most its window, and all busy
// streams of a node together at most InitialStreamWindow each plus the
// budget.
func GoYamux(c net.Conn, client bool, cfg MuxConfig) (Muxer, error) {
	ycfg := goyamuxConfig(cfg)
	var (
		sess *yamux.Session
		err  error
	)
	mm := func() (yamux.MemoryManager, error) { return &streamCredit{b: cfg.Budget}, nil }
	if client {
		sess, err = yamux.Client(c, ycfg, mm)
	} else {
		sess, err = yamux.Server(c, ycfg, mm)
	}
	if err != nil {
		return nil, err
	}
	return &goyamuxMux{sess: sess, client: client}, nil
}

// goyamuxCloseTimeout is how long a stream closed here waits for the
// peer's close before it is reset (hashicorp/yamux's StreamCloseTimeout,
// which Yamux sets to the same): until then what the peer still sends is
// buffered, within the stream's window; only a peer that writes on into a
// refused stream (a relay over budget) meets it.
const goyamuxCloseTimeout = 5 * time.Second

func goyamuxConfig(cfg MuxConfig) *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = yamuxBacklog
	c.EnableKeepAlive = false // our pings on the control stream do this
	// Yamux has no bound of its own on open streams; the link bounds
	// the ones being set up (MaxPendingStreamsPerPeer) and its
	// protocols the rest (circuits by the relay's budgets).
	c.MaxIncomingStreams = math.MaxUint32
	c.InitialStreamWindowSize = InitialStreamWindow
	c.MaxStreamWindowSize = max(cfg.StreamWindow, InitialStreamWindow)
	// One yamux frame, header included, fills one Noise frame at most,
	// so a frame costs one seal; frames queued together share one
	// transport write (the copy's send loop batches them).
	c.MaxMessageSize = noise.MaxFrameBody
	// The send loop gives up on a conn that takes this long to take one
	// frame (the peer reads nothing at all); our pings find a dead peer
	// long before on a link that is merely slow.
	c.ConnectionWriteTimeout = 30 * time.Second
	c.ReadBufSize = 0 // the SecureConn below buffers its frames
	c.LogOutput = &goyamuxLog{l: cfg.Logger, onReset: cfg.OnReset}
	return c
}

// goyamuxMux is a Muxer over a go-yamux session.
type goyamuxMux struct {
	sess    *yamux.Session
	client  bool
	checked atomic.Bool // the listener's first accepted stream was checked

	amu     sync.Mutex
	pending chan acceptResult // an AcceptStream whose caller's ctx ended, or nil
	closed  bool
}

type acceptResult struct {
	s   *yamux.Stream
	err error
}

func (m *goyamuxMux) Open(ctx context.Context) (MuxStream, error) {
	s, err := m.sess.OpenStream(ctx)
	if err != nil {
		if m.sess.IsClosed() {
			return nil, fmt.Errorf("%w: %w", ErrLinkClosed, err)
		}
		return nil, err
	}
	return &goyamuxStream{s: s}, nil
}

// Accept waits for the next stream. go-yamux's AcceptStream takes no
// ctx, so a call with one that can end waits in a goroutine; when ctx
// ends first that goroutine's stream goes to the next Accept (or is
// closed with the session).
func (m *goyamuxMux) Accept(ctx context.Context) (MuxStream, error) {
	m.amu.Lock()
	ch := m.pending
	m.pending = nil
	m.amu.Unlock()
	if ch == nil {
		if ctx.Done() == nil {
			return m.accepted(m.sess.AcceptStream())
		}
		ch = make(chan acceptResult, 1)
		go func() {
			s, err := m.sess.AcceptStream()
			ch <- acceptResult{s, err}
		}()
	}
	select {
	case r := <-ch:
		return m.accepted(r.s, r.err)
	case <-ctx.Done():
		m.amu.Lock()
		m.pending = ch
		m.amu.Unlock()
		return nil, ctx.Err()
	}
}

func (m *goyamuxMux) accepted(s *yamux.Stream, err error) (MuxStream, error) {
	if err == nil && m.sess.IsClosed() {
		// AcceptStream picks at random between a queued stream and the
		// session's end.
		s.Reset()
		err = yamux.ErrSessionShutdown
	}
	if err != nil {
		if errors.Is(err, yamux.ErrSessionShutdown) || m.sess.IsClosed() {
			return nil, fmt.Errorf("%w: %w", ErrLinkClosed, err)
		}
		return nil, err
	}
	// The dialler's first stream, the control stream, is stream 1.
	if !m.client && m.checked.CompareAndSwap(false, true) && s.StreamID() != 1 {
		s.Reset()
		return nil, fmt.Errorf("peer: first stream is %d, not the control stream", s.StreamID())
	}
	return &goyamuxStream{s: s}, nil
}

func (m *goyamuxMux) NumStreams() int { return m.sess.NumStreams() }

// Close closes the session and waits for a pending Accept's goroutine.
func (m *goyamuxMux) Close() error {
	err := m.sess.Close()
	m.amu.Lock()
	ch := m.pending
	m.pending = nil
	m.amu.Unlock()
	if ch != nil {
		if r := <-ch; r.s != nil {
			r.s.Reset()
		}
	}
	return err
}

// goyamuxStream is a MuxStream over a go-yamux stream. go-yamux leaves
// concurrent Reads and concurrent Writes to its caller (two writers can
// both spend the same send window, overrunning the peer's receive window,
// which ends the link; two readers race on the window they grant), so
// each direction takes a lock.
type goyamuxStream struct {
	s      *yamux.Stream
	rx, tx sync.Mutex
}

func (y *goyamuxStream) Read(p []byte) (int, error) {
	y.rx.Lock()
	defer y.rx.Unlock()
	n, err := y.s.Read(p)
	return n, goyamuxErr(err)
}

func (y *goyamuxStream) Write(p []byte) (int, error) {
	y.tx.Lock()
	defer y.tx.Unlock()
	n, err := y.s.Write(p)
	return n, goyamuxErr(err)
}

func (y *goyamuxStream) CloseWrite() error { return goyamuxErr(y.s.CloseWrite()) }

// Close sends the FIN and resets the stream if the peer has not closed
// its side within goyamuxCloseTimeout (see there). go-yamux's own Close
// would stop reading at once without telling the peer, whose writes
// would then wait on a window that never opens.
func (y *goyamuxStream) Close() error {
	err := y.s.CloseWrite()
	time.AfterFunc(goyamuxCloseTimeout, func() { y.s.Reset() })
	return goyamuxErr(err)
}

func (y *goyamuxStream) SetReadDeadline(t time.Time) error  { return y.s.SetReadDeadline(t) }
func (y *goyamuxStream) SetWriteDeadline(t time.Time) error { return y.s.SetWriteDeadline(t) }

// goyamuxErr turns go-yamux's errors into what MuxStream promises.
func goyamuxErr(err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, yamux.ErrTimeout):
		return os.ErrDeadlineExceeded
	case errors.Is(err, yamux.ErrSessionShutdown):
		return fmt.Errorf("%w: %w", ErrLinkClosed, err)
	case errors.Is(err, yamux.ErrStreamClosed):
		return net.ErrClosed
	}
	return err
}

// streamCredit is one stream's yamux.MemoryManager: its initial window
// (priority 255, reserved when the stream starts) costs nothing from the
// budget, as before; every growth of its window takes credit from the
// budget, all or nothing, and the stream gives all of it back when it
// ends (Done).
type streamCredit struct {
	b    WindowBudget
	mu   sync.Mutex
	held int64
	done bool // Done ran: a growth asked for later (a read racing the stream's end) is refused
}

// errNoCredit refuses a window growth; go-yamux keeps the window as it
// is and does not pass the error on.
var errNoCredit = errors.New("peer: window budget spent")

func (c *streamCredit) ReserveMemory(size int, prio uint8) error {
	if prio == math.MaxUint8 {
		return nil // a stream's initial window
	}
	if c.b == nil || size <= 0 {
		return errNoCredit
	}
	n := int64(size)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return errNoCredit
	}
	if g := c.b.Take(n); g < n {
		c.b.Give(g)
		return errNoCredit
	}
	c.held += n
	return nil
}

func (c *streamCredit) ReleaseMemory(size int) {
	c.mu.Lock()
	n := min(int64(size), c.held)
	c.held -= n
	c.mu.Unlock()
	if n > 0 {
		c.b.Give(n)
	}
}

func (c *streamCredit) Done() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.ReleaseMemory(math.MaxInt)
}

// goyamuxLog receives go-yamux's log lines (a log.Logger writes each in
// one Write) and passes them to slog. go-yamux says nothing else when it
// resets a stream because its accept backlog is full, so those lines are
// also counted through onReset.
type goyamuxLog struct {
	l       *slog.Logger
	onReset func()
}

// goyamuxBacklogReset is go-yamux v5.1.0's log line for a stream it
// resets because its accept backlog is full (session.go, incomingStream).
var goyamuxBacklogReset = []byte("[WARN] yamux: backlog exceeded, forcing stream reset")

func (g *goyamuxLog) Write(p []byte) (int, error) {
	if g.onReset != nil && bytes.Contains(p, goyamuxBacklogReset) {
		g.onReset()
	}
	if g.l != nil {
		g.l.Debug(string(bytes.TrimSpace(p)), "from", "yamux")
	}
	return len(p), nil
}

// forwardTo moves one received frame's worth from y to d (see
// yamux.Stream.ForwardTo): y's read side and d's write side are taken, as
// Read and Write take them.
func (y *goyamuxStream) forwardTo(d *goyamuxStream) (int, error) {
	y.rx.Lock()
	defer y.rx.Unlock()
	d.tx.Lock()
	defer d.tx.Unlock()
	n, err := y.s.ForwardTo(d.s)
	return n, goyamuxErr(err)
}
