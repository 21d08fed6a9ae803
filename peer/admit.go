package peer

import (
	"container/list"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/budget"
	"github.com/foxtrotnet/foxtrot/peer/noise"
)

// Kinds of the Set's budget (see Config's Max fields and Set.Refusals).
const (
	// KindSocket is an inbound connection from accept until its handshake
	// ends: bounded per source address (IP, not IP:port) and in total.
	KindSocket budget.Kind = "pre-handshake socket"
	// KindHandshake is an inbound handshake past act one, spending curve
	// arithmetic: bounded per source address and in total.
	KindHandshake budget.Kind = "inbound handshake"
	// KindPendingStream is a stream a peer opened whose header is still
	// being read: bounded per peer and in total.
	KindPendingStream budget.Kind = "pending stream"
)

// lastChance is how long an evicted conn's last read of a buffered act
// one may take.
const lastChance = 20 * time.Millisecond

// Refusals counts what a Set refused for lack of budget.
type Refusals struct {
	// Sockets is inbound connections closed before their handshake:
	// refused over MaxHandshakesPerAddr, or the oldest idle one evicted
	// to make room when MaxInboundHandshakes were open.
	Sockets uint64
	// Handshakes is inbound handshakes closed after act one because
	// MaxHandshakes (or MaxHandshakesPerAddr of them) were in progress.
	Handshakes uint64
	// Cookies is cookie replies sent: act ones answered, under load, with
	// a round trip before any curve arithmetic; CookiesFailed is those
	// not echoed correctly in time.
	Cookies, CookiesFailed uint64
	// Streams is streams a peer opened that were reset unread: its
	// MaxPendingStreamsPerPeer (or the Set's MaxPendingStreams) were
	// waiting for their headers and the muxer's backlog was full.
	Streams uint64
	// Control is control messages a link refused to queue because its
	// peer was not reading them (MaxQueuedControl).
	Control uint64
}

// Refusals returns the counts of what the Set refused for lack of budget.
func (s *Set) Refusals() Refusals {
	return Refusals{
		Sockets:    s.budget.Refused(KindSocket),
		Handshakes: s.budget.Refused(KindHandshake),
		Streams:    s.streamsReset.Load(),
		Control:    s.controlRefused.Load(),

		Cookies:       s.cookies.Load(),
		CookiesFailed: s.cookiesFailed.Load(),
	}
}

// Budget returns the Set's budget, for tests and monitoring.
func (s *Set) Budget() *budget.Budget { return s.budget }

func newBudget(c *Config) *budget.Budget {
	return budget.New(map[budget.Kind]budget.Limit{
		KindSocket:        {Total: c.MaxInboundHandshakes, PerKey: c.MaxHandshakesPerAddr, Scope: "per-address"},
		KindHandshake:     {Total: c.MaxHandshakes, PerKey: c.MaxHandshakesPerAddr, Scope: "per-address"},
		KindPendingStream: {Total: c.MaxPendingStreams, PerKey: c.MaxPendingStreamsPerPeer, Scope: "per-peer"},
	})
}

// addrKey is the budget key of a remote address: its IP for IP
// transports, so that one host's many ports count as one; otherwise the
// whole address.
func addrKey(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case *net.UDPAddr:
		return a.IP.String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}

// inbound is an accepted connection from accept until its handshake ends.
// Until act one has fully arrived it holds only a KindSocket unit and a
// goroutine blocked in a read with a deadline, and it may be evicted; it
// takes a KindHandshake slot only then.
type inbound struct {
	net.Conn
	key      string
	release  func()        // gives back the KindSocket unit
	elem     *list.Element // in Set.waiting while evictable
	evicted  chan struct{} // closed on eviction
	first    []byte        // act one, served to the handshake first
	wrote    atomic.Bool   // the handshake answered: silence is over
	inNoise  atomic.Bool   // noise.Server runs: its Close is deferred to us
	mu       sync.Mutex
	deadline time.Time // when it is closed if not linked; moved to the past on eviction
	gone     bool      // evicted
}

