package quic

import (
	"container/heap"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The tests below drive congestion controllers through a discrete-event
// simulation of one bottleneck (simPath), on synthetic MonoTime: no
// sleeps and no wall clock, so each run is the same.

const simMSS = ByteCount(1280)

// simPath is one bottleneck: rate bytes a second, a drop-tail queue of
// queue bytes in front of it, delay each way, and random loss at the
// rate loss (from a PCG seeded with seed) on top. The receiver acks
// every packet at once, or with ackEvery > 1 every ackEvery packets or
// 25 ms after the first it has not acked (one ack frame: the sender
// hears of the packets together), as QUIC receivers do.
type simPath struct {
	rate     float64
	delay    time.Duration
	queue    ByteCount
	loss     float64
	seed     uint64
	ackEvery int
}

const simMaxAckDelay = 25 * time.Millisecond

// bdp returns the path's bandwidth-delay product.
func (p simPath) bdp() ByteCount { return ByteCount(p.rate * (2 * p.delay).Seconds()) }

// simResult is what a run measured between its from and to.
type simResult struct {
	rate      float64       // bytes acked a second
	lossRate  float64       // of the packets sent, dropped (queue or random)
	queueP50  time.Duration // queueing delay of the packets admitted, median
	maxExtra  int           // most per-packet records beyond the packets in flight (bbr only)
	rtos      int           // tail losses only a timeout found
	ackFrames int
	sentTotal int
}

type simEvent struct {
	at   MonoTime
	seq  uint64
	kind uint8 // simSend, simArrive, simAckTimer, simAck
	pn   PacketNumber
	acks []PacketNumber // simAck: the packets an ack frame acks
}

const (
	simSend = iota
	simArrive
	simAckTimer
	simAck
)

type simEvents []simEvent

func (h simEvents) Len() int { return len(h) }
func (h simEvents) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h simEvents) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *simEvents) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *simEvents) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// simulate runs a bulk sender with cc over path for dur and measures
// the interval [from, to).
func simulate(cc CongestionControl, path simPath, dur, from, to time.Duration) simResult {
	const start = MonoTime(time.Second) // not the zero MonoTime
	rng := rand.New(rand.NewPCG(path.seed, 1))
	var (
		events  simEvents
		seq     uint64
		now     = start
		sendAt  MonoTime // a pending send event, 0 none
		pn      PacketNumber
		free    = start // when the bottleneck has sent what it holds
		queue   []PacketNumber
		qHead   int
		dropped = map[PacketNumber]bool{}
		unacked []PacketNumber // at the receiver
		ackGen  PacketNumber   // the ack timer's generation
		inFl    ByteCount
		res     simResult

		acked, sentIn, droppedIn int
		delays                   [2001]int // queueing delay histogram, ms
		delayN                   int
	)
	in := func(t MonoTime) bool { return t.Sub(start) >= from && t.Sub(start) < to }
	push := func(e simEvent) {
		seq++
		e.seq = seq
		heap.Push(&events, e)
	}
	b, _ := cc.(*bbr)
	check := func() {
		if b != nil {
			res.maxExtra = max(res.maxExtra, len(b.sent)-int(inFl/simMSS))
		}
	}
	trySend := func() {
		for i := 0; i < 100000 && cc.CanSend(inFl); i++ {
			if !cc.HasPacingBudget(now) {
				at := cc.TimeUntilSend(inFl)
				if at <= now {
					at = now + 1000
				}
				if sendAt == 0 || at < sendAt {
					sendAt = at
					push(simEvent{at: at, kind: simSend})
				}
				return
			}
			cc.OnPacketSent(now, inFl, pn, simMSS, true)
			inFl += simMSS
			queue = append(queue, pn)
			res.sentTotal++
			if in(now) {
				sentIn++
			}
			begin := max(free, now)
			queued := ByteCount(begin.Sub(now).Seconds() * path.rate)
			if queued+simMSS > path.queue || rng.Float64() < path.loss {
				dropped[pn] = true
				if in(now) {
					droppedIn++
				}
			} else {
				if in(now) {
					delays[min(int(begin.Sub(now)/time.Millisecond), len(delays)-1)]++
					delayN++
				}
				free = begin.Add(time.Duration(float64(simMSS) / path.rate * 1e9))
				push(simEvent{at: free.Add(path.delay), kind: simArrive, pn: pn})
			}
			pn++
			check()
		}
	}
	// loseBefore declares lost every packet in flight sent before n: the
	// path keeps order, so a later ack proves them gone.
	loseBefore := func(n PacketNumber) {
		for qHead < len(queue) && queue[qHead] < n {
			lost := queue[qHead]
			qHead++
			if !dropped[lost] {
				panic("an ack overtook a packet still on the path")
			}
			delete(dropped, lost)
			cc.OnCongestionEvent(lost, simMSS, inFl)
			inFl -= simMSS
		}
		if qHead > 1<<16 {
			queue, qHead = append([]PacketNumber(nil), queue[qHead:]...), 0
		}
	}
	trySend()
	for now.Sub(start) < dur {
		if len(events) == 0 {
			// Nothing will happen: a timeout finds the tail lost.
			now = now.Add(3 * 2 * path.delay)
			res.rtos++
			loseBefore(pn)
			cc.OnRetransmissionTimeout(true)
			trySend()
			continue
		}
		e := heap.Pop(&events).(simEvent)
		now = e.at
		switch e.kind {
		case simSend:
			if e.at != sendAt {
				continue // superseded
			}
			sendAt = 0
		case simArrive:
			unacked = append(unacked, e.pn)
			if len(unacked) >= max(path.ackEvery, 1) {
				push(simEvent{at: now.Add(path.delay), kind: simAck, acks: unacked})
				unacked = nil
				ackGen++
			} else if len(unacked) == 1 {
				push(simEvent{at: now.Add(simMaxAckDelay), kind: simAckTimer, pn: ackGen})
			}
			continue
		case simAckTimer:
			if e.pn == ackGen && len(unacked) > 0 {
				push(simEvent{at: now.Add(path.delay), kind: simAck, acks: unacked})
				unacked = nil
				ackGen++
			}
			continue
		case simAck:
			res.ackFrames++
			prior := inFl
			for _, n := range e.acks {
				loseBefore(n)
				qHead++
				cc.OnPacketAcked(n, simMSS, prior, now)
				inFl -= simMSS
				if in(now) {
					acked++
				}
			}
			cc.MaybeExitSlowStart()
			check()
		}
		trySend()
	}
	res.rate = float64(acked) * float64(simMSS) / (to - from).Seconds()
	if sentIn > 0 {
		res.lossRate = float64(droppedIn) / float64(sentIn)
	}
	for ms, n := 0, 0; ms < len(delays); ms++ {
		if n += delays[ms]; 2*n >= delayN {
			res.queueP50 = time.Duration(ms) * time.Millisecond
			break
		}
	}
	return res
}

