package quic

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// NewBBR returns the built-in model-based controller (Config.Congestion
// BBR) for p: BBR version 1 (draft-cardwell-iccrg-bbr-congestion-control)
// with a loss bound borrowed from BBRv2, written for this repository.
//
// It keeps a model of the path: the bottleneck bandwidth, the largest
// delivery rate sampled over the last ten round trips, and the minimum
// round-trip time of the last ten seconds. It paces at a gain times that
// bandwidth and caps the bytes in flight at twice the bandwidth-delay
// product (plus three packets), never below four packets, in every
// state (in STARTUP too, as the draft's later revisions do: BBRv1's
// 2.885 there overfills a one-product queue; 886 lost packets against
// 231 in one 20 MB run through the WAN benchmark's 100 ms path). Its
// states:
//   - STARTUP paces at 2/ln 2 (about 2.885) times the bandwidth, which
//     doubles the rate each round trip, until the bandwidth grew less
//     than 25% in three rounds that were not application-limited, or a
//     round lost heavily (see below);
//   - DRAIN paces at 1/2.885 until the bytes in flight are down to one
//     bandwidth-delay product;
//   - PROBE_BW cycles the pacing gain through 1.25, 0.75 and six times 1,
//     a phase a minimum round-trip time long (the 1.25 phase lasts until
//     the bytes in flight reach 1.25 products, the window or a loss; the
//     0.75 phase ends early once they are down to one product);
//   - PROBE_RTT, entered when the minimum round-trip time was not
//     refreshed for ten seconds, holds the window at four packets for
//     200 ms and a round trip, then returns.
//
// Loss: sparse loss does not touch the window. The model is evaluated
// per round trip: a round that lost more than 2% of its bytes (lost over
// delivered plus lost) and at least eight packets (BBRv2's count; with
// three, 1% random loss made small startup rounds heavy) is heavy, and heavy
// loss sets an in-flight bound (BBRv2's inflight_hi) of 0.85 times the
// most bytes that were in flight when the round's lost packets were sent
// (as BBRv2, the level that caused the loss: losses a round detects of
// an earlier overshoot do not bound it at the round's lower level),
// never below four packets; the
// window is the smaller of the model's and the bound. Each PROBE_BW
// cycle (eight phases) without a heavy round raises the bound by a
// quarter as its 1.25 phase starts, and lifts it once it exceeds the
// model's window, so a shallow buffer is not hammered every round and a
// path that got faster is found again. In STARTUP a heavy round also
// ends the startup (the pipe is full). A retransmission timeout drops
// the window to four packets until an ack arrives; the model is kept.
//
// Delivery-rate samples come from a per-packet record (the delivered
// bytes and times when it was sent) kept for ack-eliciting packets in
// flight only: removed when acked or declared lost, and swept of the
// oldest once their bytes exceed the bytes in flight by 64 full-size
// packets (the connection dropped some without a call: a packet number
// space whose keys it discarded). The interface does not say
// when the application has nothing to send, so a packet sent with a full
// pacing bucket and room in the window, when neither CanSend nor
// HasPacingBudget said no since the last ack-eliciting send (a
// connection held back acks the acks that free it before it sends data
// again: ack-only packets do not count), marks the connection
// application-limited until the bytes then in flight are delivered (the
// draft's marking); samples of such packets only raise the bandwidth
// estimate, do not end STARTUP, and the filter's rounds do not expire
// without new samples. Until the pipe is full the pacing rate only rises
// (from 2.885 initial windows per round trip), so a connection that
// mostly receives is not paced at the trickle it sends. Pacing is a token
// bucket of its own allowing bursts of ten packets (or 2 ms at the
// pacing rate, if more), like quic-go's pacer.
func NewBBR(p CongestionParams) CongestionControl {
	mss := p.MaxDatagramSize
	if mss == 0 {
		mss = 1280
	}
	rtt := time.Millisecond // before any sample, as the draft
	if p.RTT != nil && p.RTT.SmoothedRTT() > 0 {
		rtt = p.RTT.SmoothedRTT()
	}
	b := &bbr{
		rtt:         p.RTT,
		rate:        bbrHighGain * float64(bbrInitialWindow*mss) / rtt.Seconds(),
		mss:         mss,
		sent:        make(map[PacketNumber]bbrPacket),
		cwnd:        bbrInitialWindow * mss,
		state:       bbrStartup,
		pacingGain:  bbrHighGain,
		cwndGain:    bbrCwndGain,
		probeRTTEnd: -1,
	}
	return b
}

