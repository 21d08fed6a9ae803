// Package udp is the plain UDP packet transport: /ip4/<ip>/udp/<port> and
// /ip6/<ip>/udp/<port>, over the standard library's *net.UDPConn.
//
// Its conns have the transport.BatchConn ability, through
// golang.org/x/net's ipv4 and ipv6 packages: on Linux a batch is one
// recvmmsg or sendmmsg; elsewhere a batch read takes one datagram. They
// have the transport.SegmentConn ability too: on Linux a run of segments
// is one sendmsg with UDP_SEGMENT (generic segmentation offload), and
// where the kernel or device refuses that, or elsewhere, a batch. They
// also keep *net.UDPConn's methods (SetReadBuffer, SetWriteBuffer,
// SyscallConn, ...), reachable by type assertion.
//
// Links over UDP (QUIC) are built on top of this, elsewhere; transport/obfs
// wraps its conns so that every datagram reads as random bytes.
package udp

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/foxtrotnet/foxtrot/transport"
)

// Transport listens on UDP. The zero value is ready to use.
type Transport struct{}

var _ transport.PacketTransport = (*Transport)(nil)

// New returns a UDP transport.
func New() *Transport { return &Transport{} }

// Match reports whether addr is an IP address followed by /udp/N, and
// nothing more (a /quic-v1 suffix is not plain UDP).
func (t *Transport) Match(addr ma.Multiaddr) bool {
	if len(addr) != 2 || addr[1].Code() != ma.P_UDP {
		return false
	}
	switch addr[0].Code() {
	case ma.P_IP4, ma.P_IP6:
		return true
	}
	return false
}

// ListenPacket listens on addr; port 0 picks a free port.
func (t *Transport) ListenPacket(addr ma.Multiaddr) (transport.PacketConn, error) {
	if !t.Match(addr) {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	ua, err := t.resolve(addr)
	if err != nil {
		return nil, err
	}
	network := "udp6"
	if ua.IP.To4() != nil {
		network = "udp4"
	}
	c, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, err
	}
	resolved, err := manet.FromNetAddr(c.LocalAddr())
	if err != nil {
		c.Close()
		return nil, err
	}
	pc := &Conn{UDPConn: c, addr: resolved}
	pc.segment.Store(canSegment(c))
	if network == "udp4" {
		pc.batch = ipv4.NewPacketConn(c)
	} else {
		pc.batch = ipv6.NewPacketConn(c)
	}
	return pc, nil
}

// ResolveAddr returns addr as a *net.UDPAddr.
func (t *Transport) ResolveAddr(addr ma.Multiaddr) (net.Addr, error) {
	if !t.Match(addr) {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	return t.resolve(addr)
}

func (t *Transport) resolve(addr ma.Multiaddr) (*net.UDPAddr, error) {
	na, err := manet.ToNetAddr(addr)
	if err != nil {
		return nil, err
	}
	ua, ok := na.(*net.UDPAddr)
	if !ok {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	return ua, nil
}

// Conn is a UDP socket: a *net.UDPConn that knows its multiaddr and
// reads and writes datagrams in batches.
type Conn struct {
	*net.UDPConn
	addr    ma.Multiaddr
	batch   batcher
	segment atomic.Bool // the kernel takes UDP_SEGMENT (until it fails once)
}

var (
	_ transport.PacketConn  = (*Conn)(nil)
	_ transport.BatchConn   = (*Conn)(nil)
	_ transport.SegmentConn = (*Conn)(nil)
)

// maxSegments is the most datagrams one UDP_SEGMENT send may carry
// (UDP_MAX_SEGMENTS in linux/udp.h), and maxSegmentedBytes the most
// bytes (a UDP datagram's limit, which the whole run must fit).
const (
	maxSegments       = 64
	maxSegmentedBytes = 65507
)

// WriteSegments sends b to addr (a *net.UDPAddr) as datagrams of segment
// bytes, the last shorter if len(b) is not a multiple: with the kernel's
// segmentation offload, up to 64 datagrams per system call, or, once
// the kernel or device has refused it, as batches.
func (c *Conn) WriteSegments(b []byte, segment int, addr net.Addr) error {
	ua, ok := addr.(*net.UDPAddr)
	if segment <= 0 || segment > maxSegmentedBytes || !ok {
		return transport.WriteSegmentsAsBatch(c, b, segment, addr)
	}
	per := min(maxSegments, maxSegmentedBytes/segment) * segment
	for len(b) > segment && c.segment.Load() {
		n := min(len(b), per)
		err := writeSegmented(c.UDPConn, b[:n], segment, ua)
		if err != nil && segmentationFailed(err) {
			c.segment.Store(false)
			break
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	if len(b) == 0 {
		return nil
	}
	return transport.WriteSegmentsAsBatch(c, b, segment, addr)
}

// batcher is what ipv4.PacketConn and ipv6.PacketConn share.
type batcher interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// Multiaddr returns the resolved local address.
func (c *Conn) Multiaddr() ma.Multiaddr { return c.addr }

// maxBatch bounds how many datagrams one system call moves (what
// wireguard-go uses as its batch size).
const maxBatch = 128

// msgs is the scratch a batch call converts its Datagrams into; pooled,
// so that no lock is held across the system call and a steady stream of
// batches allocates nothing.
type msgs struct {
	ms   [maxBatch]ipv4.Message
	bufs [maxBatch][1][]byte
}

var msgPool = sync.Pool{New: func() any {
	m := new(msgs)
	for i := range m.ms {
		m.ms[i].Buffers = m.bufs[i][:]
	}
	return m
}}

// fill points the first len(ds) messages at ds (at most maxBatch).
func (m *msgs) fill(ds []transport.Datagram, write bool) []ipv4.Message {
	n := min(len(ds), maxBatch)
	for i := range n {
		m.bufs[i][0] = ds[i].Buf
		m.ms[i].Addr = nil
		if write {
			m.ms[i].Addr = ds[i].Addr
		}
		m.ms[i].N, m.ms[i].NN, m.ms[i].Flags = 0, 0, 0
	}
	return m.ms[:n]
}

// release drops the references to the caller's buffers and addresses and
// returns m to the pool.
func (m *msgs) release(n int) {
	for i := range n {
		m.bufs[i][0] = nil
		m.ms[i].Addr = nil
	}
	msgPool.Put(m)
}

// ReadBatch waits for at least one datagram and reads as many as are
// ready, up to len(ds) (and at most 128 per call).
func (c *Conn) ReadBatch(ds []transport.Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	m := msgPool.Get().(*msgs)
	ms := m.fill(ds, false)
	n, err := c.batch.ReadBatch(ms, 0)
	n = max(n, 0) // x/net passes on recvmmsg's -1 with an error
	for i := range n {
		ds[i].N, ds[i].Addr = ms[i].N, ms[i].Addr
	}
	m.release(len(ms))
	return n, err
}

// WriteBatch sends ds in order, each to its Addr (a *net.UDPAddr).
func (c *Conn) WriteBatch(ds []transport.Datagram) (int, error) {
	sent, used := 0, 0
	m := msgPool.Get().(*msgs)
	defer func() { m.release(used) }()
	for sent < len(ds) {
		ms := m.fill(ds[sent:], true)
		used = max(used, len(ms))
		n, err := c.batch.WriteBatch(ms, 0)
		n = max(n, 0) // x/net passes on sendmmsg's -1 with an error
		sent += n
		if err != nil {
			return sent, err
		}
		if n == 0 {
			return sent, io.ErrShortWrite // a system call that sends nothing and says nothing
		}
	}
	return sent, nil
}