// refCubic is a textbook CUBIC (RFC 9438: window growth W(t) =
// C(t-K)^3 + Wmax with C 0.4 and a 0.7 cut per loss event, slow start
// without HyStart++, no Reno-friendly region), paced at 1.25 times
// cwnd/srtt (2 times in slow start), as the simulation's comparison:
// quic-go's CUBIC sender reads the wall clock and its RTT estimates are
// fed by a connection, so it cannot run on synthetic time.
type refCubic struct {
	cwnd, ssthresh, wMax float64 // packets
	epoch                MonoTime
	k                    float64
	recoveryEnd          PacketNumber
	largestSent          PacketNumber
	sentAt               map[PacketNumber]MonoTime
	srtt                 time.Duration
	next                 MonoTime // pacing: when the next packet may go
}

func newRefCubic() *refCubic {
	return &refCubic{cwnd: 32, ssthresh: math.Inf(1), recoveryEnd: -1, sentAt: map[PacketNumber]MonoTime{}}
}

func (c *refCubic) rate() float64 {
	rtt := c.srtt
	if rtt == 0 {
		rtt = time.Millisecond
	}
	gain := 1.25
	if c.cwnd < c.ssthresh {
		gain = 2
	}
	return gain * c.cwnd * float64(simMSS) / rtt.Seconds()
}