const (
	bbrHighGain        = 2.885 // 2/ln 2
	bbrDrainGain       = 1 / bbrHighGain
	bbrCwndGain        = 2
	bbrInitialWindow   = 32 // packets, as quic-go's senders
	bbrMinWindow       = 4  // packets
	bbrBandwidthRounds = 10
	bbrMinRTTWindow    = 10 * time.Second
	bbrProbeRTTTime    = 200 * time.Millisecond
	bbrHeavyLoss       = 0.02
	bbrHeavyLossMin    = 8 // packets lost in a round, at least, for heavy loss (BBRv2's full_loss_cnt)
	bbrInflightBeta    = 0.85
	bbrMaxBurst        = 10 // packets
	bbrSweepSlack      = 64 // packets
)

// bbrGainCycle is PROBE_BW's pacing gains, a phase each.
var bbrGainCycle = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type bbrState uint8

const (
	bbrStartup bbrState = iota
	bbrDrain
	bbrProbeBW
	bbrProbeRTT
)

// bbrPacket is what a packet in flight carries for its rate sample.
type bbrPacket struct {
	sentTime      MonoTime
	size          ByteCount
	delivered     ByteCount // the connection's delivered bytes when it was sent
	deliveredTime MonoTime  // and when those were last raised
	firstSentTime MonoTime  // the send time of the packet last acked when it was sent
	appLimited    bool
	inflight      ByteCount // the bytes in flight once it was sent
}

type bbr struct {
	rtt RTTStats // may be nil
	mss ByteCount

	sent      map[PacketNumber]bbrPacket
	sentBytes ByteCount // the records' sizes, summed
	inflight  ByteCount // ack-eliciting bytes in flight, as last told plus since

	// Delivery-rate state.
	delivered     ByteCount
	deliveredTime MonoTime
	firstSentTime MonoTime

	// Rounds.
	round              uint64
	nextRoundDelivered ByteCount
	blocked            bool      // CanSend or HasPacingBudget said no since the last send
	appLimitedUntil    ByteCount // packets sent are app-limited until delivered passes this; 0 not
	sampleAppLimited   bool      // the last rate sample was
	roundLost          ByteCount
	roundLostPackets   int
	roundDelivered     ByteCount
	roundLostInflight  ByteCount // the most in flight when a packet lost this round was sent
	heavyRound         uint64    // the last round with heavy loss, 0 none

	// The model.
	bwRound    [bbrBandwidthRounds]float64 // bytes a second, max of round i (by round % len)
	bwRoundOf  [bbrBandwidthRounds]uint64
	bwLast     uint64 // the round of the filter's last update
	minRTT     time.Duration
	minRTTTime MonoTime

	// Full pipe.
	filled      bool
	fullBw      float64
	fullBwCount int

	state       bbrState
	pacingGain  float64
	cwndGain    float64
	cycleIndex  int
	cycleStart  MonoTime
	phaseLoss   bool
	probeRTTEnd MonoTime // -1: not yet at four packets
	probeRTTRnd uint64
	savedCwnd   ByteCount

	cwnd       ByteCount
	inflightHi ByteCount // 0: no bound
	rto        bool

	// Pacer.
	rate     float64 // bytes a second
	seenRTT  bool    // rate was set from the first RTT sample
	budget   ByteCount
	lastSent MonoTime
}

func (b *bbr) bandwidth() float64 {
	var m float64
	for i, bw := range b.bwRound {
		if b.bwRoundOf[i]+bbrBandwidthRounds > b.bwLast && bw > m {
			m = bw
		}
	}
	return m
}

// bdp returns the bandwidth-delay product, 0 without a model yet.
func (b *bbr) bdp() ByteCount {
	bw := b.bandwidth()
	if bw == 0 || b.minRTT == 0 {
		return 0
	}
	return ByteCount(bw * b.minRTT.Seconds())
}

