package main

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// udpLine is the datagram twin of delayLine: a user-space WAN emulator for
// one UDP link. It listens on a loopback UDP socket (the front, which the
// dialler sends to as if it were the peer); each address that sends to the
// front gets a flow with a socket of its own connected to target (the back,
// which the listener sees as its peer). Each direction of a flow is a
// router port: a token bucket at rate with a drop-tail queue bounded in
// bytes in front of it, then the one-way delay. A datagram that finds the
// queue full is dropped and counted, so a congestion controller meets real
// queueing and real loss. (The kernel here has no netem.)
//
// Each direction has one goroutine that delivers: the departure times it
// computes never decrease (the bucket serves in order and the delay is
// fixed), so its delivery queue is a FIFO ordered by time, and one timer
// serves it, not one per datagram.
type udpLine struct {
	front  *net.UDPConn
	target *net.UDPAddr
	cfg    udpLineConfig

	mu     sync.Mutex
	flows  map[string]*udpFlow
	closed bool
	wg     sync.WaitGroup

	stats udpLineStats
}

// udpLineConfig is one line's shape.
type udpLineConfig struct {
	// Delay is the one-way delay of each direction.
	Delay time.Duration
	// Rate is the cap per direction in bytes per second; 0: none (the
	// queue bound then applies to what waits out the delay).
	Rate float64
	// Queue bounds the bytes waiting for the bucket, per direction (a
	// router's buffer). Default: one bandwidth-delay product at Rate over
	// twice Delay, at least minUDPQueue.
	Queue int
	// Burst is the bucket's depth in bytes: how much may leave back to
	// back after a pause. Default udpBurst.
	Burst int
}

// minUDPQueue is the smallest default queue: what a line of near-zero
// delay still buffers (a switch's port buffer, and above quic-go's initial
// congestion window of 32 packets).
const minUDPQueue = 128 << 10

// udpBurst is the bucket's default depth: a few full-sized datagrams.
const udpBurst = 8 << 10

// maxUDPFlows bounds the flows of one line; datagrams from further
// addresses are dropped.
const maxUDPFlows = 64

// maxDatagram is the largest datagram a line carries (larger ones are
// truncated by the read and so dropped).
const maxDatagram = 64 << 10

func (c udpLineConfig) withDefaults() udpLineConfig {
	if c.Queue <= 0 {
		c.Queue = int(c.Rate * 2 * c.Delay.Seconds())
		if c.Queue < minUDPQueue {
			c.Queue = minUDPQueue
		}
	}
	if c.Burst <= 0 {
		c.Burst = udpBurst
	}
	return c
}

// udpLineStats counts what a line did, over all its flows and both
// directions.
type udpLineStats struct {
	sent, sentBytes       atomic.Int64 // delivered
	dropped, droppedBytes atomic.Int64 // dropped by a full queue (or too many flows)
	maxQueued             atomic.Int64 // the deepest any queue got since the line started, in bytes (not per sample)
}

// udpLineCounts is a snapshot of udpLineStats.
type udpLineCounts struct {
	Sent, SentBytes, Dropped, DroppedBytes, MaxQueued int64
}

func (s *udpLineStats) snapshot() udpLineCounts {
	return udpLineCounts{s.sent.Load(), s.sentBytes.Load(), s.dropped.Load(), s.droppedBytes.Load(), s.maxQueued.Load()}
}

func (a udpLineCounts) sub(b udpLineCounts) udpLineCounts {
	return udpLineCounts{a.Sent - b.Sent, a.SentBytes - b.SentBytes, a.Dropped - b.Dropped, a.DroppedBytes - b.DroppedBytes, a.MaxQueued}
}

func (a udpLineCounts) add(b udpLineCounts) udpLineCounts {
	return udpLineCounts{a.Sent + b.Sent, a.SentBytes + b.SentBytes, a.Dropped + b.Dropped, a.DroppedBytes + b.DroppedBytes, max(a.MaxQueued, b.MaxQueued)}
}

// newUDPLine starts a line to target (host:port).
func newUDPLine(target string, cfg udpLineConfig) (*udpLine, error) {
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return nil, err
	}
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	front.SetReadBuffer(4 << 20)
	front.SetWriteBuffer(4 << 20)
	u := &udpLine{front: front, target: ta, cfg: cfg.withDefaults(), flows: map[string]*udpFlow{}}
	u.wg.Add(1)
	go u.readFront()
	return u, nil
}

