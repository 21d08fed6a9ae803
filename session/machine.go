package session

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

// machine is the reliability layer of one session as a pure state
// machine: what to send next, when to acknowledge, what to resend after a
// resume, the receive window and the send buffer, when a path counts as
// stalled and when a failover has taken too long. It does no I/O and
// reads no clock: every input that depends on time carries now, and
// deadline says when the owner must call tick next. The session's run
// loop owns it (application calls reach it under the session's mutex).
//
// A session's path, as the machine sees it:
//
//	         start / adopt                 resumed(off)
//	  ┌──────────────────────► ok ◄───────────────────────┐
//	  │                        │                          │
//	  │     pathLost (stream error, or nothing received   │
//	  │     for StallTimeout)  ▼                          │
//	none ◄──────────────────────                      resuming
//	  │  dialler: ask the Finder for a path (backoff      ▲
//	  │  between tries), attach it ───────────────────────┘
//	  │  target: wait for the dialler's resume (adopt)
//	  ▼
//	FailoverTimeout since the loss (target: plus resumeGrace) ──► ErrPathBroken
//
// A resuming path that has not answered within StallTimeout counts as
// lost too, and the dialler tries the next.
type machine struct {
	lim    limits
	dialer bool

	// Send side. The bytes [acked, written) are in q; [acked, sent) went
	// out on the current path.
	q                  chunkQueue
	acked, sent        uint64
	written            uint64
	peerLimit          uint64 // the other end accepts data below this offset
	helloDue           bool   // dialler: the hello goes first on the first path
	resumeDue          bool   // the resume (dialler) or resumed (target) record goes first
	finQueued, finSent bool
	reset              byte // reset code to send after the fin, 0 for none
	resetSent          bool
	peerGone           bool // the other end sent a reset: nothing more to send
	ackDue, ackSent    uint64
	limitDue           uint64 // receive limit the other end should be told
	limitSent          uint64
	pingDue            bool
	txErr              error // writes fail with it

	// Receive side. The bytes [off-rqBytes, off) wait in rq for Read.
	rq         []rxChunk
	rqBytes    int
	off        uint64 // next offset expected
	fin        bool
	advertised uint64    // the highest receive limit handed out for an ack
	unacked    int       // bytes received since the last ack was requested
	ackAt      time.Time // when the delayed ack is due (zero: none)
	rxErr      error     // reads fail with it once the queue is drained
	confirmed  bool      // a record arrived from the other end

	// Window tuning (see grow and growSend).
	rwnd     int           // the receive window: RecvBuffer, grown while a window-limited sender meets a reader that keeps up
	rxCredit int64         // budget credit in rwnd beyond RecvBuffer
	txCredit int64         // budget credit in the send queue beyond SendBuffer
	limitOut uint64        // the highest receive limit sent
	probing  bool          // a limit raise is out: the first data past probeOff times a window round trip
	probeOff uint64        // the limit the other end had before the raise
	probeAt  time.Time     // when the raise went out
	rtt      time.Duration // the shortest window round trip seen on this path; 0: none yet
	epochAt  time.Time     // when the current window's worth of data began to arrive
	epochOff uint64        // m.off then

	// The path.
	phase              phase
	lastRecv, lastSent time.Time
	failingSince       time.Time // dialler: when the path in use was lost (zero: not failing)
	failCause          error
	attemptBy          time.Time // dialler: a resuming path must answer by then
	retryAt            time.Time // dialler: when to ask for another path
	finding            bool      // dialler: a request for a path is out
	backoff            time.Duration
	resumeBy           time.Time // target: without a resume by then the session ends
	lingerBy           time.Time // after Close: the session ends by then

	closed bool
	ended  bool
	err    error // why the session ended; nil for an orderly end

	goneBy time.Time // target: the dialler's node looks gone; give up by then (gone.go)
}

// limits are the machine's settings (see Config).
type limits struct {
	SendBuffer, RecvBuffer int
	MaxWindow              int     // the most rwnd and the send queue grow to
	Budget                 *Budget // what they grow with; nil: they do not
	Heartbeat              time.Duration
	StallTimeout           time.Duration
	FailoverTimeout        time.Duration
	Linger                 time.Duration
}

type phase uint8

