package peer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Link is an authenticated, encrypted connection to one peer: a SecureConn
// carrying a Muxer (yamux unless Config.NewMuxer says otherwise). The
// first stream, opened by the dialler, is the control stream, on which
// typed wire messages travel in both directions; every other stream is
// opened with a wire.StreamHeader and handed to the protocol registered
// for its kind (see Set.Register), or for a circuit to the Handler. Pings
// on the control stream measure the round-trip time and detect a dead
// peer.
//
// A Link has four goroutines while it is up: yamux's receive and send
// loops, the control-stream reader and the stream acceptor (plus one per
// stream while its header is read and its handler runs, and a control
// writer while messages are queued). Close stops them all.
type Link struct {
	set      *Set
	sc       *SecureConn
	mux      Muxer
	ctrl     MuxStream
	shrinker interface{ Shrink() } // the control stream, if it can shrink
	reg      *registry             // the protocols registered when the link came up
	id       addr.NodeID
	outbound bool
	maddr    ma.Multiaddr // the transport address we dialled (nil if inbound)
	since    time.Time
	log      *slog.Logger

	smu      sync.Mutex
	sendq    []byte // framed control messages waiting for the writer
	flushing bool
	closing  bool

	rtt      atomic.Int64 // EWMA of ping round trips, ns; 0 before the first
	lastRecv atomic.Int64 // UnixNano of the last control message received

	pmu       sync.Mutex
	pings     map[uint64]pingWait
	pingTimer *time.Timer

	up        atomic.Bool // registered by the Set (LinkUp was called)
	announced atomic.Bool // LinkUp handlers have run: usable by protocols
	downOnce  sync.Once
	done      chan struct{}
	err       error // why the link went down; set before done is closed
	wg        sync.WaitGroup
}

type pingWait struct {
	sent time.Time
	ch   chan time.Duration // nil for the keepalive's own pings
}

// Bounds of the control plane.
const (
	ctrlWriteTimeout  = 10 * time.Second
	streamHdrTimeout  = 10 * time.Second
	maxOutstandingPng = 64
)

// newLink sets up the session and control stream on a handshaken conn.
// The dialler opens stream 1 and sends a ping on it at once (which also
// gives the first RTT sample); the listener accepts stream 1 within ctx.
func newLink(ctx context.Context, s *Set, sc *SecureConn, outbound bool, maddr ma.Multiaddr) (*Link, error) {
	l := &Link{
		set: s, sc: sc, outbound: outbound, maddr: maddr, since: time.Now(),
		id: addr.NodeIDFromPubKey(sc.RemoteKey()), done: make(chan struct{}),
		pings: make(map[uint64]pingWait),
	}
	l.log = s.log.With("peer", l.id.String())
	l.lastRecv.Store(time.Now().UnixNano())
	var err error
	l.mux, err = s.cfg.NewMuxer(sc, outbound, MuxConfig{StreamWindow: s.cfg.StreamWindow, Budget: s.cfg.WindowBudget, Logger: s.log, OnReset: s.streamReset})
	if err == nil {
		if outbound {
			if l.ctrl, err = l.mux.Open(ctx); err == nil {
				err = l.sendPing(nil)
			}
		} else {
			l.ctrl, err = l.mux.Accept(ctx)
		}
	}
	if err != nil {
		if l.mux != nil {
			l.mux.Close()
		}
		sc.Close()
		return nil, err
	}
	l.shrinker, _ = l.ctrl.(interface{ Shrink() })
	return l, nil
}

// start runs the link's goroutines once the Set has registered it.
func (l *Link) start() {
	l.wg.Add(2)
	go l.controlLoop()
	go l.acceptLoop()
	l.pmu.Lock()
	l.pingTimer = time.AfterFunc(l.set.jitter(l.set.cfg.PingInterval), l.keepalive)
	l.pmu.Unlock()
	if !l.outbound {
		l.sendPing(nil) // the dialler pinged in newLink: both ends know the RTT at once
	}
}