func (c *refCubic) TimeUntilSend(ByteCount) MonoTime { return c.next }
func (c *refCubic) HasPacingBudget(now MonoTime) bool {
	return !now.Before(c.next)
}

func (c *refCubic) OnPacketSent(t MonoTime, _ ByteCount, pn PacketNumber, n ByteCount, _ bool) {
	c.next = max(c.next, t.Add(-2*time.Millisecond)).Add(time.Duration(float64(n) / c.rate() * 1e9))
	c.sentAt[pn] = t
	c.largestSent = pn
}

func (c *refCubic) CanSend(inFlight ByteCount) bool {
	return inFlight < c.GetCongestionWindow()
}

func (c *refCubic) OnPacketAcked(pn PacketNumber, _, _ ByteCount, t MonoTime) {
	if s, ok := c.sentAt[pn]; ok {
		delete(c.sentAt, pn)
		if c.srtt == 0 {
			c.srtt = t.Sub(s)
		} else {
			c.srtt = (7*c.srtt + t.Sub(s)) / 8
		}
	}
	if pn <= c.recoveryEnd {
		return
	}
	if c.cwnd < c.ssthresh {
		c.cwnd++
		return
	}
	if c.epoch == 0 {
		c.epoch = t
		c.k = math.Cbrt(c.wMax * 0.3 / 0.4)
	}
	d := t.Sub(c.epoch).Seconds() + c.srtt.Seconds() - c.k
	target := 0.4*d*d*d + c.wMax
	if target > c.cwnd {
		c.cwnd += (target - c.cwnd) / c.cwnd
	}
}

func (c *refCubic) OnCongestionEvent(pn PacketNumber, _, _ ByteCount) {
	delete(c.sentAt, pn)
	if pn <= c.recoveryEnd {
		return
	}
	c.recoveryEnd = c.largestSent
	c.wMax = c.cwnd
	c.cwnd = max(c.cwnd*0.7, 2)
	c.ssthresh = c.cwnd
	c.epoch = 0
}

func (c *refCubic) OnRetransmissionTimeout(bool) {
	c.ssthresh = max(c.cwnd/2, 2)
	c.cwnd = 2
}

func (c *refCubic) MaybeExitSlowStart()            {}
func (c *refCubic) OnSpuriousLoss(PacketNumber)    {}
func (c *refCubic) SetMaxDatagramSize(ByteCount)   {}
func (c *refCubic) InSlowStart() bool              { return c.cwnd < c.ssthresh }
func (c *refCubic) InRecovery() bool               { return false }
func (c *refCubic) GetCongestionWindow() ByteCount { return ByteCount(c.cwnd) * simMSS }

func newSimBBR() CongestionControl { return NewBBR(CongestionParams{MaxDatagramSize: simMSS}) }

// issue14 is the path of issue 14: 40 MB/s, a 100 ms round trip, a
// drop-tail queue of one bandwidth-delay product.
var issue14 = simPath{rate: 40e6, delay: 50 * time.Millisecond, queue: ByteCount(40e6 * 0.1), seed: 14}

const (
	simDur  = 20 * time.Second
	simFrom = 5 * time.Second
)

// forEachAcking runs f as a subtest for a receiver that acks every
// packet and for one that acks every second packet (or after 25 ms).
func forEachAcking(t *testing.T, path simPath, f func(t *testing.T, path simPath)) {
	for _, every := range []int{1, 2} {
		t.Run(fmt.Sprintf("ack-every=%d", every), func(t *testing.T) {
			path.ackEvery = every
			f(t, path)
		})
	}
}