const (
	phaseNone     phase = iota // no path: failing over, or waiting for a resume
	phaseResuming              // dialler: resume sent, waiting for resumed
	phaseOK
)

// Ack policy: ask for an ack after ackEvery bytes, or ackDelay after the
// first unacknowledged byte arrived.
const (
	ackEvery = 256 << 10
	ackDelay = 20 * time.Millisecond
	// resumeGrace is how much longer than FailoverTimeout a target waits
	// for a resume.
	resumeGrace = 5 * time.Second
	// firstBackoff and maxBackoff bound the pause between two requests
	// for a path.
	firstBackoff = 25 * time.Millisecond
	maxBackoff   = time.Second
)

type rxChunk struct {
	buf  *[]byte // pooled record buffer holding data
	data []byte
}

func newMachine(lim limits, dialer bool) *machine {
	return &machine{lim: lim, dialer: dialer, peerLimit: initialWindow, advertised: initialWindow, backoff: firstBackoff,
		rwnd: lim.RecvBuffer, limitOut: initialWindow}
}

// start runs the machine on its first path; the dialler sends its hello
// first.
func (m *machine) start(now time.Time) {
	m.phase = phaseOK
	m.helloDue = m.dialer
	m.lastRecv, m.lastSent = now, now
}

// confirm has the target answer at once (any record will do), so the
// dialler knows its hello arrived.
func (m *machine) confirm() { m.pingDue = true }

// Application side.

// writeErr is why a Write cannot go on, or nil.
func (m *machine) writeErr() error {
	switch {
	case m.closed:
		return ErrClosed
	case m.finQueued:
		return fmt.Errorf("%w: write after CloseWrite", ErrClosed)
	}
	return m.txErr
}

// write queues as much of p as the send buffer takes.
func (m *machine) write(p []byte) int {
	n := m.q.append(p, m.lim.SendBuffer+int(m.txCredit))
	m.written += uint64(n)
	return n
}

// read takes queued bytes into p. With nothing queued it returns io.EOF
// after a fin, the receive error if there is one, or 0 and nil (wait).
func (m *machine) read(p []byte) (int, error) {
	if m.closed {
		return 0, ErrClosed
	}
	if len(m.rq) == 0 {
		switch {
		case m.fin:
			return 0, io.EOF
		case m.rxErr != nil:
			return 0, m.rxErr
		}
		return 0, nil
	}
	n := 0
	for n < len(p) && len(m.rq) > 0 {
		c := &m.rq[0]
		k := copy(p[n:], c.data)
		n += k
		c.data = c.data[k:]
		if len(c.data) == 0 {
			bufpool.Put(c.buf)
			m.rq[0] = rxChunk{}
			m.rq = m.rq[1:]
		}
	}
	if len(m.rq) == 0 {
		m.rq = nil
	}
	m.rqBytes -= n
	m.windowUpdate()
	return n, nil
}

// readable reports whether a Read would not wait.
func (m *machine) readable() bool {
	return m.closed || len(m.rq) > 0 || m.fin || m.rxErr != nil
}

// closeWrite queues the fin.
func (m *machine) closeWrite() error {
	if m.closed {
		return ErrClosed
	}
	if m.txErr != nil {
		return m.txErr
	}
	m.finQueued = true
	return nil
}

// close is the application's Close: what was written still goes out,
// then the fin and, once the other end has acknowledged every byte, a
// reset(closed); Linger bounds it all.
func (m *machine) close(now time.Time) {
	if m.closed {
		return
	}
	m.closed = true
	m.release()
	m.windowUpdate() // nothing queued counts any more: let the sender finish
	m.finQueued = true
	m.reset = resetClosed
	if m.peerGone || m.txErr != nil {
		m.end(nil)
		return
	}
	m.lingerBy = now.Add(m.lim.Linger)
}

// Receive window.

// recvLimit is the receive limit: the offset the other end may send data
// up to. It is what the application has consumed (read, or dropped by
// Close) plus the receive window rwnd, and never below initialWindow,
// which the other end may use before it hears from us. It never
// decreases (rwnd only grows). This is the one place the limit is decided.
func (m *machine) recvLimit() uint64 {
	consumed := m.off - uint64(m.rqBytes)
	return max(initialWindow, consumed+uint64(m.rwnd))
}