// ID returns the peer's identity: HASH160 of its identity key.
func (l *Link) ID() addr.NodeID { return l.id }

// RemoteKey returns the peer's authenticated identity key.
func (l *Link) RemoteKey() *btcec.PublicKey { return l.sc.RemoteKey() }

// Outbound reports whether this node dialled the link.
func (l *Link) Outbound() bool { return l.outbound }

// Multiaddr returns the transport address this node dialled, with the
// peer's /foxtrot identity appended; nil for an inbound link.
func (l *Link) Multiaddr() ma.Multiaddr { return l.maddr }

// Since returns when the link came up.
func (l *Link) Since() time.Time { return l.since }

// Pattern returns the handshake pattern the link used.
func (l *Link) Pattern() Pattern { return l.sc.Pattern() }

// RTT returns the smoothed ping round-trip time (0 before the first pong).
func (l *Link) RTT() time.Duration { return time.Duration(l.rtt.Load()) }

// NumStreams returns how many streams of the link are open, the control
// stream included.
func (l *Link) NumStreams() int { return l.mux.NumStreams() }

// Done is closed when the link is down.
func (l *Link) Done() <-chan struct{} { return l.done }

// Err returns why the link went down, or nil while it is up.
func (l *Link) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Queued returns the bytes of control messages waiting to be written: a
// peer that reads slowly shows here first.
func (l *Link) Queued() int {
	l.smu.Lock()
	defer l.smu.Unlock()
	return len(l.sendq)
}

// Send queues a control message. It does not block on the network: a
// writer goroutine drains the queue. It fails if the link is down
// (ErrLinkClosed) or the peer is not reading (ErrSendQueueFull).
func (l *Link) Send(m wire.Message) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	if l.closing {
		return ErrLinkClosed
	}
	if max := l.set.cfg.MaxQueuedControl; len(l.sendq) > max {
		l.set.controlRefused.Add(1)
		return fmt.Errorf("%w: %d bytes queued (MaxQueuedControl %d)", ErrSendQueueFull, len(l.sendq), max)
	}
	var err error
	if l.sendq, err = wire.Append(l.sendq, m); err != nil {
		return err
	}
	if !l.flushing {
		l.flushing = true
		l.wg.Add(1)
		go l.flush()
	}
	return nil
}

// flush writes queued control frames until the queue is empty.
func (l *Link) flush() {
	defer l.wg.Done()
	var spare []byte
	for {
		l.smu.Lock()
		buf := l.sendq
		l.sendq = spare[:0]
		if len(buf) == 0 || l.closing {
			l.flushing = false
			l.smu.Unlock()
			return
		}
		l.smu.Unlock()
		l.ctrl.SetWriteDeadline(time.Now().Add(ctrlWriteTimeout))
		if _, err := l.ctrl.Write(buf); err != nil {
			l.shutdown(fmt.Errorf("peer: control stream write: %w", err))
			return
		}
		if cap(buf) <= 64<<10 {
			spare = buf // reuse a small buffer; let a big one go
		} else {
			spare = nil
		}
	}
}

// controlLoop reads control messages until the link goes down. Pings and
// pongs are the link's own; a type a protocol registered goes to that
// protocol, any other to the Handler. An unknown type is ignored if it is
// optional (high bit set) and is a protocol violation otherwise, as a
// malformed message is: the link goes down.
//
// An idle link parks here, in ReadFrame: the loop keeps its own frame small
// (the work is in onFrame), so the parked stack stays shallow enough for
// the runtime to shrink it to the minimum (see TestIdleLinkBudget).
func (l *Link) controlLoop() {
	defer l.wg.Done()
	r := wire.NewReader(l.ctrl)
	for {
		payload, err := r.ReadFrame()
		if err == nil {
			err = l.onFrame(payload)
		}
		if err != nil {
			l.shutdown(l.readError(err))
			return
		}
	}
}