// setPacingRate sets the pacing rate to the gain times the bandwidth,
// but before the pipe is full only ever up: a connection that has sent
// little (application-limited) keeps its initial rate, 2.885 initial
// windows per round trip.
func (b *bbr) setPacingRate() {
	if !b.seenRTT && b.minRTT > 0 {
		b.seenRTT = true
		b.rate = bbrHighGain * float64(b.cwnd) / b.minRTT.Seconds()
	}
	bw := b.bandwidth()
	if bw == 0 {
		return
	}
	if r := b.pacingGain * bw; b.filled || r > b.rate {
		b.rate = r
	}
}

func (b *bbr) maxBurst(rate float64) ByteCount {
	return max(bbrMaxBurst*b.mss, ByteCount(rate*0.002))
}

// pacerBudget returns the bytes the pacer lets out at now.
func (b *bbr) pacerBudget(now MonoTime) ByteCount {
	rate := b.rate
	if b.lastSent == 0 {
		return b.maxBurst(rate)
	}
	budget := b.budget
	if d := now.Sub(b.lastSent); d > 0 {
		budget += ByteCount(min(rate*d.Seconds(), float64(b.maxBurst(rate))))
	}
	return min(budget, b.maxBurst(rate))
}

func (b *bbr) HasPacingBudget(now MonoTime) bool {
	if b.pacerBudget(now) >= b.mss {
		return true
	}
	b.blocked = true
	return false
}

func (b *bbr) TimeUntilSend(ByteCount) MonoTime {
	if b.lastSent == 0 || b.budget >= b.mss {
		return 0
	}
	d := time.Duration(math.Ceil(float64(b.mss-b.budget) / b.rate * 1e9))
	return b.lastSent.Add(max(time.Millisecond, d))
}

func (b *bbr) CanSend(inFlight ByteCount) bool {
	if inFlight < b.GetCongestionWindow() {
		return true
	}
	b.blocked = true
	return false
}

func (b *bbr) GetCongestionWindow() ByteCount {
	w := b.cwnd
	if b.inflightHi > 0 {
		w = min(w, b.inflightHi)
	}
	if b.state == bbrProbeRTT || b.rto {
		w = min(w, bbrMinWindow*b.mss)
	}
	return max(w, bbrMinWindow*b.mss)
}

func (b *bbr) OnPacketSent(t MonoTime, inFlight ByteCount, pn PacketNumber, n ByteCount, retransmittable bool) {
	budget := b.pacerBudget(t)
	// A sender we did not hold back, with a full pacing bucket (idle)
	// and room in the window, has run out of data: what it sends until
	// the bytes in flight now are delivered is application-limited.
	// (An ack-only packet says nothing of that, nor clears the mark of
	// a hold-back: a sender held back by the window acks the acks that
	// open it before it sends data again.)
	idle := !b.blocked && budget >= b.maxBurst(b.rate) && inFlight+n < b.GetCongestionWindow()
	b.budget = max(budget, n) - n
	b.lastSent = t
	if !retransmittable {
		return
	}
	b.blocked = false
	if idle {
		b.appLimitedUntil = max(b.delivered+inFlight, 1)
	}
	if inFlight == 0 {
		b.firstSentTime, b.deliveredTime = t, t
	}
	b.inflight = inFlight + n
	if old, ok := b.sent[pn]; ok {
		b.sentBytes -= old.size // a number reused by another space
	}
	b.sent[pn] = bbrPacket{
		sentTime:      t,
		size:          n,
		delivered:     b.delivered,
		deliveredTime: b.deliveredTime,
		firstSentTime: b.firstSentTime,
		appLimited:    b.appLimitedUntil > 0,
		inflight:      b.inflight,
	}
	b.sentBytes += n
	if b.sentBytes > b.inflight+bbrSweepSlack*b.mss {
		b.sweep()
	}
}

// sweep drops records the connection no longer counts in flight (their
// packet number space dropped, without a call): the records' bytes
// exceed the bytes in flight, so the oldest go, down to the bytes in
// flight plus half the slack.
func (b *bbr) sweep() {
	pns := make([]PacketNumber, 0, len(b.sent))
	for pn := range b.sent {
		pns = append(pns, pn)
	}
	slices.SortFunc(pns, func(x, y PacketNumber) int {
		return cmp.Or(cmp.Compare(b.sent[x].sentTime, b.sent[y].sentTime), cmp.Compare(x, y))
	})
	for _, pn := range pns {
		if b.sentBytes <= b.inflight+bbrSweepSlack/2*b.mss {
			break
		}
		b.forget(pn)
	}
}