// advertise returns the receive limit for an ack about to be requested.
func (m *machine) advertise() uint64 {
	lim := m.recvLimit()
	m.advertised = max(m.advertised, lim)
	return lim
}

// windowUpdate requests an ack when the application consumed a quarter of
// the receive window since the last advertised limit, so the sender hears
// of the new one.
func (m *machine) windowUpdate() {
	if m.recvLimit() >= m.advertised+uint64(max(m.rwnd/4, 1)) {
		m.requestAck(m.off, m.advertise())
	}
}

func (m *machine) requestAck(off, limit uint64) {
	m.ackDue = max(m.ackDue, off)
	m.limitDue = max(m.limitDue, limit)
}

// Records from the other end.

// received notes that a record arrived on the path in use.
func (m *machine) received(now time.Time) {
	m.lastRecv = now
	m.confirmed = true
}

// onData takes a data record. It takes ownership of buf.
func (m *machine) onData(now time.Time, off uint64, data []byte, buf *[]byte) error {
	// After a failover the other end resends from the offset we reported,
	// and the old path may have delivered some of it since: skip what we
	// already have.
	if end := off + uint64(len(data)); end <= m.off {
		bufpool.Put(buf)
		return nil
	}
	if off < m.off {
		data = data[m.off-off:]
		off = m.off
	}
	if off != m.off || m.fin {
		bufpool.Put(buf)
		return fmt.Errorf("%w: data at offset %d, expected %d", ErrProtocol, off, m.off)
	}
	// Whatever arrives within the limit fits: the reader never waits for
	// the application.
	if lim := m.recvLimit(); off+uint64(len(data)) > lim {
		bufpool.Put(buf)
		return fmt.Errorf("%w: data up to offset %d, past the receive limit %d", ErrProtocol, off+uint64(len(data)), lim)
	}
	if m.closed || m.ended {
		bufpool.Put(buf) // nobody will read it; it still counts as received
	} else {
		m.rq = append(m.rq, rxChunk{buf: buf, data: data})
		m.rqBytes += len(data)
	}
	if m.probing && off+uint64(len(data)) > m.probeOff {
		m.probing = false
		if d := now.Sub(m.probeAt); m.rtt == 0 || d < m.rtt {
			m.rtt = d
		}
	}
	m.off += uint64(len(data))
	m.grow(now)
	m.unacked += len(data)
	if m.unacked >= ackEvery {
		m.unacked, m.ackAt = 0, time.Time{}
		m.requestAck(m.off, m.advertise())
	} else if m.ackAt.IsZero() {
		m.ackAt = now.Add(ackDelay)
	}
	return nil
}

// onAck drops acknowledged bytes from the send queue and takes the other
// end's receive limit.
func (m *machine) onAck(off, limit uint64) error {
	if err := m.ackedTo(off); err != nil {
		return err
	}
	m.peerLimit = max(m.peerLimit, limit)
	m.growSend()
	return nil
}

// grow is receive-window auto-tuning, as in QUIC and HTTP/2 stacks: when
// a whole window arrived within two window round trips, the window was
// what held the sender back, and it doubles, up to MaxWindow and as far
// as the budget's credit allows. Data arrives no faster than the reader
// makes room, so a reader slower than half a window per round trip never
// grows its window, and a stalled one holds what it did.
func (m *machine) grow(now time.Time) {
	if m.epochAt.IsZero() {
		m.epochAt, m.epochOff = now, m.off
		return
	}
	if m.off-m.epochOff < uint64(m.rwnd) {
		return
	}
	fast := m.rtt > 0 && now.Sub(m.epochAt) < 2*m.rtt
	m.epochAt, m.epochOff = now, m.off
	if !fast || m.rwnd >= m.lim.MaxWindow || m.closed || m.ended {
		return
	}
	g := m.lim.Budget.take(int64(min(m.rwnd, m.lim.MaxWindow-m.rwnd)))
	if g == 0 {
		return
	}
	m.rxCredit += g
	m.rwnd += int(g)
	m.requestAck(m.off, m.advertise())
}