// onFrame decodes and dispatches one control frame; an error ends the
// link.
func (l *Link) onFrame(payload []byte) error {
	reg := l.set.reg.Load() // one snapshot decodes and dispatches
	m, err := wire.DecodeWith(payload, reg.decoder)
	if err != nil {
		var ute *wire.UnknownTypeError
		if errors.As(err, &ute) && ute.Type.Optional() {
			l.log.Debug("ignoring unknown optional message", "type", ute.Type)
			return nil
		}
		return err
	}
	l.lastRecv.Store(time.Now().UnixNano())
	// Control traffic comes in bursts: between them an idle link holds
	// no receive buffer.
	if l.shrinker != nil {
		l.shrinker.Shrink()
	}
	switch m := m.(type) {
	case *wire.Ping:
		l.Send(&wire.Pong{Nonce: m.Nonce})
	case *wire.Pong:
		l.onPong(m.Nonce)
	default:
		if e := reg.msgs[m.Type()]; e != nil {
			e.Handle(l, m)
		} else if h := l.set.cfg.Handler; h != nil {
			h.HandleMessage(l, m)
		}
	}
	return nil
}

// readError says why reading the control stream failed: bad bytes from
// the peer are a protocol violation.
func (l *Link) readError(err error) error {
	var ute *wire.UnknownTypeError
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge) || errors.As(err, &ute) {
		return fmt.Errorf("peer: protocol violation: %w", err)
	}
	return err
}

// acceptLoop accepts streams the peer opens and serves each on a
// goroutine of its own.
func (l *Link) acceptLoop() {
	defer l.wg.Done()
	for {
		// A pending-stream unit first: while the peer has its
		// MaxPendingStreamsPerPeer streams without a header (or the Set
		// its MaxPendingStreams), the loop waits, the muxer's backlog
		// fills, and the muxer resets further streams unread.
		release, ok := l.set.reserveStream(l)
		if !ok {
			return // the link is down
		}
		ms, err := l.mux.Accept(context.Background())
		if err != nil {
			release()
			l.shutdown(err)
			return
		}
		l.set.acceptedStreams.Add(1)
		l.wg.Add(1)
		go l.serveStream(newStream(ms, l), release)
	}
}

// serveStream reads a stream's header and hands the stream to the
// protocol registered for its kind, or a circuit to the Handler. A stream
// with a malformed header, or of a kind nobody serves, is closed and
// counted (Set.RefusedStreams); the link stays up.
func (l *Link) serveStream(s *Stream, release func()) {
	defer l.wg.Done()
	s.SetReadDeadline(time.Now().Add(streamHdrTimeout))
	hdr, err := wire.ReadStreamHeader(s)
	l.set.releaseStream(release)
	if err != nil {
		// Counted before the close, so a peer that sees it sees the count.
		if errors.Is(err, wire.ErrMalformed) {
			l.set.refusedStreams.Add(1)
			l.log.Debug("refused a stream with a malformed header", "err", err)
		}
		s.Close()
		return
	}
	s.SetReadDeadline(time.Time{})
	if e := l.set.reg.Load().streams[hdr.Kind]; e != nil {
		e.Handle(l, s, hdr)
		return
	}
	if h := l.set.cfg.Handler; h != nil && hdr.Kind == wire.StreamCircuit {
		h.HandleStream(l, s, hdr)
		return
	}
	// yamux has no reset: the stream is closed, and the peer reads EOF
	// before any byte.
	l.set.refusedStreams.Add(1)
	l.log.Debug("refused a stream of a kind nobody serves", "kind", hdr.Kind)
	s.Close()
}