// forget drops pn's record, returning it.
func (b *bbr) forget(pn PacketNumber) (bbrPacket, bool) {
	p, ok := b.sent[pn]
	if ok {
		delete(b.sent, pn)
		b.sentBytes -= p.size
	}
	return p, ok
}

func (b *bbr) OnPacketAcked(pn PacketNumber, n, prior ByteCount, t MonoTime) {
	b.rto = false
	p, ok := b.forget(pn)
	if !ok {
		return // unknown, or acked twice
	}
	b.inflight -= min(b.inflight, p.size)
	b.delivered += p.size
	b.deliveredTime = t
	if b.appLimitedUntil > 0 && b.delivered > b.appLimitedUntil {
		b.appLimitedUntil = 0
	}
	b.roundDelivered += p.size

	// Round trips: a packet sent after the round began ends it.
	if p.delivered >= b.nextRoundDelivered {
		b.nextRoundDelivered = b.delivered
		b.endRound()
	}

	// Minimum RTT, of the last ten seconds: an expired one takes the
	// next sample and sends the connection to PROBE_RTT.
	expired := b.minRTTTime != 0 && t.Sub(b.minRTTTime) > bbrMinRTTWindow
	if rtt := t.Sub(p.sentTime); rtt > 0 && (b.minRTT == 0 || rtt <= b.minRTT || expired) {
		b.minRTT, b.minRTTTime = rtt, t
	}
	if expired && b.state != bbrProbeRTT {
		b.enterProbeRTT()
	}

	// The rate sample.
	b.firstSentTime = p.sentTime
	interval := max(p.sentTime.Sub(p.firstSentTime), t.Sub(p.deliveredTime))
	if interval > 0 && interval >= b.minRTT {
		bw := float64(b.delivered-p.delivered) / interval.Seconds()
		b.sampleAppLimited = p.appLimited
		if !p.appLimited || bw >= b.bandwidth() {
			// Filter slots expire by the rounds of later updates only,
			// so an application-limited spell keeps the estimate.
			i := b.round % bbrBandwidthRounds
			if b.bwRoundOf[i] != b.round {
				b.bwRound[i], b.bwRoundOf[i] = 0, b.round
			}
			b.bwRound[i] = max(b.bwRound[i], bw)
			b.bwLast = b.round
		}
	}

	b.updateState(t)
	b.setPacingRate()
	b.updateWindow(n)
}

// endRound closes the round trip that just ended: the full-pipe check
// and the loss bound.
func (b *bbr) endRound() {
	appLimited := b.sampleAppLimited
	heavy := b.roundLostPackets >= bbrHeavyLossMin &&
		float64(b.roundLost) > bbrHeavyLoss*float64(b.roundLost+b.roundDelivered)
	if heavy {
		b.heavyRound = b.round
		b.inflightHi = max(ByteCount(bbrInflightBeta*float64(b.roundLostInflight)), bbrMinWindow*b.mss)
	}
	b.round++
	b.roundLost, b.roundLostPackets, b.roundDelivered, b.roundLostInflight = 0, 0, 0, 0

	if !b.filled {
		if heavy {
			b.filled = true
		} else if !appLimited {
			if bw := b.bandwidth(); bw >= 1.25*b.fullBw {
				b.fullBw, b.fullBwCount = bw, 0
			} else if b.fullBwCount++; b.fullBwCount >= 3 {
				b.filled = true
			}
		}
	}
}

func (b *bbr) enterProbeRTT() {
	b.state = bbrProbeRTT
	b.pacingGain, b.cwndGain = 1, 1
	b.savedCwnd = max(b.savedCwnd, b.cwnd)
	b.probeRTTEnd, b.probeRTTRnd = -1, 0
}

func (b *bbr) enterProbeBW(t MonoTime) {
	b.state = bbrProbeBW
	b.cwndGain = bbrCwndGain
	b.cycleIndex = 2 // a phase of gain 1: the 0.75 phase would follow a drain
	b.cycleStart = t
	b.pacingGain = bbrGainCycle[b.cycleIndex]
}

