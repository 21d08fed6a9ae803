package session

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/deadline"
	"github.com/foxtrotnet/foxtrot/internal/signal"
)

// Config configures one session. A buffer or timing field that is zero
// or negative gets the default route.Config documents for it.
type Config struct {
	// ID is the connection ID of the session's first path: its name.
	ID addr.ConnID
	// Dialer is set at the end that dialled.
	Dialer bool
	// Local is this end's key: the dialler's identity or the listened
	// key; Remote the other end's.
	Local, Remote *btcec.PublicKey
	// Master is the first path's secret: it proves resumes.
	Master [32]byte
	// Hello is the dialler's hello body, its first record on its first
	// path (and inside its resumes until the target has answered).
	Hello []byte
	// Self is this node's identity HASH160 (for direct paths).
	Self addr.NodeID
	// OnTicket, if set at the dialler, receives the body of each ticket
	// record the target sends (SendTicket). It runs on the session's
	// loop, so it must be quick and must not block; the body is its to
	// keep. nil: tickets are ignored.
	OnTicket func(body []byte)
	// Rekey, if set at the dialler, makes the session rekey its first
	// path with an ephemeral ECDH (see rekey.go), offering Rekey's key
	// right after the hello, before any data: for a connection whose
	// Master came without one (a resumption ticket). The key is made
	// beforehand (NewRekeyKey), off the connection's way.
	Rekey *RekeyKey
	// OnRekey, if set, is told the rekeyed secret once this end switched
	// to it; at the target, setting it is what accepts a dialler's offer,
	// and what it returns (if not nil) is sent as a ticket record right
	// after the answer. It runs on a path's reader: quick, no blocking,
	// and it must not call the session.
	OnRekey func(master [32]byte) (ticket []byte)

	// SendBuffer bounds the written bytes not yet acknowledged;
	// RecvBuffer the received bytes not yet read (the receive window).
	// Both are where the windows start: with a Budget they grow up to
	// MaxWindow while data flows.
	SendBuffer, RecvBuffer int
	// Heartbeat, StallTimeout, FailoverTimeout and Linger: see
	// route.Config.
	Heartbeat, StallTimeout, FailoverTimeout, Linger time.Duration

	// Finder finds the dialler new paths when one breaks; nil: the
	// session waits for the other end to resume it (the target).
	Finder Finder
	// OnEnd, if set, is called once the session is over.
	OnEnd func(*Session)
	// Stats receives the session's counters; nil discards them.
	Stats *Counters
	// Logger receives events; nil discards them.
	Logger *slog.Logger

	// MaxWindow is the most the receive window and the send queue grow
	// to while data flows (see Budget). Default 16 MiB.
	MaxWindow int
	// Budget is the node-wide credit windows grow with beyond RecvBuffer
	// and SendBuffer; nil: they stay at RecvBuffer and SendBuffer.
	Budget *Budget
}

// Finder finds a dialling session new paths to the same target. Route
// implements it with the dial's backup acks and fresh requests.
type Finder interface {
	// NewPath returns a new path to the other end, keyed for a resume,
	// or fails; ctx ends with the failover.
	NewPath(ctx context.Context) (*Path, error)
	// PathDone tells how a path the session used ended: ok for an
	// orderly end, not ok when it broke.
	PathDone(p *Path, ok bool)
}

// Counters are what sessions count, shared by all the sessions of one
// router.
type Counters struct {
	Failovers     atomic.Int64 // connections moved to a new path
	FailoverNanos atomic.Int64 // the total time those moves took
	DirectPaths   atomic.Int64 // paths on which this end relies on the peer link's encryption
}