// Addr is where to send to reach target through the line.
func (u *udpLine) Addr() *net.UDPAddr { return u.front.LocalAddr().(*net.UDPAddr) }

// Stats is what the line has done so far.
func (u *udpLine) Stats() udpLineCounts { return u.stats.snapshot() }

// Close stops the line, its flows and their goroutines, and waits for them.
// Datagrams still in flight are dropped. It is idempotent.
func (u *udpLine) Close() {
	u.mu.Lock()
	u.closed = true
	flows := u.flows
	u.flows = map[string]*udpFlow{}
	u.mu.Unlock()
	u.front.Close()
	for _, f := range flows {
		f.close()
	}
	u.wg.Wait()
}

// Held is the bytes the line holds in both directions: queued for the
// bucket or in the delay. With one bulk transfer through it, nearly all of
// it is the data direction's (the other carries acknowledgements).
func (u *udpLine) Held() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, f := range u.flows {
		for _, p := range []*udpPort{f.up, f.down} {
			p.mu.Lock()
			n += p.held
			p.mu.Unlock()
		}
	}
	return n
}

// watchFlight samples the sum of lines' Held every interval until
// the returned stop, which gives the mean.
func watchFlight(lines []*udpLine, interval time.Duration) (stop func() float64) {
	return sampleMean(interval, func() float64 {
		var held float64
		for _, l := range lines {
			held += float64(l.Held())
		}
		return held
	})
}

// sampleMean calls sample every interval, on a goroutine of its own,
// until the returned stop, which ends it and gives the mean of the
// samples (0 if there were none).
func sampleMean(interval time.Duration, sample func() float64) (stop func() float64) {
	done := make(chan struct{})
	mean := make(chan float64, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		var sum, n float64
		for {
			select {
			case <-t.C:
				sum += sample()
				n++
			case <-done:
				mean <- sum / max(n, 1)
				return
			}
		}
	}()
	return func() float64 { close(done); return <-mean }
}

// udpFlow is one client address's traffic: up from the client to target,
// down back.
type udpFlow struct {
	back     *net.UDPConn
	up, down *udpPort
}

func (f *udpFlow) close() {
	f.back.Close()
	f.up.close()
	f.down.close()
}

// flow returns src's flow, starting it if new; nil if the line is closed or
// full.
func (u *udpLine) flow(src *net.UDPAddr) *udpFlow {
	key := src.String()
	u.mu.Lock()
	defer u.mu.Unlock()
	if f := u.flows[key]; f != nil || u.closed {
		return f
	}
	if len(u.flows) >= maxUDPFlows {
		return nil
	}
	back, err := net.DialUDP("udp", nil, u.target)
	if err != nil {
		return nil
	}
	back.SetReadBuffer(4 << 20)
	back.SetWriteBuffer(4 << 20)
	dst := *src
	f := &udpFlow{
		back: back,
		up:   newUDPPort(u, func(b []byte) error { _, err := back.Write(b); return err }),
		down: newUDPPort(u, func(b []byte) error { _, err := u.front.WriteToUDP(b, &dst); return err }),
	}
	u.flows[key] = f
	u.wg.Add(3)
	go func() { defer u.wg.Done(); f.up.deliver() }()
	go func() { defer u.wg.Done(); f.down.deliver() }()
	go func() { defer u.wg.Done(); u.readBack(f) }()
	return f
}

// readFront takes datagrams from clients into their flows' up ports.
func (u *udpLine) readFront() {
	defer u.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, src, err := u.front.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a transient error (an ICMP error reported on the socket)
		}
		f := u.flow(src)
		if f == nil {
			u.mu.Lock()
			closed := u.closed
			u.mu.Unlock()
			if closed {
				return
			}
			u.stats.dropped.Add(1)
			u.stats.droppedBytes.Add(int64(n))
			continue
		}
		f.up.admit(buf[:n], time.Now())
	}
}

// readBack takes target's datagrams into f's down port.
func (u *udpLine) readBack(f *udpFlow) {
	buf := make([]byte, maxDatagram)
	for {
		n, err := f.back.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable while target is not up, and such
		}
		f.down.admit(buf[:n], time.Now())
	}
}

