package session

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

// These tests drive the reliability state machine alone on a fake clock:
// time moves only when a test says so, and nothing sleeps.

var testLimits = limits{
	SendBuffer:      2 << 20,
	RecvBuffer:      1 << 20,
	Heartbeat:       time.Second,
	StallTimeout:    4 * time.Second,
	FailoverTimeout: 20 * time.Second,
	Linger:          10 * time.Second,
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// clock is the fake clock.
type clock struct{ now time.Time }

func (c *clock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

// pair is a dialler and a target machine joined by a path that delivers
// batches when told to.
type pair struct {
	t    *testing.T
	clk  *clock
	d, g *machine // dialler, target ("g" for the one that gets the call)
}

func newPair(t *testing.T, lim limits) *pair {
	p := &pair{t: t, clk: &clock{t0}, d: newMachine(lim, true), g: newMachine(lim, false)}
	p.d.start(t0)
	p.g.start(t0)
	return p
}

// deliver applies one batch from one end to the other, as the loop does
// with the records it reads. It returns the first error.
func deliver(now time.Time, to *machine, b batch) error {
	to.received(now)
	if b.resume && to.dialer {
		if _, err := to.onResumed(now, b.resumeOff); err != nil {
			return err
		}
	}
	if b.ack {
		if err := to.onAck(b.ackOff, b.limit); err != nil {
			return err
		}
	}
	off := b.dataOff
	for _, c := range b.data {
		buf := bufpool.Get(len(c))
		copy(*buf, c)
		if err := to.onData(now, off, *buf, buf); err != nil {
			return err
		}
		off += uint64(len(c))
	}
	if b.fin {
		if err := to.onFin(b.finOff); err != nil {
			return err
		}
	}
	if b.reset != 0 {
		to.onReset(b.reset)
	}
	return nil
}

// flush moves batches both ways until neither end has anything to send.
func (p *pair) flush() {
	p.t.Helper()
	for range 10000 {
		bd := p.d.next(p.clk.now, 4*maxRecordData)
		bg := p.g.next(p.clk.now, 4*maxRecordData)
		if bd.empty() && bg.empty() {
			return
		}
		require.NoError(p.t, deliver(p.clk.now, p.g, bd))
		require.NoError(p.t, deliver(p.clk.now, p.d, bg))
	}
	p.t.Fatal("the two ends never went quiet")
}

func readAll(m *machine) []byte {
	var out []byte
	buf := make([]byte, 100_000)
	for {
		n, _ := m.read(buf)
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

func TestDataGoesOutWithinTheSendBuffer(t *testing.T) {
	m := newMachine(limits{SendBuffer: 100, RecvBuffer: 1 << 20, Heartbeat: time.Second, StallTimeout: 4 * time.Second}, true)
	m.start(t0)
	require.Equal(t, 100, m.write(make([]byte, 150)), "the send buffer bounds a write")
	require.Zero(t, m.write([]byte{1}), "a full buffer takes nothing")
	b := m.next(t0, 1<<20)
	require.True(t, b.hello, "the dialler's hello goes first")
	require.Equal(t, 100, b.dataLen)
	require.NoError(t, m.onAck(60, 60+initialWindow))
	require.Equal(t, 60, m.write(make([]byte, 150)), "acked bytes make room")
	require.ErrorIs(t, m.onAck(161, 0), ErrProtocol, "an ack of bytes never written")
}

func TestTheSenderKeepsWithinTheReceiverLimit(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	m.write(make([]byte, 2<<20))
	var sent int
	for {
		b := m.next(t0, 4*maxRecordData)
		if b.empty() {
			break
		}
		sent += b.dataLen
	}
	require.Equal(t, initialWindow, sent, "before any ack, the initial window")
	require.NoError(t, m.onAck(0, initialWindow+1000))
	require.Equal(t, 1000, m.next(t0, 1<<20).dataLen, "exactly what the new limit allows")
	require.NoError(t, m.onAck(0, 10), "a lower limit than before...")
	require.True(t, m.next(t0, 1<<20).empty(), "...takes back nothing and sends nothing more")
}

func TestTheReceiverAcceptsEverythingWithinItsLimitAndNothingPast(t *testing.T) {
	m := newMachine(testLimits, false)
	m.start(t0)
	data := func(n int) ([]byte, *[]byte) { b := bufpool.Get(n); return *b, b }
	d, buf := data(initialWindow)
	// An application that reads nothing: the reader still takes all of
	// it, up to the limit.
	require.NoError(t, m.onData(t0, 0, d, buf))
	require.Equal(t, uint64(testLimits.RecvBuffer), m.recvLimit(), "the limit is what was consumed plus the receive buffer")
	d, buf = data(testLimits.RecvBuffer - initialWindow)
	require.NoError(t, m.onData(t0, initialWindow, d, buf))
	d, buf = data(1)
	require.ErrorIs(t, m.onData(t0, uint64(testLimits.RecvBuffer), d, buf), ErrProtocol, "one byte past the limit")
}

func TestReadingAQuarterOfTheBufferSendsAWindowUpdate(t *testing.T) {
	p := newPair(t, testLimits)
	p.d.write(make([]byte, 3<<20))
	p.flush()
	require.Equal(t, uint64(testLimits.RecvBuffer), p.g.off, "the dialler filled the target's window, no more")
	require.Equal(t, p.g.off, p.d.acked, "and everything sent is acknowledged")
	buf := make([]byte, testLimits.RecvBuffer/4-1)
	n, err := p.g.read(buf)
	require.NoError(t, err)
	require.Equal(t, len(buf), n)
	require.True(t, p.g.next(p.clk.now, 0).empty(), "less than a quarter read: no update yet")
	_, err = p.g.read(buf[:1])
	require.NoError(t, err)
	b := p.g.next(p.clk.now, 0)
	require.True(t, b.ack)
	require.Equal(t, uint64(testLimits.RecvBuffer+testLimits.RecvBuffer/4), b.limit)
	require.NoError(t, deliver(p.clk.now, p.d, b))
	require.Equal(t, testLimits.RecvBuffer/4, p.d.next(p.clk.now, 1<<20).dataLen, "the sender uses the new room")
}

func TestAClosedEndStopsQueueingAndOpensItsWindow(t *testing.T) {
	p := newPair(t, testLimits)
	p.d.write(make([]byte, 3<<20))
	p.flush()
	p.g.close(p.clk.now)
	require.Zero(t, p.g.rqBytes, "nothing is kept for a reader that is gone")
	b := p.g.next(p.clk.now, 0)
	require.True(t, b.ack)
	require.Equal(t, p.g.off+uint64(testLimits.RecvBuffer), b.limit, "the whole buffer is free again")
	require.Equal(t, resetClosed, b.reset, "and, nothing of its own unacknowledged, it says goodbye")
}

func TestAcksAreSentEvery256KiBOrAfter20ms(t *testing.T) {
	m := newMachine(testLimits, false)
	m.start(t0)
	on := func(off, n int) {
		b := bufpool.Get(n)
		require.NoError(t, m.onData(t0, uint64(off), *b, b))
	}
	on(0, 1000)
	require.Equal(t, t0.Add(ackDelay), m.deadline(), "the delayed ack is the next deadline")
	require.False(t, m.next(t0, 0).ack, "not yet")
	require.NoError(t, m.tick(t0.Add(ackDelay-time.Nanosecond)))
	require.False(t, m.next(t0, 0).ack, "still not")
	require.NoError(t, m.tick(t0.Add(ackDelay)))
	b := m.next(t0.Add(ackDelay), 0)
	require.True(t, b.ack)
	require.Equal(t, uint64(1000), b.ackOff)

	on(1000, ackEvery-1)
	require.False(t, m.next(t0, 0).ack)
	on(1000+ackEvery-1, 1)
	b = m.next(t0, 0)
	require.True(t, b.ack, "256 KiB since the last ack: at once")
	require.Equal(t, uint64(1000+ackEvery), b.ackOff)
	require.True(t, m.ackAt.IsZero(), "and the delayed ack is off")
}

func TestAQuietPathGetsAPingAndASilentOneStalls(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	m.next(t0, 0) // the hello
	require.Equal(t, t0.Add(time.Second), m.deadline(), "the heartbeat")
	require.NoError(t, m.tick(t0.Add(time.Second)))
	require.True(t, m.next(t0.Add(time.Second), 0).ping)
	require.Equal(t, t0.Add(2*time.Second), m.deadline())

	m.received(t0.Add(2 * time.Second))
	require.NoError(t, m.tick(t0.Add(5*time.Second)), "silent for 3s: still fine")
	m.next(t0.Add(5*time.Second), 0)
	require.Equal(t, t0.Add(6*time.Second), m.deadline(), "the stall timeout")
	err := m.tick(t0.Add(6 * time.Second))
	require.ErrorIs(t, err, ErrStalled, "silent for StallTimeout")
}

func TestTheDiallerFailsOverAndResendsFromWhatTheTargetHas(t *testing.T) {
	p := newPair(t, testLimits)
	p.d.write([]byte("0123456789"))
	b := p.d.next(p.clk.now, 1<<20)
	require.NoError(t, deliver(p.clk.now, p.g, batch{dataOff: b.dataOff, data: [][]byte{b.data[0][:4]}})) // the path broke after 4 bytes
	p.d.write([]byte("abc"))

	now := p.clk.advance(time.Second)
	require.Equal(t, verdictFailover, p.d.pathLost(now, io.ErrUnexpectedEOF, true))
	require.Equal(t, verdictWait, p.g.pathLost(now, io.ErrUnexpectedEOF, true))
	require.True(t, p.d.next(now, 1<<20).empty(), "no path, nothing to send")
	require.True(t, p.d.findDue(now))
	require.False(t, p.d.findDue(now), "one request at a time")

	now = p.clk.advance(300 * time.Millisecond)
	p.d.attach(now)
	b = p.d.next(now, 1<<20)
	require.True(t, b.resume, "a resume first")
	require.Zero(t, b.dataLen, "and nothing else before the answer")
	require.True(t, p.d.next(now, 1<<20).empty())

	require.NoError(t, p.g.adopt(now, 0)) // the dialler had received nothing
	bg := p.g.next(now, 1<<20)
	require.True(t, bg.resume, "the target answers resumed")
	require.Equal(t, uint64(4), bg.resumeOff, "with what it has")
	took, err := p.d.onResumed(now, bg.resumeOff)
	require.NoError(t, err)
	require.Equal(t, 300*time.Millisecond, took)
	b = p.d.next(now, 1<<20)
	require.Equal(t, uint64(4), b.dataOff, "resent from the target's offset")
	require.NoError(t, deliver(now, p.g, b))
	require.Equal(t, "0123456789abc", string(readAll(p.g)), "nothing lost, nothing twice")
}

func TestDuplicateAndOverlappingDataAfterAResumeIsSkipped(t *testing.T) {
	m := newMachine(testLimits, false)
	m.start(t0)
	on := func(off int, s string) error {
		b := bufpool.Get(len(s))
		copy(*b, s)
		return m.onData(t0, uint64(off), *b, b)
	}
	require.NoError(t, on(0, "hello"))
	require.NoError(t, on(0, "hel"), "all of it already here")
	require.NoError(t, on(3, "lo, world"), "overlapping: the new part is kept")
	require.ErrorIs(t, on(20, "gap"), ErrProtocol, "a gap is not")
	require.Equal(t, "hello, world", string(readAll(m)))
	require.ErrorIs(t, m.onFin(5), ErrProtocol, "a fin must be where the data ends")
	require.NoError(t, m.onFin(12))
	require.NoError(t, on(0, "hello, world"), "a fin resent with the data after a resume changes nothing")
	_, err := m.read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestFailedAttemptsBackOffAndTheFailoverTimeoutEndsTheSession(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	require.Equal(t, verdictFailover, m.pathLost(t0, io.EOF, true))
	require.True(t, m.findDue(t0))
	m.findFailed(t0, io.EOF)
	require.Equal(t, t0.Add(firstBackoff), m.deadline(), "the first pause")
	require.False(t, m.findDue(t0.Add(firstBackoff-1)))
	require.True(t, m.findDue(t0.Add(firstBackoff)))

	// A path that never answers its resume counts as lost after StallTimeout.
	now := t0.Add(time.Second)
	m.attach(now)
	m.next(now, 0)
	require.Equal(t, now.Add(testLimits.StallTimeout), m.deadline())
	err := m.tick(now.Add(testLimits.StallTimeout))
	require.ErrorIs(t, err, ErrStalled)
	require.Equal(t, verdictFailover, m.pathLost(now.Add(testLimits.StallTimeout), err, true))
	require.Equal(t, now.Add(testLimits.StallTimeout+2*firstBackoff), m.retryAt, "the pause doubles")

	require.NoError(t, m.tick(t0.Add(testLimits.FailoverTimeout-1)))
	require.False(t, m.ended)
	require.NoError(t, m.tick(t0.Add(testLimits.FailoverTimeout)))
	require.True(t, m.ended)
	require.ErrorIs(t, m.err, ErrPathBroken)
	require.ErrorIs(t, m.writeErr(), ErrPathBroken, "writes fail with it")
	_, err = m.read(make([]byte, 1))
	require.ErrorIs(t, err, ErrPathBroken, "and reads")
}

func TestAClosedRouterEndsAFailover(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	m.pathLost(t0, io.EOF, true)
	require.True(t, m.findDue(t0))
	m.findFailed(t0, ErrClosed)
	require.True(t, m.ended)
	require.ErrorIs(t, m.err, ErrPathBroken)
}

func TestTheTargetWaitsForAResumeThenGivesUp(t *testing.T) {
	m := newMachine(testLimits, false)
	m.start(t0)
	require.Equal(t, verdictWait, m.pathLost(t0, io.EOF, true))
	require.False(t, m.findDue(t0), "a target never looks for a path")
	wait := testLimits.FailoverTimeout + resumeGrace
	require.Equal(t, t0.Add(wait), m.deadline())
	require.NoError(t, m.tick(t0.Add(wait-1)))
	require.False(t, m.ended)
	require.NoError(t, m.tick(t0.Add(wait)))
	require.ErrorIs(t, m.err, ErrPathBroken)
}

func TestASameNodePathCannotBeReplaced(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	require.Equal(t, verdictEnd, m.pathLost(t0, io.EOF, false))
	require.ErrorIs(t, m.err, ErrPathBroken)
}

func TestCloseSendsFinThenResetOnceEverythingIsAcked(t *testing.T) {
	p := newPair(t, testLimits)
	p.d.write([]byte("bye"))
	p.d.close(p.clk.now)
	b := p.d.next(p.clk.now, 1<<20)
	require.True(t, b.fin)
	require.Equal(t, uint64(3), b.finOff)
	require.Zero(t, b.reset, "no reset before the bytes are acknowledged")
	require.NoError(t, deliver(p.clk.now, p.g, b))
	require.NoError(t, p.g.tick(p.clk.advance(ackDelay)))
	require.NoError(t, deliver(p.clk.now, p.d, p.g.next(p.clk.now, 0)))
	b = p.d.next(p.clk.now, 1<<20)
	require.Equal(t, resetClosed, b.reset, "now the reset")
	require.NoError(t, deliver(p.clk.now, p.g, b))
	require.Equal(t, "bye", string(readAll(p.g)))
	_, err := p.g.read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "after a fin, the reset reads as EOF")
	require.ErrorIs(t, p.g.writeErr(), ErrReset, "and writes fail")
	require.Equal(t, verdictEnd, p.d.pathLost(p.clk.now, io.EOF, true), "after the goodbye, a path closing ends the session")
	require.NoError(t, p.d.err)
}

func TestLingerBoundsAClose(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	m.write([]byte("never acked"))
	m.close(t0)
	require.ErrorIs(t, m.writeErr(), ErrClosed)
	m.tick(t0.Add(testLimits.Linger - 1)) // the silent path is the loop's business
	require.False(t, m.ended)
	require.NoError(t, m.tick(t0.Add(testLimits.Linger)))
	require.ErrorIs(t, m.err, ErrClosed)
}

func TestAResetEndsReadsAndWrites(t *testing.T) {
	m := newMachine(testLimits, true)
	m.start(t0)
	m.onReset(resetAbort)
	_, err := m.read(make([]byte, 1))
	require.ErrorIs(t, err, ErrReset)
	require.ErrorIs(t, m.writeErr(), ErrReset)
	require.False(t, m.ended, "the application still has to close")
	require.True(t, m.next(t0, 1<<20).empty(), "nothing more goes out")
	m.close(t0)
	require.True(t, m.ended)
	require.NoError(t, m.err, "an orderly end")
}

// TestRandomExchangesMatchAReference runs both ends through random
// writes, reads, deliveries, losses of the path and resumes on the fake
// clock, and checks what each end read against what the other wrote.
func TestRandomExchangesMatchAReference(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 1))
		lim := testLimits
		lim.SendBuffer = 1 + rng.IntN(100<<10)
		lim.RecvBuffer = 1 + rng.IntN(100<<10)
		p := newPair(t, lim)
		var wrote [2][]byte
		var got [2][]byte
		ends := [2]*machine{p.d, p.g}
		var inflight [2][]batch // batches on the path toward ends[i]
		next := byte(0)
		for step := 0; step < 3000; step++ {
			i := rng.IntN(2)
			m := ends[i]
			switch op := rng.IntN(10); {
			case op < 3:
				b := make([]byte, rng.IntN(20<<10))
				for j := range b {
					b[j] = next
					next++
				}
				n := m.write(b)
				wrote[i] = append(wrote[i], b[:n]...)
			case op < 5:
				buf := make([]byte, rng.IntN(40<<10))
				n, err := m.read(buf)
				require.NoError(t, err)
				got[i] = append(got[i], buf[:n]...)
			case op < 8:
				if b := m.next(p.clk.now, 1+rng.IntN(300<<10)); !b.empty() {
					inflight[1-i] = append(inflight[1-i], b)
				}
			case op < 9:
				if len(inflight[i]) > 0 {
					require.NoError(t, deliver(p.clk.now, m, inflight[i][0]), "seed %d step %d", seed, step)
					inflight[i] = inflight[i][1:]
				}
			default:
				if rng.IntN(10) > 0 {
					p.clk.advance(time.Duration(rng.IntN(30)) * time.Millisecond)
					for _, m := range ends {
						m.tick(p.clk.now) // a stall changes nothing here: the path breaks only below
						require.False(t, m.ended)
					}
					continue
				}
				// The path breaks: what is in flight is lost, and the dialler
				// resumes on a new one.
				inflight = [2][]batch{}
				p.d.pathLost(p.clk.now, io.EOF, true)
				p.g.pathLost(p.clk.now, io.EOF, true)
				require.True(t, p.d.findDue(p.clk.now))
				p.d.attach(p.clk.now)
				r := p.d.next(p.clk.now, 0)
				require.True(t, r.resume)
				require.NoError(t, p.g.adopt(p.clk.now, r.resumeOff))
				a := p.g.next(p.clk.now, 0)
				require.True(t, a.resume)
				_, err := p.d.onResumed(p.clk.now, a.resumeOff)
				require.NoError(t, err)
				// The rest of the target's batch (its ack, data) is its own
				// first delivery on the new path.
				a.resume = false
				inflight[0] = append(inflight[0], a)
			}
			require.LessOrEqual(t, m.q.size, lim.SendBuffer, "the send buffer holds")
			require.LessOrEqual(t, m.rqBytes, max(lim.RecvBuffer, initialWindow), "the receive queue holds")
		}
		// Drain: everything written arrives, in order, once.
		for _, b := range inflight[0] {
			require.NoError(t, deliver(p.clk.now, p.d, b))
		}
		for _, b := range inflight[1] {
			require.NoError(t, deliver(p.clk.now, p.g, b))
		}
		for range 1000 {
			p.flush()
			got[0] = append(got[0], readAll(p.d)...)
			got[1] = append(got[1], readAll(p.g)...)
			p.clk.advance(ackDelay)
			p.d.tick(p.clk.now)
			p.g.tick(p.clk.now)
			if len(got[0]) == len(wrote[1]) && len(got[1]) == len(wrote[0]) {
				break
			}
		}
		require.True(t, bytes.Equal(wrote[0], got[1]), "seed %d: dialler -> target", seed)
		require.True(t, bytes.Equal(wrote[1], got[0]), "seed %d: target -> dialler", seed)
	}
}