// Session is one end of an end-to-end connection: an encrypted, reliable
// byte stream carried by a path of relays, which it outlives. It keeps
// the net.Conn contract (the root package's Conn wraps it): deadlines,
// concurrent Read and Write, Close unblocking both, io.EOF after the
// other end's CloseWrite or Close.
//
// Writes are copied into a send queue of SendBuffer bytes (as a socket
// buffer) and sealed into records by the session's loop; every byte stays
// queued until the other end acknowledges it. Flow control is the
// receiver's, as QUIC's MAX_STREAM_DATA: every ack names the highest
// offset its sender will accept (what its application has consumed plus
// RecvBuffer), and a sender never sends data past it. So the reader of a
// path never waits for the application: it takes every record that
// arrives (data past the limit is a protocol violation), and acks, window
// updates and pings always get through, whatever the buffers hold.
//
//	Write ──► send queue ──► loop (seal) ──► path writer ──► stream ──►
//	Read  ◄── recv queue ◄── loop ◄── path reader (open) ◄── stream ◄──
//
// When the path fails (a relay or link closes, or the path goes silent
// past StallTimeout), the dialling end moves the session to a path its
// Finder gives it and both ends resend from what the other has received:
// no byte lost, duplicated or reordered, and the application sees a
// pause. See machine.go.
//
// Close is graceful: it returns at once, and the loop flushes what was
// written, then a fin and a reset(closed) record, within Linger.
type Session struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards m, cur, used and the signals: the handoff
	m        *machine
	cur      *Path              // the path in use (or last used)
	used     map[pathKey]bool   // paths the session was on: never twice
	paths    []*Path            // every path not yet closed
	readable signal.Signal      // Read may go on
	writable signal.Signal      // Write may go on
	findStop context.CancelFunc // ends a running Finder call
	ticket   []byte             // a ticket record waiting to go (SendTicket)
	rk       rekeyState         // see rekey.go
	wmu      sync.Mutex         // serialises Write calls, so each Write is contiguous
	rd, wd   deadline.Deadline
	wake     chan struct{} // the loop has work (capacity 1)
	events   chan event    // from path readers, writers and the Finder
	done     chan struct{} // closed when the loop is over
	closed   chan struct{} // Close was called
	close1   sync.Once
	wg       sync.WaitGroup
}

type pathKey struct {
	id  addr.ConnID
	num uint32
}

// New makes a session and starts its loop; give it its first path with
// Start (or, at the target, Adopt).
func New(cfg Config) *Session {
	if cfg.Stats == nil {
		cfg.Stats = new(Counters)
	}
	positive(&cfg.SendBuffer, 2<<20)
	positive(&cfg.RecvBuffer, 2<<20)
	positive(&cfg.Heartbeat, time.Second)
	positive(&cfg.StallTimeout, 4*time.Second)
	positive(&cfg.FailoverTimeout, 20*time.Second)
	positive(&cfg.Linger, 10*time.Second)
	positive(&cfg.MaxWindow, 16<<20)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Session{
		cfg: cfg, log: cfg.Logger,
		m: newMachine(limits{
			SendBuffer: cfg.SendBuffer, RecvBuffer: cfg.RecvBuffer, Heartbeat: cfg.Heartbeat,
			StallTimeout: cfg.StallTimeout, FailoverTimeout: cfg.FailoverTimeout, Linger: cfg.Linger,
			MaxWindow: cfg.MaxWindow, Budget: cfg.Budget,
		}, cfg.Dialer),
		used:   make(map[pathKey]bool),
		wake:   make(chan struct{}, 1),
		events: make(chan event, 64),
		done:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	s.wg.Add(1)
	go s.run()
	return s
}

func positive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Start runs the session on its first path. The dialler sends its hello
// first; the target answers at once, so the dialler knows it arrived.
func (s *Session) Start(p *Path) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m.ended {
		p.Close()
		return
	}
	s.m.start(time.Now())
	if !s.cfg.Dialer {
		s.m.confirm()
	}
	s.usePathLocked(p)
	s.kick()
}

// usePathLocked makes p the path in use and starts its reader and writer.
func (s *Session) usePathLocked(p *Path) {
	if old := s.cur; old != nil && old != p {
		old.Close()
	}
	s.cur = p
	s.used[pathKey{p.info.ID, p.info.Num}] = true
	s.paths = append(s.paths, p)
	s.wg.Add(2)
	go s.readLoop(p)
	go s.writeLoop(p)
}

// SendTicket queues a ticket record for the dialler (the target's side):
// it goes out sealed on the path in use once the session runs normally
// (not while a resume is under way). A later call replaces a ticket not
// yet sent. It does nothing at the dialler or after the session ended.
func (s *Session) SendTicket(body []byte) {
	if s.cfg.Dialer || len(body) == 0 || len(body) > maxTicketRecord {
		return
	}
	s.mu.Lock()
	if !s.m.ended {
		s.ticket = append([]byte(nil), body...)
	}
	s.mu.Unlock()
	s.kick()
}