func (c *inbound) Read(p []byte) (int, error) {
	if len(c.first) > 0 {
		n := copy(p, c.first)
		c.first = c.first[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *inbound) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

// Close closes the conn, except while noise.Server runs: a failed
// handshake's close is the Set's to make (see closeSilently).
func (c *inbound) Close() error {
	if c.inNoise.Load() {
		return nil
	}
	return c.Conn.Close()
}

// setReadDeadline sets the read deadline unless the conn was evicted
// (whose deadline stays in the past).
func (c *inbound) setReadDeadline(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.Conn.SetReadDeadline(t)
	}
}

// admit takes an accepted conn under the budget and starts its
// handshake, or closes it at once when its address has too many open or
// (after evicting the oldest idle one) the Set has too many.
func (s *Set) admit(c net.Conn) {
	key := addrKey(c.RemoteAddr())
	release, err := s.budget.Reserve(KindSocket, key)
	var le *budget.LimitError
	if errors.As(err, &le) && le.Scope == "system-wide" && s.evictOldest() {
		release, err = s.budget.Reserve(KindSocket, key)
	}
	if err != nil {
		s.failedHandshakes.Add(1)
		s.log.Debug("inbound connection refused", "from", c.RemoteAddr(), "err", err)
		c.Close()
		return
	}
	in := &inbound{Conn: c, key: key, release: release, evicted: make(chan struct{}), deadline: s.inboundDeadline()}
	s.amu.Lock()
	in.elem = s.waiting.PushBack(in)
	s.amu.Unlock()
	s.wg.Add(1)
	go s.handleInbound(in)
}

// inboundDeadline is when a new inbound conn is closed unless linked:
// HandshakeTimeout from now, a quarter of it when more than half the
// sockets are taken; with a network key, a random moment in the second
// half of that, drawn per conn, so that a prober learns nothing from when
// the node closes.
func (s *Set) inboundDeadline() time.Time {
	d := s.cfg.HandshakeTimeout
	if s.budget.Scarce(KindSocket) {
		d /= 4
	}
	if len(s.cfg.NetworkKey) > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	return s.now().Add(d)
}

// evictOldest evicts the longest-waiting inbound conn that has not
// reached its handshake (or is being closed in silence), giving back its
// socket unit at once. It reports whether there was one.
func (s *Set) evictOldest() bool {
	s.amu.Lock()
	e := s.waiting.Front()
	if e == nil {
		s.amu.Unlock()
		return false
	}
	in := s.waiting.Remove(e).(*inbound)
	in.elem = nil
	s.amu.Unlock()
	in.mu.Lock()
	in.gone = true
	in.Conn.SetReadDeadline(time.Unix(1, 0))
	in.mu.Unlock()
	close(in.evicted)
	in.release() // the newcomer's refused Reserve counted this eviction
	return true
}

// unwait takes in off the eviction list; it reports false if it was
// evicted already.
func (s *Set) unwait(in *inbound) bool {
	s.amu.Lock()
	defer s.amu.Unlock()
	if in.elem == nil {
		return false
	}
	s.waiting.Remove(in.elem)
	in.elem = nil
	return true
}

// rewait puts in back on the eviction list (it is being closed in silence).
func (s *Set) rewait(in *inbound) {
	s.amu.Lock()
	defer s.amu.Unlock()
	if in.elem == nil && !in.isGone() {
		in.elem = s.waiting.PushBack(in)
	}
}

func (c *inbound) isGone() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gone
}

// handleInbound reads act one without a handshake slot, then takes a
// slot and runs the responder handshake and link setup.
func (s *Set) handleInbound(in *inbound) {
	defer s.wg.Done()
	defer in.release()
	ctx, cancel := context.WithDeadline(s.ctx, in.deadline)
	defer cancel()
	// The Set's Close ends the wait for act one (registered after the
	// deadline is set, so that it cannot be undone by it).
	in.setReadDeadline(in.deadline)
	stop := context.AfterFunc(s.ctx, func() { in.setReadDeadline(time.Unix(1, 0)) })
	act1 := make([]byte, noise.ActOneSize)
	n, err := io.ReadFull(in.Conn, act1)
	stop()
	if !s.unwait(in) && err == nil || err != nil && in.isGone() && !s.isClosed() {
		// Evicted: a conn whose act one has already arrived (a peer that
		// waited in the accept queue behind a flood) is not refused for a
		// read this goroutine had not got to yet. A last read of what is
		// already buffered decides; the conn no longer holds a socket unit,
		// and goes on only to take a handshake slot.
		if err != nil {
			in.Conn.SetReadDeadline(s.now().Add(lastChance))
			_, err = io.ReadFull(in.Conn, act1[n:])
		}
	}
	if err != nil {
		s.failedHandshakes.Add(1)
		s.log.Debug("inbound handshake: no act one", "from", in.RemoteAddr(), "err", err)
		s.closeInbound(in)
		return
	}
	in.first = act1
	if s.budget.Scarce(KindHandshake) && s.cookieWorthy(act1) {
		if err := s.cookieRoundTrip(in, act1); err != nil {
			s.failedHandshakes.Add(1)
			s.log.Debug("inbound handshake: cookie not echoed", "from", in.RemoteAddr(), "err", err)
			s.closeInbound(in)
			return
		}
	}
	slot, err := s.budget.Reserve(KindHandshake, in.key)
	if err != nil {
		s.failedHandshakes.Add(1)
		s.log.Debug("inbound handshake refused", "from", in.RemoteAddr(), "err", err)
		s.closeInbound(in)
		return
	}
	defer slot()
	if s.budget.Scarce(KindHandshake) {
		// A peer answers act two within a round trip; a slot is not held
		// long for one that does not when others wait.
		if d := s.now().Add(s.cfg.HandshakeTimeout / 4); d.Before(in.deadline) {
			var c2 context.CancelFunc
			ctx, c2 = context.WithDeadline(ctx, d)
			defer c2()
		}
	}
	in.inNoise.Store(true)
	sc, err := Server(ctx, in, s.hcfg)
	in.inNoise.Store(false)
	if err != nil {
		s.failedHandshakes.Add(1)
		s.log.Debug("inbound handshake failed", "from", in.RemoteAddr(), "err", err)
		s.closeInbound(in)
		return
	}
	if addr.NodeIDFromPubKey(sc.RemoteKey()) == s.self {
		sc.Close()
		return
	}
	l, err := newLink(ctx, s, sc, false, nil)
	if err != nil {
		s.failedHandshakes.Add(1)
		s.log.Debug("inbound link setup failed", "from", in.RemoteAddr(), "err", err)
		return
	}
	s.add(l)
}

