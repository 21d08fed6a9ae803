package quic_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/quic"
	"github.com/foxtrotnet/foxtrot/transport/udp"
)

// wan is a PacketTransport over loopback UDP whose sockets send through
// an emulated bottleneck: each socket's datagrams leave at rate bytes a
// second through a drop-tail queue holding queue's worth of sending time,
// then take delay to arrive; loss drops that fraction at random on top.
type wan struct {
	udp   transport.PacketTransport
	rate  float64 // bytes a second
	queue time.Duration
	delay time.Duration // one way
	loss  float64
}

func (w *wan) Match(a ma.Multiaddr) bool                    { return w.udp.Match(a) }
func (w *wan) ResolveAddr(a ma.Multiaddr) (net.Addr, error) { return w.udp.ResolveAddr(a) }

func (w *wan) ListenPacket(a ma.Multiaddr) (transport.PacketConn, error) {
	pc, err := w.udp.ListenPacket(a)
	if err != nil {
		return nil, err
	}
	c := &wanConn{PacketConn: pc, w: w, q: make(chan wanDatagram, 1<<14), done: make(chan struct{}), rng: rand.New(rand.NewPCG(1, 2))}
	c.wg.Add(1)
	go c.deliver()
	return c, nil
}

type wanDatagram struct {
	b  []byte
	to net.Addr
	at time.Time
}

type wanConn struct {
	transport.PacketConn
	w    *wan
	q    chan wanDatagram
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu   sync.Mutex
	free time.Time // when the bottleneck has sent what it holds
	rng  *rand.Rand
}

func (c *wanConn) WriteTo(b []byte, to net.Addr) (int, error) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	start := c.free
	if start.Before(now) {
		start = now
	}
	if start.Sub(now) > c.w.queue || c.rng.Float64() < c.w.loss {
		return len(b), nil // dropped
	}
	c.free = start.Add(time.Duration(float64(len(b)) / c.w.rate * float64(time.Second)))
	select {
	case c.q <- wanDatagram{append([]byte(nil), b...), to, c.free.Add(c.w.delay)}:
	default: // more than the queue could ever hold: dropped
	}
	return len(b), nil
}

// deliver sends each datagram when it is due, in order (due times only
// grow).
func (c *wanConn) deliver() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case d := <-c.q:
			if wait := time.Until(d.at); wait > 0 {
				t.Reset(wait)
				select {
				case <-c.done:
					return
				case <-t.C:
				}
			}
			c.PacketConn.WriteTo(d.b, d.to)
		}
	}
}

// SetReadBuffer and SetWriteBuffer reach the socket (quic-go asks for
// large buffers, and logs when it cannot have them).
func (c *wanConn) SetReadBuffer(n int) error {
	return c.PacketConn.(interface{ SetReadBuffer(int) error }).SetReadBuffer(n)
}

func (c *wanConn) SetWriteBuffer(n int) error {
	return c.PacketConn.(interface{ SetWriteBuffer(int) error }).SetWriteBuffer(n)
}

func (c *wanConn) Close() error {
	c.once.Do(func() { close(c.done) })
	c.wg.Wait()
	return c.PacketConn.Close()
}

// BenchmarkWANThroughput moves bytes one way over one conn through an
// emulated WAN path (a 100 or 20 ms round trip, a 50 Mbit/s bottleneck
// each way with a drop-tail queue of one or a quarter bandwidth-delay
// product, with and without 0.01% or 0.1% random loss), with each
// built-in congestion controller: how Config.Congestion's default was
// picked. Run it for a fixed amount of data, well past slow start, and
// several times (-benchtime=600x -count=3: 39 MB a row, 7 s at the
// bottleneck's rate; a timed -benchtime overshoots badly on the lossy
// rows, whose rate falls once slow start ends). Rows are named
// rtt=<rtt>/<path>/<controller>; pick some with -bench, e.g.
// 'WANThroughput/rtt=100ms/queue=bdp/(cubic|bbr)$'.
func BenchmarkWANThroughput(b *testing.B) {
	const rate = 50e6 / 8
	for _, rtt := range []time.Duration{100 * time.Millisecond, 20 * time.Millisecond} {
		bdp := rtt // the queue in time: one BDP holds rtt of sending
		for _, path := range []struct {
			name  string
			queue time.Duration
			loss  float64
		}{
			{"queue=bdp", bdp, 0},
			{"queue=bdp*0.25", bdp / 4, 0},
			{"queue=bdp*0.25,loss=0.01%", bdp / 4, 0.0001},
			{"queue=bdp*0.25,loss=0.1%", bdp / 4, 0.001},
		} {
			for _, cc := range []string{quic.Cubic, quic.Reno, quic.BBR} {
				b.Run(fmt.Sprintf("rtt=%v/%s/%s", rtt, path.name, cc), func(b *testing.B) {
					w := &wan{udp: udp.New(), rate: rate, queue: path.queue, delay: rtt / 2, loss: path.loss}
					cfg := quic.Config{Congestion: cc, Packets: w}
					d, acc, l := pipe(b, newTransport(b, cfg), newTransport(b, cfg), "/ip4/127.0.0.1/udp/0")
					defer l.Close()
					defer acc.Close()
					pump(b, d, acc)
				})
			}
		}
	}
}