// OpenStream opens a stream to the peer and sends hdr on it. ctx bounds
// the header write.
func (l *Link) OpenStream(ctx context.Context, hdr wire.StreamHeader) (*Stream, error) {
	if len(hdr.Meta) > wire.MaxStreamMeta {
		return nil, fmt.Errorf("%w: stream header meta of %d bytes, at most %d", ErrBadHeader, len(hdr.Meta), wire.MaxStreamMeta)
	}
	ms, err := l.mux.Open(ctx)
	if err != nil {
		return nil, err
	}
	s := newStream(ms, l)
	if d, ok := ctx.Deadline(); ok {
		s.SetWriteDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var b [wire.StreamHeaderSize]byte // enough for every circuit's header
	if _, err := s.Write(hdr.Append(b[:0])); err != nil {
		s.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	s.SetWriteDeadline(time.Time{})
	return s, nil
}

// Ping measures one round trip on the control stream.
func (l *Link) Ping(ctx context.Context) (time.Duration, error) {
	ch := make(chan time.Duration, 1)
	if err := l.sendPing(ch); err != nil {
		return 0, err
	}
	select {
	case d := <-ch:
		return d, nil
	case <-l.done:
		return 0, ErrLinkClosed
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (l *Link) sendPing(ch chan time.Duration) error {
	var b [8]byte
	rand.Read(b[:])
	nonce := binary.LittleEndian.Uint64(b[:])
	l.pmu.Lock()
	if len(l.pings) >= maxOutstandingPng {
		// A peer that answers no pings does not make us remember them all.
		for k := range l.pings {
			delete(l.pings, k)
			break
		}
	}
	l.pings[nonce] = pingWait{sent: time.Now(), ch: ch}
	l.pmu.Unlock()
	if l.ctrl == nil {
		return ErrLinkClosed
	}
	return l.Send(&wire.Ping{Nonce: nonce})
}

func (l *Link) onPong(nonce uint64) {
	l.pmu.Lock()
	w, ok := l.pings[nonce]
	delete(l.pings, nonce)
	l.pmu.Unlock()
	if !ok {
		return // not ours: a peer cannot make up RTT samples
	}
	d := time.Since(w.sent)
	if old := l.rtt.Load(); old == 0 {
		l.rtt.Store(int64(d))
	} else {
		l.rtt.Store(old - old/8 + int64(d)/8)
	}
	if w.ch != nil {
		w.ch <- d
	}
}

// keepalive runs on the ping timer: it declares the peer dead after
// DeadAfter of silence, and otherwise pings it.
func (l *Link) keepalive() {
	select {
	case <-l.done:
		return
	default:
	}
	if silent := time.Since(time.Unix(0, l.lastRecv.Load())); silent > l.set.cfg.DeadAfter {
		l.shutdown(fmt.Errorf("%w: silent for %v", ErrPeerDead, silent.Round(time.Millisecond)))
		return
	}
	l.sendPing(nil)
	l.pmu.Lock()
	if l.pingTimer != nil {
		l.pingTimer.Reset(l.set.jitter(l.set.cfg.PingInterval))
	}
	l.pmu.Unlock()
}

// Close takes the link down and waits for its goroutines. Idempotent.
func (l *Link) Close() error {
	l.shutdown(ErrLinkClosed)
	l.wg.Wait()
	return nil
}

// shutdown takes the link down without waiting (it may run on one of the
// link's own goroutines). The first reason sticks.
func (l *Link) shutdown(err error) {
	l.downOnce.Do(func() {
		l.smu.Lock()
		l.closing = true
		l.sendq = nil
		l.smu.Unlock()
		l.pmu.Lock()
		if l.pingTimer != nil {
			l.pingTimer.Stop()
		}
		l.pmu.Unlock()
		if err == io.EOF {
			err = fmt.Errorf("%w: %w", ErrLinkClosed, err)
		}
		l.err = err
		close(l.done)
		l.mux.Close()
		l.set.linkDown(l, err)
	})
}

// jitter returns d ± 10%.
func (s *Set) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	n, err := rand.Int(rand.Reader, big.NewInt(int64(d)/5+1))
	if err != nil {
		return d
	}
	return d - d/10 + time.Duration(n.Int64())
}