// closeInbound closes an inbound conn whose handshake failed. A node with
// a network key that has not answered closes in silence (closeSilently);
// otherwise the conn is closed at once. An evicted conn is closed at once.
func (s *Set) closeInbound(in *inbound) {
	if len(s.cfg.NetworkKey) > 0 && !in.wrote.Load() && !in.isGone() {
		s.rewait(in)
		s.closeSilently(in)
		s.unwait(in)
		return
	}
	in.Conn.Close()
}

// closeSilently reads and discards whatever the conn sends until its
// deadline (drawn when it was accepted, whatever it sent), then closes it.
// Having read everything, the close is a FIN, never a RST; so neither when
// nor how the node closes depends on what a prober sent. Eviction and the
// Set's Close cut the wait short.
func (s *Set) closeSilently(in *inbound) {
	defer in.Conn.Close()
	in.setReadDeadline(in.deadline)
	stop := context.AfterFunc(s.ctx, func() { in.setReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var buf [512]byte
	for {
		_, err := in.Conn.Read(buf[:])
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			// The prober closed its side: wait out the deadline all the same.
			t := time.NewTimer(in.deadline.Sub(s.now()))
			defer t.Stop()
			select {
			case <-t.C:
			case <-in.evicted:
			case <-s.done:
			}
		}
		return
	}
}

// reserveStream takes a pending-stream unit for a stream of l's peer,
// waiting while the peer's or the Set's are all taken. It reports false
// if the link went down meanwhile.
func (s *Set) reserveStream(l *Link) (func(), bool) {
	key := l.id.String()
	for {
		s.amu.Lock()
		freed := s.streamFreed.Wait()
		s.amu.Unlock()
		release, err := s.budget.Reserve(KindPendingStream, key)
		if err == nil {
			return release, true
		}
		select {
		case <-freed:
		case <-l.done:
			return nil, false
		}
	}
}

// releaseStream gives a pending-stream unit back and wakes accept loops
// waiting for one.
func (s *Set) releaseStream(release func()) {
	release()
	s.amu.Lock()
	s.streamFreed.Notify()
	s.amu.Unlock()
}

// streamReset counts a stream the muxer reset unread (MuxConfig.OnReset).
func (s *Set) streamReset() { s.streamsReset.Add(1) }

// cookieWorthy reports whether a node under load should ask act1's sender
// for a cookie round trip rather than spend curve arithmetic on it. A node
// with a network key asks only senders that proved the key, which an XX
// act one does without curve arithmetic; an XK act one proves it only
// through an ECDH, so it goes on as usual (within MaxHandshakes), and a
// prober never sees a cookie.
func (s *Set) cookieWorthy(act1 []byte) bool {
	if len(s.cfg.NetworkKey) == 0 {
		return true
	}
	if act1[0] != noiseVersionXX {
		return false
	}
	hs, err := noise.NewResponder(s.hcfg)
	return err == nil && hs.RecvActOne(act1) == nil
}

// noiseVersionXX is the version byte of a Noise_XX act one.
const noiseVersionXX = 1

// cookieRoundTrip answers act1 with a cookie reply and reads its echo.
func (s *Set) cookieRoundTrip(in *inbound, act1 []byte) error {
	s.cookies.Add(1)
	in.wrote.Store(true) // silence is over: the sender proved the network key
	if _, err := in.Conn.Write(s.cookieJar.Reply(act1, in.key)); err != nil {
		s.cookiesFailed.Add(1)
		return err
	}
	echo := make([]byte, noise.CookieEchoSize)
	stop := context.AfterFunc(s.ctx, func() { in.Conn.SetReadDeadline(time.Unix(1, 0)) })
	_, err := io.ReadFull(in.Conn, echo)
	stop()
	if err != nil {
		s.cookiesFailed.Add(1)
		return err
	}
	if !s.cookieJar.Check(act1, in.key, echo) {
		s.cookiesFailed.Add(1)
		return ErrBadCookie
	}
	return nil
}
