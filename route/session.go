package route

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/deadline"
	"github.com/foxtrotnet/foxtrot/internal/signal"
)

// Session is one end of an end-to-end connection: an encrypted, reliable
// byte stream carried by a path of relays, which it outlives. It keeps the
// net.Conn contract (the root package's Conn wraps it): deadlines,
// concurrent Read and Write, Close unblocking both, io.EOF after the other
// end's CloseWrite or Close.
//
// Writes are copied into a send queue of Config.SendBuffer bytes (as a
// socket buffer) and sealed into records by the current path's sender;
// every byte stays queued until the other end acknowledges it. Flow
// control is the receiver's, as QUIC's MAX_STREAM_DATA: every ack names
// the highest offset its sender will accept (what its application has
// consumed plus Config.RecvBuffer), and a sender never sends data past
// it. So the reader of a path never waits for the application: it takes
// every record that arrives (data past the limit is a protocol
// violation), and acks, window updates and pings always get through,
// whatever the buffers hold.
//
//	Write ──► send queue ──► sender ──► path stream ──►
//	Read  ◄── recv queue ◄── reader ◄── path stream ◄──
//
// When the path fails (a relay or link closes, or the path goes silent
// past Config.StallTimeout), the dialling end moves the session to a
// backup path or a fresh one and both ends resend from what the other has
// received: no byte lost, duplicated or reordered, and the application
// sees a pause. See failover.go.
//
// Close is graceful: it returns at once, and the sender flushes what was
// written, then a fin and a reset(closed) record, within Config.Linger.
type Session struct {
	r      *Router
	id     [20]byte // the connection ID of the first path: the session's name
	dialer bool
	local  *btcec.PublicKey // our key: the dialler's identity or the listened key
	master [32]byte         // the first path's secret; proves resumes
	hello  []byte           // dialler: the hello body, the first path's first record

	// Dialler only: whom we dialled, for fresh paths.
	target [20]byte
	tKey   *btcec.PublicKey
	// confirmed is set once the dialler has heard from the target: until
	// then a resume carries the hello too.
	confirmed atomic.Bool

	mu        sync.Mutex
	remote    *btcec.PublicKey // the target's key, or the dialler's from its hello
	path      *pathConn        // the current path
	err       error            // why the session ended; nil for an orderly end
	failing   bool             // dialler: a failover is running
	backups   []dialEvent      // dialler: other acks of our requests, unused
	used      map[circuitKey]bool
	dial      *dialState // dialler: the dial whose acks are our backups
	resumeBy  *time.Timer
	heartbeat *time.Timer

	wmu    sync.Mutex // serialises Write calls, so each Write is contiguous
	tx     txState
	rx     rxState
	rd, wd deadline.Deadline

	closeOnce sync.Once
	closed    chan struct{} // Close was called
	endOnce   sync.Once
	ended     chan struct{} // the session is over (orderly or not)
	linger    *time.Timer
}

type txState struct {
	mu           sync.Mutex
	q            chunkQueue // bytes [acked, written): unacknowledged, some not sent yet
	acked        uint64
	sent         uint64 // sealed onto the current path
	written      uint64
	path         *pathConn // the path the sender may use
	helloPending bool
	ackDue       uint64 // offset the other end should be told we have
	ackSent      uint64
	limitDue     uint64 // receive limit the other end should be told
	limitSent    uint64
	peerLimit    uint64 // the other end accepts data below this offset
	pingDue      bool
	finQueued    bool
	finSent      bool
	reset        byte // reset code to send after the fin, 0 for none
	resetSent    bool
	peerGone     bool  // the other end sent a reset: nothing more to send
	err          error // writes fail with it
	ackProgress  time.Time
	work         signal.Signal
	space        signal.Signal
}

type rxChunk struct {
	buf  *[]byte // pooled record buffer holding data
	data []byte
}

type rxState struct {
	mu      sync.Mutex
	q       []rxChunk
	qBytes  int
	off     uint64 // next offset expected
	fin     bool
	err     error // reads fail with it once the queue is drained
	unacked int   // bytes received since the last ack was requested
	// advertised is the highest receive limit handed to the sender for
	// an ack (see recvLimitLocked).
	advertised uint64
	ackTimer   *time.Timer
	data       signal.Signal
}