// growSend sizes the send queue to the other end's window: as large as
// what it may have in flight (up to MaxWindow), never below SendBuffer,
// with budget credit for the part above SendBuffer.
func (m *machine) growSend() {
	if m.ended || m.peerLimit <= m.acked {
		return
	}
	want := int64(min(m.peerLimit-m.acked, uint64(m.lim.MaxWindow))) - int64(m.lim.SendBuffer)
	if want > m.txCredit {
		m.txCredit += m.lim.Budget.take(want - m.txCredit)
	}
}

// releaseCredit gives the budget back what the connection holds.
func (m *machine) releaseCredit() {
	m.lim.Budget.give(m.rxCredit + m.txCredit)
	m.rxCredit, m.txCredit = 0, 0
}

func (m *machine) ackedTo(off uint64) error {
	if m.ended {
		return nil // the queue is gone
	}
	if off > m.written {
		return fmt.Errorf("%w: ack of %d, only %d written", ErrProtocol, off, m.written)
	}
	if off > m.acked {
		m.q.drop(int(off - m.acked))
		m.acked = off
		if m.q.size == 0 && m.txCredit > 0 {
			// Nothing queued: the send credit goes back until the
			// next ack asks for it again.
			m.lim.Budget.give(m.txCredit)
			m.txCredit = 0
		}
	}
	m.sent = max(m.sent, m.acked)
	return nil
}

func (m *machine) onFin(off uint64) error {
	if off != m.off {
		return fmt.Errorf("%w: fin at %d, received %d", ErrProtocol, off, m.off)
	}
	m.fin = true // a fin resent after a failover changes nothing
	return nil
}

// onReset: the other end is gone. Reads end (io.EOF if it had sent a fin,
// ErrReset otherwise); writes fail with ErrReset. A closed session is
// then over.
func (m *machine) onReset(code byte) {
	var err error = ErrReset
	if code == resetAbort {
		err = fmt.Errorf("%w: the other end failed", ErrReset)
	}
	if m.rxErr == nil && !m.fin {
		m.rxErr = err
	}
	m.peerGone = true
	if m.txErr == nil {
		m.txErr = err
	}
	if m.closed {
		m.end(nil)
	}
}

// Paths.

// attach starts a dialler's new path: it sends a resume and nothing
// else until the answer, for at most StallTimeout.
func (m *machine) attach(now time.Time) {
	m.finding = false
	m.phase = phaseResuming
	m.resumeDue = true
	m.attemptBy = now.Add(m.lim.StallTimeout)
	m.lastRecv, m.lastSent = now, now
}

// onResumed takes the target's answer on a resuming path: resend from
// what it has. It returns how long the failover took.
func (m *machine) onResumed(now time.Time, off uint64) (time.Duration, error) {
	if !m.dialer || m.phase != phaseResuming || m.resumeDue {
		return 0, fmt.Errorf("%w: unexpected resumed record", ErrProtocol)
	}
	if err := m.resendFrom(off); err != nil {
		return 0, err
	}
	took := now.Sub(m.failingSince)
	m.phase = phaseOK
	m.failingSince, m.failCause, m.attemptBy = time.Time{}, nil, time.Time{}
	m.backoff = firstBackoff
	return took, nil
}

// adopt moves the target's session onto a path a checked resume opened:
// it answers resumed and resends from what the dialler has.
func (m *machine) adopt(now time.Time, off uint64) error {
	if err := m.resendFrom(off); err != nil {
		return err
	}
	m.phase = phaseOK
	m.resumeDue = true
	m.resumeBy, m.goneBy = time.Time{}, time.Time{}
	m.lastRecv, m.lastSent = now, now
	return nil
}

// resendFrom has the new path resend everything from off (what the other
// end has), fin and reset included, and repeat our ack and limit.
func (m *machine) resendFrom(off uint64) error {
	if err := m.ackedTo(off); err != nil {
		return err
	}
	m.sent = m.acked
	m.finSent, m.resetSent = false, false
	m.ackSent, m.limitSent = 0, 0
	// A new path: its round trip is yet to be seen.
	m.rtt, m.probing, m.epochAt = 0, false, time.Time{}
	return nil
}

// verdict is what the loop does about a lost path.
type verdict uint8

const (
	verdictNone     verdict = iota // nothing: not the path in use, or the session is over
	verdictEnd                     // the session ended (see err)
	verdictFailover                // dialler: find another path
	verdictWait                    // target: wait for a resume
)