// Through the path of issue 14, BBR delivers at least 0.9 of the
// bottleneck's rate from second 5 to 20, with a median queueing delay
// under half the round trip, and its per-packet records never outgrow
// the packets in flight by more than the sweep's slack.
func TestBBRFillsALongFatPipe(t *testing.T) {
	forEachAcking(t, issue14, func(t *testing.T, path simPath) {
		r := simulate(newSimBBR(), path, simDur, simFrom, simDur)
		t.Logf("bbr: %.2f MB/s of %.0f, loss %.3f%%, queueing delay p50 %v, records beyond in flight %d, timeouts %d, %d packets in %d ack frames",
			r.rate/1e6, path.rate/1e6, 100*r.lossRate, r.queueP50, r.maxExtra, r.rtos, r.sentTotal, r.ackFrames)
		require.GreaterOrEqual(t, r.rate, 0.9*path.rate)
		require.Less(t, r.queueP50, 50*time.Millisecond)
		require.LessOrEqual(t, r.maxExtra, bbrSweepSlack)
	})
}

// With 1% random loss on top, BBR still delivers at least 0.8 of the
// rate, and more than a textbook CUBIC through the same path (which
// cuts its window at every loss).
func TestBBRShrugsOffSparseLoss(t *testing.T) {
	path := issue14
	path.loss = 0.01
	forEachAcking(t, path, func(t *testing.T, path simPath) {
		r := simulate(newSimBBR(), path, simDur, simFrom, simDur)
		c := simulate(newRefCubic(), path, simDur, simFrom, simDur)
		t.Logf("1%% loss: bbr %.2f MB/s, textbook cubic %.2f MB/s, of %.0f", r.rate/1e6, c.rate/1e6, path.rate/1e6)
		require.GreaterOrEqual(t, r.rate, 0.8*path.rate)
		require.Greater(t, r.rate, c.rate)
		require.LessOrEqual(t, r.maxExtra, bbrSweepSlack)
	})
}

// Through a queue of a tenth of the bandwidth-delay product, BBR's
// in-flight bound keeps the loss rate from second 5 to 20 under 5%
// while it still moves most of the rate.
func TestBBRDoesNotHammerAShallowBuffer(t *testing.T) {
	path := issue14
	path.queue = path.bdp() / 10
	forEachAcking(t, path, func(t *testing.T, path simPath) {
		r := simulate(newSimBBR(), path, simDur, simFrom, simDur)
		c := simulate(newRefCubic(), path, simDur, simFrom, simDur)
		t.Logf("queue 0.1 bdp: bbr %.2f MB/s loss %.3f%%, textbook cubic %.2f MB/s loss %.3f%%",
			r.rate/1e6, 100*r.lossRate, c.rate/1e6, 100*c.lossRate)
		require.Less(t, r.lossRate, 0.05)
		require.Greater(t, r.rate, 0.5*path.rate)
	})
}

// A minimum round-trip time not refreshed for ten seconds sends BBR to
// PROBE_RTT (window four packets) and back to PROBE_BW afterwards.
func TestBBRProbesRTT(t *testing.T) {
	path := simPath{rate: 1e6, delay: 10 * time.Millisecond, queue: 20000, seed: 1}
	cc := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	var seen []bbrState
	// Run in steps, watching the state between them.
	simulate(&stateWatch{bbr: cc, seen: &seen}, path, 12*time.Second, 0, time.Second)
	require.Contains(t, seen, bbrProbeRTT)
	require.Equal(t, bbrProbeBW, seen[len(seen)-1])
}

// stateWatch records each state a bbr passes through.
type stateWatch struct {
	*bbr
	seen *[]bbrState
}

func (w *stateWatch) OnPacketAcked(pn PacketNumber, n, prior ByteCount, t MonoTime) {
	w.bbr.OnPacketAcked(pn, n, prior, t)
	if s := *w.seen; len(s) == 0 || s[len(s)-1] != w.state {
		*w.seen = append(s, w.state)
	}
	if w.state == bbrProbeRTT && w.bbr.GetCongestionWindow() != bbrMinWindow*simMSS {
		panic("PROBE_RTT's window is not four packets")
	}
}