// Ack policy: ask for an ack after ackEvery bytes, or ackDelay after the
// first unacknowledged byte arrived.
const (
	ackEvery = 256 << 10
	ackDelay = 20 * time.Millisecond
	// sendBatch bounds the bytes sealed per stream write.
	sendBatch = 4 * maxRecordData
)

func newSession(r *Router, id [20]byte, dialer bool, local, remote *btcec.PublicKey, master [32]byte) *Session {
	s := &Session{
		r: r, id: id, dialer: dialer, local: local, remote: remote, master: master,
		used:   make(map[circuitKey]bool),
		closed: make(chan struct{}), ended: make(chan struct{}),
	}
	s.tx.peerLimit = initialWindow
	s.rx.advertised = initialWindow
	return s
}

// start runs the session on its first path.
func (s *Session) start(p *pathConn) {
	s.mu.Lock()
	s.path = p
	s.used[circuitKey{p.id, p.num}] = true
	s.mu.Unlock()
	s.tx.mu.Lock()
	s.tx.path = p
	s.tx.helloPending = s.dialer
	s.tx.ackProgress = time.Now()
	s.tx.mu.Unlock()
	s.runPath(p)
	s.scheduleHeartbeat()
}

// ID returns the connection ID.
func (s *Session) ID() [20]byte { return s.id }

// LocalKey returns this end's key on the connection.
func (s *Session) LocalKey() *btcec.PublicKey { return s.local }

// RemoteKey returns the other end's key (the target's, or the dialler's
// identity as its hello proved).
func (s *Session) RemoteKey() *btcec.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Path returns the identities (HASH160) of the relays on the current
// path, dialler side first. A direct or same-node connection has none.
func (s *Session) Path() [][20]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return nil
	}
	out := make([][20]byte, len(s.path.hops))
	for i, h := range s.path.hops {
		out[i] = h.Node
	}
	return out
}

// Hop is a relay on a connection's path: its identity (HASH160) and the
// price it quoted (satoshis per MiB; known to the dialler only).
type Hop struct {
	Node  [20]byte
	Price uint64
}

// Hops returns the relays of the current path with their prices.
func (s *Session) Hops() []Hop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return nil
	}
	return append([]Hop(nil), s.path.hops...)
}

// Done is closed when the session is over.
func (s *Session) Done() <-chan struct{} { return s.ended }

