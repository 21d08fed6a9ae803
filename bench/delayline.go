package main

import (
	"io"
	"net"
	"sync"
	"time"
)

// delayLine is a user-space WAN emulator for one link: a TCP proxy that
// accepts on loopback, dials target, and carries each direction through a
// pipe that holds every chunk for a one-way delay and lets at most rate
// bytes per second through. It terminates TCP at both sides and reads its
// input as fast as the rate allows, so no TCP window spans the delay: only
// the windows of the protocol under test can hold a transfer back. (The
// kernel here has no netem.)
type delayLine struct {
	l      net.Listener
	target string
	delay  time.Duration // one way
	rate   float64       // bytes per second, per direction; 0: no cap

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// maxDelayQueue bounds what one direction holds beyond rate × delay, so a
// receiver that stops reading stops the sender instead of growing the
// proxy without bound.
const maxDelayQueue = 8 << 20

func newDelayLine(target string, delay time.Duration, rate float64) (*delayLine, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	d := &delayLine{l: l, target: target, delay: delay, rate: rate, conns: map[net.Conn]struct{}{}}
	d.wg.Add(1)
	go d.accept()
	return d, nil
}

// Addr is where to dial to reach target through the line.
func (d *delayLine) Addr() *net.TCPAddr { return d.l.Addr().(*net.TCPAddr) }

func (d *delayLine) track(c net.Conn) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.conns[c] = struct{}{}
	return true
}

func (d *delayLine) accept() {
	defer d.wg.Done()
	for {
		in, err := d.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", d.target)
		if err != nil {
			in.Close()
			continue
		}
		if !d.track(in) || !d.track(out) {
			in.Close()
			out.Close()
			return
		}
		for _, c := range []net.Conn{in, out} {
			tc := c.(*net.TCPConn)
			tc.SetNoDelay(true)
			tc.SetReadBuffer(4 << 20)
			tc.SetWriteBuffer(4 << 20)
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); d.pipe(in, out) }()
			go func() { defer both.Done(); d.pipe(out, in) }()
			both.Wait()
			d.mu.Lock()
			delete(d.conns, in)
			delete(d.conns, out)
			d.mu.Unlock()
			in.Close()
			out.Close()
		}()
	}
}

// Close stops the line and every connection through it, and waits for its
// goroutines.
func (d *delayLine) Close() {
	d.mu.Lock()
	d.closed = true
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.l.Close()
	d.wg.Wait()
}

type delayed struct {
	at   time.Time // when it may leave
	data []byte    // nil: the end of the stream
}

// pipe carries src to dst: a reader paced at the rate stamps each chunk
// with its departure time, a writer sends it then.
func (d *delayLine) pipe(src, dst net.Conn) {
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		queue  []delayed
		queued int
		done   bool // the writer stopped
	)
	var writer sync.WaitGroup
	defer writer.Wait()
	writer.Add(1)
	go func() { // the writer; it ends when the reader queues the end
		defer writer.Done()
		defer func() {
			mu.Lock()
			done = true
			cond.Broadcast()
			mu.Unlock()
		}()
		for {
			mu.Lock()
			for len(queue) == 0 {
				cond.Wait()
			}
			c := queue[0]
			queue = queue[1:]
			mu.Unlock()
			if w := time.Until(c.at); w > 0 {
				time.Sleep(w)
			}
			if c.data == nil {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
			_, err := dst.Write(c.data)
			mu.Lock()
			queued -= len(c.data)
			cond.Broadcast()
			mu.Unlock()
			if err != nil {
				src.Close()
				return
			}
		}
	}()
	next := time.Now() // the rate's schedule: when the next byte may enter
	for {
		buf := make([]byte, 64<<10)
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			if d.rate > 0 {
				// A sleep that overran leaves up to a millisecond of
				// credit, so timer slack does not lower the rate.
				if floor := now.Add(-time.Millisecond); next.Before(floor) {
					next = floor
				}
				next = next.Add(time.Duration(float64(n) / d.rate * float64(time.Second)))
				if w := next.Sub(now); w > 0 {
					time.Sleep(w)
				}
				now = next
			}
			mu.Lock()
			for queued > maxDelayQueue && !done {
				cond.Wait()
			}
			stop := done
			queue = append(queue, delayed{at: now.Add(d.delay), data: buf[:n]})
			queued += n
			cond.Broadcast()
			mu.Unlock()
			if stop {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			mu.Lock()
			queue = append(queue, delayed{at: time.Now().Add(d.delay)})
			cond.Broadcast()
			mu.Unlock()
			return
		}
	}
}