// A retransmission timeout drops the window to four packets until an
// ack arrives, and keeps the model.
func TestBBRTimeoutIsConservative(t *testing.T) {
	b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	now := MonoTime(time.Second)
	for pn := PacketNumber(0); pn < 20; pn++ {
		b.OnPacketSent(now, ByteCount(pn)*simMSS, pn, simMSS, true)
	}
	now = now.Add(50 * time.Millisecond)
	for pn := PacketNumber(0); pn < 10; pn++ {
		b.OnPacketAcked(pn, simMSS, (20-ByteCount(pn))*simMSS, now)
	}
	bw := b.bandwidth()
	require.Greater(t, bw, 0.0)
	require.Greater(t, b.GetCongestionWindow(), bbrMinWindow*simMSS)
	b.OnRetransmissionTimeout(true)
	require.Equal(t, bbrMinWindow*simMSS, b.GetCongestionWindow())
	require.True(t, b.InRecovery())
	require.Equal(t, bw, b.bandwidth())
	b.OnPacketAcked(10, simMSS, 10*simMSS, now.Add(time.Millisecond))
	require.Greater(t, b.GetCongestionWindow(), bbrMinWindow*simMSS)
}

// Acks and losses of unknown, duplicate or out-of-order packets, and
// packets the connection drops without a word, neither panic nor grow
// the per-packet records past the packets in flight plus the sweep's
// slack, and the window never falls under four packets.
func TestBBRBookkeepingIsBounded(t *testing.T) {
	b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	b.OnPacketAcked(7, simMSS, 0, MonoTime(time.Second))
	b.OnCongestionEvent(9, simMSS, 0)
	b.OnCongestionEvent(9, 0, 0) // an ECN mark
	now := MonoTime(time.Second)
	var inFlight ByteCount
	for pn := PacketNumber(0); pn < 10000; pn++ {
		now = now.Add(time.Millisecond)
		b.OnPacketSent(now, inFlight, pn, simMSS, true)
		inFlight += simMSS
		require.LessOrEqual(t, len(b.sent), int(inFlight/simMSS)+bbrSweepSlack)
		if pn%3 == 0 {
			// The connection forgets a third (dropped keys): in flight
			// falls, but the controller hears nothing.
			inFlight -= simMSS
		}
		if pn > 40 && pn%3 == 1 {
			b.OnPacketAcked(pn-39, simMSS, inFlight, now)
			b.OnPacketAcked(pn-39, simMSS, inFlight, now) // duplicate
			b.OnPacketAcked(pn+5, simMSS, inFlight, now)  // not sent yet
			inFlight -= simMSS
		}
		if pn > 40 && pn%3 == 2 {
			b.OnCongestionEvent(pn-42, simMSS, inFlight)
			inFlight -= simMSS
		}
		require.GreaterOrEqual(t, b.GetCongestionWindow(), bbrMinWindow*simMSS)
	}
}

// A sender held back by the window is not application-limited when it
// sends again, even if it sent an ack-only packet meanwhile and its
// pacing bucket is full; one that stopped on its own is.
func TestBBRWindowLimitedIsNotAppLimited(t *testing.T) {
	b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	now := MonoTime(time.Second)
	var pn PacketNumber
	var inFlight ByteCount
	fill := func() {
		for b.CanSend(inFlight) {
			for !b.HasPacingBudget(now) {
				now = max(now, b.TimeUntilSend(inFlight))
			}
			b.OnPacketSent(now, inFlight, pn, simMSS, true)
			pn++
			inFlight += simMSS
		}
	}
	fill()
	// Held back, it acks a packet of the peer's; its bucket refills.
	now = now.Add(50 * time.Millisecond)
	b.OnPacketSent(now, inFlight, 1000, 40, false)
	now = now.Add(50 * time.Millisecond)
	b.OnPacketAcked(0, simMSS, inFlight, now)
	inFlight -= simMSS
	fill()
	require.Zero(t, b.appLimitedUntil, "held back by the window")

	now = now.Add(100 * time.Millisecond)
	for n := PacketNumber(1); n < 10; n++ {
		b.OnPacketAcked(n, simMSS, inFlight, now)
		inFlight -= simMSS
	}
	require.True(t, b.CanSend(inFlight))
	require.True(t, b.HasPacingBudget(now))
	b.OnPacketSent(now, inFlight, pn, simMSS, true) // its last packet
	pn++
	inFlight += simMSS
	now = now.Add(50 * time.Millisecond) // the application had nothing to send
	require.True(t, b.CanSend(inFlight))
	require.True(t, b.HasPacingBudget(now))
	b.OnPacketSent(now, inFlight, pn, simMSS, true)
	require.NotZero(t, b.appLimitedUntil, "stopped on its own")
}