// udpPort is one direction of a flow: bucket, queue, delay, delivery.
type udpPort struct {
	line *udpLine
	send func([]byte) error

	mu      sync.Mutex
	wake    chan struct{} // capacity 1: the delivery queue got its first datagram, or close
	free    time.Time     // when the bucket has sent everything admitted so far
	queue   []udpDatagram // ordered by at
	held    int           // bytes in queue
	stopped bool
}

type udpDatagram struct {
	at   time.Time // when it arrives at the far end
	data []byte
}

func newUDPPort(u *udpLine, send func([]byte) error) *udpPort {
	return &udpPort{line: u, send: send, wake: make(chan struct{}, 1)}
}

// admit runs datagram b, arrived at now, through the bucket: it is dropped
// if the bytes waiting for the bucket plus b exceed the queue bound,
// otherwise it leaves the bucket once everything before it has (at the
// rate) and arrives one delay later.
func (p *udpPort) admit(b []byte, now time.Time) {
	cfg := p.line.cfg
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	n := len(b)
	leave := now
	if cfg.Rate > 0 {
		// The bucket: free is when it has sent all admitted bytes; Burst
		// bytes of credit may have built up since.
		start := p.free
		if credit := now.Add(-time.Duration(float64(cfg.Burst) / cfg.Rate * float64(time.Second))); start.Before(credit) {
			start = credit
		}
		waiting := int(p.free.Sub(now).Seconds() * cfg.Rate) // bytes queued before the bucket
		if waiting < 0 {
			waiting = 0
		}
		if waiting+n > cfg.Queue {
			p.line.stats.dropped.Add(1)
			p.line.stats.droppedBytes.Add(int64(n))
			return
		}
		if w := int64(waiting + n); w > p.line.stats.maxQueued.Load() {
			p.line.stats.maxQueued.Store(w) // a high-water mark; a lost race only understates it
		}
		p.free = start.Add(time.Duration(float64(n) / cfg.Rate * float64(time.Second)))
		if p.free.After(leave) {
			leave = p.free
		}
	} else if p.held+n > cfg.Queue {
		p.line.stats.dropped.Add(1)
		p.line.stats.droppedBytes.Add(int64(n))
		return
	}
	p.queue = append(p.queue, udpDatagram{at: leave.Add(cfg.Delay), data: getDatagram(b)})
	p.held += n
	if len(p.queue) == 1 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

func (p *udpPort) close() {
	p.mu.Lock()
	p.stopped = true
	p.queue, p.held = nil, 0
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// deliver sends each datagram at its time, until close.
func (p *udpPort) deliver() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if p.stopped {
			p.mu.Unlock()
			return
		}
		if len(p.queue) == 0 {
			p.mu.Unlock()
			<-p.wake
			continue
		}
		d := p.queue[0]
		if w := time.Until(d.at); w > 0 {
			p.mu.Unlock()
			timer.Reset(w)
			select {
			case <-timer.C:
			case <-p.wake: // close (a new datagram is never earlier than the head)
			}
			continue
		}
		p.queue[0] = udpDatagram{}
		p.queue = p.queue[1:]
		p.held -= len(d.data)
		p.mu.Unlock()
		// Counted before the send, so whoever got the datagram sees it
		// counted; a failed send is taken back.
		p.line.stats.sent.Add(1)
		p.line.stats.sentBytes.Add(int64(len(d.data)))
		if err := p.send(d.data); err != nil {
			p.line.stats.sent.Add(-1)
			p.line.stats.sentBytes.Add(-int64(len(d.data)))
		}
		putDatagram(d.data)
	}
}

// datagramPool recycles the copies of datagrams that fit pooledSize (all
// of a QUIC link's: 1452 bytes at most), so a line at 40 MB/s does not
// allocate tens of thousands of buffers a second.
var datagramPool = sync.Pool{New: func() any { b := make([]byte, pooledSize); return &b }}

const pooledSize = 2048

func getDatagram(b []byte) []byte {
	if len(b) > pooledSize {
		return append([]byte(nil), b...)
	}
	p := datagramPool.Get().(*[]byte)
	return append((*p)[:0], b...)
}

func putDatagram(b []byte) {
	if cap(b) == pooledSize {
		b = b[:0]
		datagramPool.Put(&b)
	}
}