// pathLost handles the loss of the path in use. replaceable is false for
// a path nothing can replace (a same-node pipe).
func (m *machine) pathLost(now time.Time, cause error, replaceable bool) verdict {
	if m.ended {
		return verdictNone
	}
	if m.peerGone || (m.resetSent && m.closed) {
		m.end(nil) // the exchange was over: the path closing is expected
		return verdictEnd
	}
	if !replaceable {
		m.end(fmt.Errorf("%w: %w", ErrPathBroken, cause))
		return verdictEnd
	}
	was := m.phase
	m.phase = phaseNone
	m.resumeDue = false
	if !m.dialer {
		if m.resumeBy.IsZero() {
			m.resumeBy = now.Add(m.lim.FailoverTimeout + resumeGrace)
			m.failCause = cause
		}
		m.capResume(now)
		return verdictWait
	}
	m.attemptBy = time.Time{}
	if was == phaseResuming {
		m.retryAt = now.Add(m.backoff) // that attempt failed: try the next
		m.backoff = min(2*m.backoff, maxBackoff)
	} else if m.failingSince.IsZero() {
		m.failingSince, m.failCause = now, cause
		m.retryAt = now
	}
	return verdictFailover
}

// findDue reports whether the dialler should ask for a path now; it then
// counts the request as out until attach or findFailed.
func (m *machine) findDue(now time.Time) bool {
	if !m.dialer || m.ended || m.phase != phaseNone || m.failingSince.IsZero() || m.finding || now.Before(m.retryAt) {
		return false
	}
	m.finding = true
	return true
}

// findFailed: no path this time; try again after a pause, unless the
// cause is final.
func (m *machine) findFailed(now time.Time, err error) {
	m.finding = false
	if errors.Is(err, ErrClosed) {
		m.end(m.brokenErr())
		return
	}
	m.retryAt = now.Add(m.backoff)
	m.backoff = min(2*m.backoff, maxBackoff)
}

func (m *machine) brokenErr() error {
	return fmt.Errorf("%w: no path within %v (first lost: %w)", ErrPathBroken, m.lim.FailoverTimeout, m.failCause)
}

// Timing.

// deadline is when tick must run next (zero: nothing pending).
func (m *machine) deadline() time.Time {
	var t time.Time
	at := func(u time.Time) {
		if !u.IsZero() && (t.IsZero() || u.Before(t)) {
			t = u
		}
	}
	if m.ended {
		return t
	}
	at(m.ackAt)
	at(m.lingerBy)
	at(m.resumeBy)
	switch m.phase {
	case phaseOK:
		if !m.pingDue && !m.peerGone {
			at(m.lastSent.Add(m.lim.Heartbeat))
		}
		at(m.lastRecv.Add(m.lim.StallTimeout))
	case phaseResuming:
		at(m.attemptBy)
	case phaseNone:
		if m.dialer && !m.finding {
			at(m.retryAt)
		}
	}
	if !m.failingSince.IsZero() {
		at(m.failingSince.Add(m.lim.FailoverTimeout))
	}
	return t
}

// tick acts on every deadline that has passed: a delayed ack, a ping on
// a quiet path, the end of Linger, of a failover or of the wait for a
// resume. It returns why the path in use counts as lost (it stalled, or a
// resume went unanswered), or nil.
func (m *machine) tick(now time.Time) error {
	if m.ended {
		return nil
	}
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	if due(m.ackAt) {
		m.ackAt, m.unacked = time.Time{}, 0
		m.requestAck(m.off, m.advertise())
	}
	if due(m.lingerBy) {
		m.end(fmt.Errorf("%w: unsent data dropped after %v", ErrClosed, m.lim.Linger))
		return nil
	}
	if due(m.resumeBy) {
		m.end(m.noResumeErr())
		return nil
	}
	if !m.failingSince.IsZero() && due(m.failingSince.Add(m.lim.FailoverTimeout)) {
		m.end(m.brokenErr())
		return nil
	}
	switch m.phase {
	case phaseOK:
		if silent := now.Sub(m.lastRecv); silent >= m.lim.StallTimeout {
			return fmt.Errorf("%w: nothing received for %v", ErrStalled, silent.Round(time.Millisecond))
		}
		if now.Sub(m.lastSent) >= m.lim.Heartbeat {
			m.pingDue = true
		}
	case phaseResuming:
		if due(m.attemptBy) {
			return fmt.Errorf("%w: no answer to a resume within %v", ErrStalled, m.lim.StallTimeout)
		}
	}
	return nil
}