// Err returns why the session ended (nil while it runs or after an
// orderly close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Session) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
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
	rx := &s.rx
	for {
		if s.isClosed() {
			return 0, ErrClosed
		}
		rx.mu.Lock()
		if len(rx.q) > 0 {
			n := 0
			for n < len(p) && len(rx.q) > 0 {
				c := &rx.q[0]
				m := copy(p[n:], c.data)
				n += m
				c.data = c.data[m:]
				if len(c.data) == 0 {
					bufpool.Put(c.buf)
					rx.q[0] = rxChunk{}
					rx.q = rx.q[1:]
				}
			}
			if len(rx.q) == 0 {
				rx.q = nil
			}
			rx.qBytes -= n
			lim, update := s.windowUpdateLocked()
			off := rx.off
			rx.mu.Unlock()
			if update {
				s.requestAck(off, lim)
			}
			return n, nil
		}
		if rx.fin {
			rx.mu.Unlock()
			return 0, io.EOF
		}
		if rx.err != nil {
			err := rx.err
			rx.mu.Unlock()
			return 0, err
		}
		if len(p) == 0 {
			rx.mu.Unlock()
			return 0, nil
		}
		if s.rd.Exceeded() {
			rx.mu.Unlock()
			return 0, deadline.ErrExceeded
		}
		wake := rx.data.Wait()
		rx.mu.Unlock()
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
	tx := &s.tx
	n := 0
	for {
		if s.isClosed() {
			return n, ErrClosed
		}
		tx.mu.Lock()
		switch {
		case tx.finQueued:
			tx.mu.Unlock()
			return n, fmt.Errorf("%w: write after CloseWrite", ErrClosed)
		case tx.err != nil:
			err := tx.err
			tx.mu.Unlock()
			return n, err
		case n == len(p):
			tx.mu.Unlock()
			return n, nil
		case s.wd.Exceeded():
			tx.mu.Unlock()
			return n, deadline.ErrExceeded
		}
		if m := tx.q.append(p[n:], s.r.cfg.SendBuffer); m > 0 {
			tx.written += uint64(m)
			n += m
			tx.work.Notify()
			tx.mu.Unlock()
			continue
		}
		wake := tx.space.Wait()
		tx.mu.Unlock()
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
	if s.isClosed() {
		return ErrClosed
	}
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	if s.tx.err != nil {
		return s.tx.err
	}
	s.tx.finQueued = true
	s.tx.work.Notify()
	return nil
}

// Close closes the connection. Blocked Read and Write calls return
// ErrClosed at once. What was written is still delivered (across a
// failover if need be), followed by a fin; once the other end has
// acknowledged every byte, a reset(closed) ends the session, unless
// Config.Linger passes first. Idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.release()
		// Nothing queued counts any more: let the sender finish.
		s.rx.mu.Lock()
		lim, update := s.windowUpdateLocked()
		off := s.rx.off
		s.rx.mu.Unlock()
		if update {
			s.requestAck(off, lim)
		}
		s.rx.mu.Lock()
		s.rx.data.Notify()
		s.rx.mu.Unlock()

		s.tx.mu.Lock()
		s.tx.finQueued = true
		s.tx.reset = resetClosed
		gone := s.tx.peerGone || s.tx.err != nil
		s.tx.work.Notify()
		s.tx.space.Notify()
		s.tx.mu.Unlock()

		if gone {
			s.end(nil)
			return
		}
		s.mu.Lock()
		s.linger = time.AfterFunc(s.r.cfg.Linger, func() {
			s.end(fmt.Errorf("%w: unsent data dropped after %v", ErrClosed, s.r.cfg.Linger))
		})
		s.mu.Unlock()
	})
	return nil
}

// SetReadDeadline sets the read deadline.
func (s *Session) SetReadDeadline(t time.Time) { s.rd.Set(t) }

// SetWriteDeadline sets the write deadline.
func (s *Session) SetWriteDeadline(t time.Time) { s.wd.Set(t) }

// end finishes the session: orderly (err nil) or failed. The first call
// decides. It closes the path and wakes every waiter; the session's
// goroutines then exit on their own.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		p := s.path
		for _, t := range []*time.Timer{s.linger, s.resumeBy, s.heartbeat} {
			if t != nil {
				t.Stop()
			}
		}
		d := s.dial
		s.mu.Unlock()

		if err == nil {
			err = ErrClosed
		}
		s.tx.mu.Lock()
		if s.tx.err == nil {
			s.tx.err = err
		}
		s.tx.work.Notify()
		s.tx.space.Notify()
		s.tx.mu.Unlock()

		s.rx.mu.Lock()
		if s.rx.err == nil {
			s.rx.err = err
		}
		if s.rx.ackTimer != nil {
			s.rx.ackTimer.Stop()
		}
		s.rx.data.Notify()
		s.rx.mu.Unlock()

		close(s.ended)
		if p != nil {
			p.fail()
			if s.dialer && s.err == nil && p.first != nil {
				s.r.mu.Lock()
				s.r.routes.outcome(s.target, p.first, true)
				s.r.mu.Unlock()
			}
		}
		if d != nil {
			s.r.forgetDial(d)
		}
		s.r.removeSession(s)
	})
}

// release returns queued receive buffers to the pool once nobody will
// read them (after Close).
func (s *Session) release() {
	s.rx.mu.Lock()
	defer s.rx.mu.Unlock()
	for _, c := range s.rx.q {
		bufpool.Put(c.buf)
	}
	s.rx.q, s.rx.qBytes = nil, 0
}