func (b *bbr) updateState(t MonoTime) {
	bdp := b.bdp()
	switch b.state {
	case bbrStartup:
		if b.filled {
			b.state = bbrDrain
			b.pacingGain, b.cwndGain = bbrDrainGain, bbrCwndGain
		}
	case bbrDrain:
		if b.inflight <= bdp {
			b.enterProbeBW(t)
		}
	case bbrProbeBW:
		b.advanceCycle(t, bdp)
	case bbrProbeRTT:
		if b.probeRTTEnd < 0 {
			if b.inflight <= bbrMinWindow*b.mss {
				b.probeRTTEnd = t.Add(bbrProbeRTTTime)
				b.probeRTTRnd = b.round + 1 // and a round trip
			}
			return
		}
		if b.round >= b.probeRTTRnd && !t.Before(b.probeRTTEnd) {
			b.minRTTTime = t
			b.cwnd = max(b.cwnd, b.savedCwnd)
			b.savedCwnd = 0
			if b.filled {
				b.enterProbeBW(t)
			} else {
				b.state = bbrStartup
				b.pacingGain, b.cwndGain = bbrHighGain, bbrCwndGain
			}
		}
	}
}

func (b *bbr) advanceCycle(t MonoTime, bdp ByteCount) {
	elapsed := t.Sub(b.cycleStart) > b.minRTT
	next := elapsed
	switch g := b.pacingGain; {
	case g > 1:
		next = elapsed && (b.phaseLoss || float64(b.inflight) >= g*float64(bdp) ||
			b.inflight+b.mss >= b.GetCongestionWindow())
	case g < 1:
		next = elapsed || b.inflight <= bdp
	}
	if !next {
		return
	}
	b.cycleIndex = (b.cycleIndex + 1) % len(bbrGainCycle)
	b.cycleStart = t
	b.phaseLoss = false
	b.pacingGain = bbrGainCycle[b.cycleIndex]
	if b.cycleIndex == 0 && b.inflightHi > 0 && b.heavyRound+uint64(len(bbrGainCycle)) < b.round {
		// A clean cycle: probe above the bound again.
		b.inflightHi += b.inflightHi / 4
		if b.inflightHi > b.targetWindow() {
			b.inflightHi = 0
		}
	}
}

// targetWindow is the model's window: the gain times the
// bandwidth-delay product plus three packets.
func (b *bbr) targetWindow() ByteCount {
	bdp := b.bdp()
	if bdp == 0 {
		return bbrInitialWindow * b.mss
	}
	return ByteCount(b.cwndGain*float64(bdp)) + 3*b.mss
}

func (b *bbr) updateWindow(acked ByteCount) {
	if b.state == bbrProbeRTT {
		return
	}
	target := b.targetWindow()
	if b.filled {
		b.cwnd = min(b.cwnd+acked, target)
	} else if b.cwnd < target || b.delivered < bbrInitialWindow*b.mss {
		b.cwnd += acked
	}
	b.cwnd = max(b.cwnd, bbrMinWindow*b.mss)
}

func (b *bbr) OnCongestionEvent(pn PacketNumber, lost, prior ByteCount) {
	p, ok := b.forget(pn)
	if !ok {
		return // an ECN mark (lost 0), or unknown
	}
	b.inflight -= min(b.inflight, p.size)
	b.roundLost += p.size
	b.roundLostPackets++
	b.roundLostInflight = max(b.roundLostInflight, p.inflight)
	b.phaseLoss = true
}

// OnSpuriousLoss does nothing: the packet's record is gone, and a
// round's loss figure is not worth undoing for it.
func (b *bbr) OnSpuriousLoss(PacketNumber) {}

func (b *bbr) OnRetransmissionTimeout(packetsRetransmitted bool) {
	if packetsRetransmitted {
		b.rto = true
	}
}

func (b *bbr) SetMaxDatagramSize(n ByteCount) {
	if n > b.mss {
		b.cwnd = b.cwnd / b.mss * n
		b.mss = n
	}
}

// MaybeExitSlowStart does nothing: STARTUP ends on the model (acks).
func (b *bbr) MaybeExitSlowStart() {}

func (b *bbr) InSlowStart() bool { return b.state == bbrStartup }
func (b *bbr) InRecovery() bool  { return b.rto }