// ID returns the connection ID.
func (s *Session) ID() addr.ConnID { return s.cfg.ID }

// LocalKey returns this end's key on the connection.
func (s *Session) LocalKey() *btcec.PublicKey { return s.cfg.Local }

// RemoteKey returns the other end's key (the target's, or the dialler's
// identity as its hello proved).
func (s *Session) RemoteKey() *btcec.PublicKey { return s.cfg.Remote }

// Path returns the identities (HASH160) of the relays on the current
// path, dialler side first. A direct or same-node connection has none.
func (s *Session) Path() []addr.NodeID {
	hops := s.Hops()
	if hops == nil {
		return nil
	}
	out := make([]addr.NodeID, len(hops))
	for i, h := range hops {
		out[i] = h.Node
	}
	return out
}

// Hops returns the relays of the current path with their prices.
func (s *Session) Hops() []Hop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	return append([]Hop(nil), s.cur.info.Hops...)
}

// Backups returns how many unused backup paths the dialler's Finder
// holds (0 if it does not say).
func (s *Session) Backups() int {
	if b, ok := s.cfg.Finder.(interface{ Backups() int }); ok {
		return b.Backups()
	}
	return 0
}

// Done is closed when the session is over.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (nil while it runs or after an
// orderly close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.err
}

// Wait waits until the session is over and its goroutines have exited.
func (s *Session) Wait() { s.wg.Wait() }

// Abort ends the session at once with err (nil for an orderly end):
// nothing more is sent, the paths close.
func (s *Session) Abort(err error) {
	s.mu.Lock()
	s.m.end(err)
	s.notifyLocked()
	s.mu.Unlock()
	s.kick()
}

// kick wakes the loop.
func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) notifyLocked() {
	s.readable.Notify()
	s.writable.Notify()
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Read reads application bytes.
func (s *Session) Read(p []byte) (int, error) {
	for {
		s.mu.Lock()
		n, err := s.m.read(p)
		if n > 0 || err != nil || len(p) == 0 {
			update := s.m.ackDue > s.m.ackSent || s.m.limitDue > s.m.limitSent
			s.mu.Unlock()
			if update {
				s.kick()
			}
			return n, err
		}
		if s.rd.Exceeded() {
			s.mu.Unlock()
			return 0, deadline.ErrExceeded
		}
		wake := s.readable.Wait()
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.rd.Wait():
		case <-s.closed:
		}
	}
}

// Write queues p for sending; it blocks while the send queue is full.
func (s *Session) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n := 0
	for {
		s.mu.Lock()
		if err := s.m.writeErr(); err != nil {
			s.mu.Unlock()
			return n, err
		}
		if n == len(p) {
			s.mu.Unlock()
			return n, nil
		}
		if s.wd.Exceeded() {
			s.mu.Unlock()
			return n, deadline.ErrExceeded
		}
		if k := s.m.write(p[n:]); k > 0 {
			n += k
			s.mu.Unlock()
			s.kick()
			continue
		}
		wake := s.writable.Wait()
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.wd.Wait():
		case <-s.closed:
		}
	}
}

// CloseWrite ends this direction: the other end reads io.EOF after every
// byte written so far.
func (s *Session) CloseWrite() error {
	s.mu.Lock()
	err := s.m.closeWrite()
	s.mu.Unlock()
	s.kick()
	return err
}

// Close closes the connection. Blocked Read and Write calls return
// ErrClosed at once. What was written is still delivered (across a
// failover if need be), followed by a fin; once the other end has
// acknowledged every byte, a reset(closed) ends the session, unless
// Linger passes first. Idempotent.
func (s *Session) Close() error {
	s.close1.Do(func() {
		close(s.closed)
		s.mu.Lock()
		s.m.close(time.Now())
		s.notifyLocked()
		s.mu.Unlock()
		s.kick()
	})
	return nil
}

// SetReadDeadline sets the read deadline.
func (s *Session) SetReadDeadline(t time.Time) { s.rd.Set(t) }

// SetWriteDeadline sets the write deadline.
func (s *Session) SetWriteDeadline(t time.Time) { s.wd.Set(t) }