// Records of small packets in flight (a receiver's window updates) are
// kept, a thousand where a full-size count would allow 103: the sweep
// goes by bytes; each ack finds its record.
func TestBBRKeepsSmallPacketsRecords(t *testing.T) {
	b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	now := MonoTime(time.Second)
	for pn := PacketNumber(0); pn < 1000; pn++ {
		b.OnPacketSent(now, ByteCount(pn)*50, pn, 50, true)
	}
	require.Len(t, b.sent, 1000)
	now = now.Add(100 * time.Millisecond)
	for pn := PacketNumber(0); pn < 1000; pn++ {
		b.OnPacketAcked(pn, 50, 50*1000, now)
	}
	require.Empty(t, b.sent)
	require.Zero(t, b.sentBytes)
	require.Equal(t, ByteCount(50*1000), b.delivered)
}

// FuzzBBR drives a controller with arbitrary calls: it never panics,
// its window stays at four packets or more, and its per-packet records
// stay bounded by the packets in flight plus the sweep's slack.
func FuzzBBR(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 1, 1, 1, 2, 2})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
		now := MonoTime(time.Second)
		var next PacketNumber
		var inFlight ByteCount
		for i, op := range ops {
			now = now.Add(time.Duration(op) * 100 * time.Microsecond)
			pn := PacketNumber(op>>3) + next - 16
			switch op % 8 {
			case 0, 1:
				b.OnPacketSent(now, inFlight, next, simMSS, op%2 == 0)
				if op%2 == 0 {
					inFlight += simMSS
				}
				next++
				if op%2 == 0 && len(b.sent) > int(inFlight/simMSS)+bbrSweepSlack {
					t.Fatalf("%d records, %d bytes in flight", len(b.sent), inFlight)
				}
			case 2:
				b.OnPacketAcked(pn, simMSS, inFlight, now)
				inFlight -= min(inFlight, simMSS)
			case 3:
				b.OnCongestionEvent(pn, simMSS, inFlight)
				inFlight -= min(inFlight, simMSS)
			case 4:
				b.OnRetransmissionTimeout(i%2 == 0)
			case 5:
				b.OnSpuriousLoss(pn)
			case 6:
				if !b.HasPacingBudget(now) {
					b.TimeUntilSend(inFlight)
				}
				b.CanSend(inFlight)
			case 7:
				now = now.Add(11 * time.Second)
			}
			if w := b.GetCongestionWindow(); w < bbrMinWindow*simMSS {
				t.Fatalf("window %d", w)
			}
		}
	})
}

// A connection that sends a packet now and then (the receiving side of
// a transfer: its window updates) is application-limited: its trickle
// neither ends STARTUP nor lowers its pacing rate below the initial one,
// so what it does send is not held back for a round trip.
func TestBBRTrickleIsNotPacedDown(t *testing.T) {
	b := NewBBR(CongestionParams{MaxDatagramSize: simMSS}).(*bbr)
	now := MonoTime(time.Second)
	for pn := PacketNumber(0); pn < 100; pn++ {
		require.True(t, b.CanSend(0))
		require.True(t, b.HasPacingBudget(now))
		b.OnPacketSent(now, 0, pn, simMSS, true)
		b.OnPacketAcked(pn, simMSS, simMSS, now.Add(100*time.Millisecond))
		now = now.Add(200 * time.Millisecond)
	}
	initial := bbrHighGain * float64(bbrInitialWindow*simMSS) / (100 * time.Millisecond).Seconds()
	require.Equal(t, bbrStartup, b.state)
	require.GreaterOrEqual(t, b.rate, initial)
	require.Less(t, b.bandwidth(), initial/50, "the trickle's own rate")
	for range bbrMaxBurst {
		require.True(t, b.HasPacingBudget(now))
		b.OnPacketSent(now, 0, 1000, simMSS, true)
	}
}