// Sending.

// batch is what the path in use should send next, in this order.
type batch struct {
	hello     bool   // dialler's hello
	resume    bool   // dialler: resume; target: resumed (both with resumeOff)
	resumeOff uint64 // what we have received
	ack       bool
	ackOff    uint64
	limit     uint64
	dataOff   uint64
	data      [][]byte // slices of the send queue, valid until the next ack is taken
	dataLen   int
	fin       bool
	finOff    uint64
	reset     byte
	ping      bool
}

func (b batch) empty() bool {
	return !b.hello && !b.resume && !b.ack && len(b.data) == 0 && !b.fin && b.reset == 0 && !b.ping
}

// resetDue reports whether the closing reset may go out: after the fin,
// and once the other end has acknowledged every byte. Until then the
// session lingers, so a Close followed at once by the node shutting down
// still delivers what was written.
func (m *machine) resetDue() bool {
	return m.reset != 0 && !m.resetSent && m.finSent && m.acked == m.written
}

// sendable is the offset data may be sent up to: what was written, within
// the other end's receive limit.
func (m *machine) sendable() uint64 { return min(m.written, m.peerLimit) }

// hasWork reports whether next would return something.
func (m *machine) hasWork() bool {
	if m.ended || m.peerGone || m.txErr != nil || m.phase == phaseNone {
		return false
	}
	if m.phase == phaseResuming {
		return m.resumeDue
	}
	return m.helloDue || m.resumeDue || m.ackDue > m.ackSent || m.limitDue > m.limitSent || m.pingDue ||
		m.sent < m.sendable() || (m.finQueued && !m.finSent) || m.resetDue()
}

// next takes what the path in use should send now, with at most maxData
// bytes of data.
func (m *machine) next(now time.Time, maxData int) batch {
	var b batch
	if !m.hasWork() {
		return b
	}
	m.lastSent = now
	if m.resumeDue {
		b.resume, b.resumeOff = true, m.off
		m.resumeDue = false
		if m.phase == phaseResuming {
			return b // the dialler sends nothing else until the answer
		}
	}
	b.hello, m.helloDue = m.helloDue, false
	if m.ackDue > m.ackSent || m.limitDue > m.limitSent {
		b.ack, b.ackOff, b.limit = true, m.ackDue, m.limitDue
		m.ackSent, m.limitSent = m.ackDue, m.limitDue
		if m.limitDue > m.limitOut {
			if !m.probing {
				m.probing, m.probeOff, m.probeAt = true, m.limitOut, now
			}
			m.limitOut = m.limitDue
		}
	}
	b.dataOff = m.sent
	for end := m.sendable(); m.sent < end && b.dataLen < maxData; {
		c := m.q.slice(int(m.sent-m.acked), min(int(end-m.sent), maxData-b.dataLen))
		b.data = append(b.data, c)
		b.dataLen += len(c)
		m.sent += uint64(len(c))
	}
	if m.finQueued && !m.finSent && m.sent == m.written {
		b.fin, b.finOff = true, m.written
		m.finSent = true
	}
	if m.resetDue() {
		b.reset = m.reset
		m.resetSent = true
	}
	b.ping = m.pingDue && b.empty()
	m.pingDue = false
	return b
}

// Ending.

// end finishes the session: orderly (err nil) or failed. The first call
// decides. Reads and writes fail from then on, and every buffer goes
// back to the pool.
func (m *machine) end(err error) {
	if m.ended {
		return
	}
	m.ended, m.err = true, err
	if err == nil {
		err = ErrClosed
	}
	if m.txErr == nil {
		m.txErr = err
	}
	if m.rxErr == nil {
		m.rxErr = err
	}
	m.q.reset()
	m.releaseCredit()
	m.ackAt, m.lingerBy, m.resumeBy, m.attemptBy, m.failingSince = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

// release returns queued receive buffers to the pool once nobody will
// read them.
func (m *machine) release() {
	for _, c := range m.rq {
		bufpool.Put(c.buf)
	}
	m.rq, m.rqBytes = nil, 0
}
