package transport

import (
	"fmt"
	"net"

	ma "github.com/multiformats/go-multiaddr"
)

// PacketTransport carries datagrams: it listens on the multiaddrs it
// matches and yields a PacketConn, which sends to and receives from any
// address of the same kind. It is what a datagram-based link (QUIC, an
// obfuscated UDP) is built on; like Transport it knows nothing of
// encryption or peers.
//
// A PacketConn may have more abilities than net.PacketConn, each an
// interface of its own found by type assertion, as wireguard-go's
// conn.Bind does: BatchConn (several datagrams per system call) and
// SegmentConn (a run of datagrams to one address as one buffer). Use
// ReadBatch, WriteBatch and WriteSegments to take an ability where it
// exists and fall back where it does not.
type PacketTransport interface {
	// Match reports whether this transport can listen on addr and send
	// to it (addr carries no /foxtrot suffix).
	Match(addr ma.Multiaddr) bool
	// ListenPacket opens a PacketConn on addr; a zero port picks a free
	// one.
	ListenPacket(addr ma.Multiaddr) (PacketConn, error)
	// ResolveAddr returns the net.Addr that a PacketConn's WriteTo takes
	// for a matched addr.
	ResolveAddr(addr ma.Multiaddr) (net.Addr, error)
}

// PacketConn is a net.PacketConn that knows its own resolved multiaddr.
type PacketConn interface {
	net.PacketConn
	Multiaddr() ma.Multiaddr
}

// Datagram is one datagram of a batch.
type Datagram struct {
	// Buf is, for a read, the buffer to fill (a longer datagram is
	// truncated to it); for a write, the datagram.
	Buf []byte
	// N is, after a read, how many bytes of Buf the datagram filled.
	N int
	// Addr is, after a read, the sender; for a write, the destination.
	Addr net.Addr
}

// BatchConn is the ability to move several datagrams per system call
// (recvmmsg and sendmmsg on Linux). Deadlines and Close apply as to
// ReadFrom and WriteTo.
type BatchConn interface {
	// ReadBatch waits for at least one datagram and reads as many as are
	// ready, up to len(ds), filling ds[i].N and ds[i].Addr. It returns
	// how many it read.
	ReadBatch(ds []Datagram) (int, error)
	// WriteBatch sends ds in order. It returns how many it sent, which
	// is len(ds) unless the error is not nil.
	WriteBatch(ds []Datagram) (int, error)
}

// ReadBatch reads datagrams into ds: several per call through c's
// BatchConn ability, or else one with ReadFrom.
func ReadBatch(c net.PacketConn, ds []Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	if b, ok := c.(BatchConn); ok {
		return b.ReadBatch(ds)
	}
	n, addr, err := c.ReadFrom(ds[0].Buf)
	if err != nil {
		return 0, err
	}
	ds[0].N, ds[0].Addr = n, addr
	return 1, nil
}

// WriteBatch sends ds: in as few calls as c's BatchConn ability allows,
// or else one WriteTo each. It returns how many it sent.
func WriteBatch(c net.PacketConn, ds []Datagram) (int, error) {
	if b, ok := c.(BatchConn); ok {
		return b.WriteBatch(ds)
	}
	for i := range ds {
		if _, err := c.WriteTo(ds[i].Buf, ds[i].Addr); err != nil {
			return i, err
		}
	}
	return len(ds), nil
}

// SegmentConn is the ability to send a run of datagrams to one address
// from one buffer, cut into segments of equal size (UDP generic
// segmentation offload on Linux: one system call, and one trip through
// the kernel's stack, for the whole run).
type SegmentConn interface {
	// WriteSegments sends b to addr as datagrams of segment bytes, the
	// last one shorter if len(b) is not a multiple of segment. It
	// returns an error if not all were sent.
	WriteSegments(b []byte, segment int, addr net.Addr) error
}

// WriteSegments sends b to addr as datagrams of segment bytes (the last
// may be shorter): through c's SegmentConn ability, or else as a batch
// (WriteSegmentsAsBatch).
func WriteSegments(c net.PacketConn, b []byte, segment int, addr net.Addr) error {
	if s, ok := c.(SegmentConn); ok {
		return s.WriteSegments(b, segment, addr)
	}
	return WriteSegmentsAsBatch(c, b, segment, addr)
}

// WriteSegmentsAsBatch sends b to addr as datagrams of segment bytes
// through WriteBatch, 64 at a time: what WriteSegments does for a conn
// without the SegmentConn ability, and what one whose offload fails can
// fall back to.
func WriteSegmentsAsBatch(c net.PacketConn, b []byte, segment int, addr net.Addr) error {
	if segment <= 0 {
		return fmt.Errorf("transport: segment size %d", segment)
	}
	var ds [64]Datagram
	for len(b) > 0 {
		n := 0
		for n < len(ds) && len(b) > 0 {
			k := min(segment, len(b))
			ds[n] = Datagram{Buf: b[:k], Addr: addr}
			b = b[k:]
			n++
		}
		if _, err := WriteBatch(c, ds[:n]); err != nil {
			return err
		}
	}
	return nil
}

// PacketSet is a list of packet transports; the first that matches an
// address serves it. It is Set's sibling for datagrams: a node holds one
// of each, and a transport that offers both kinds goes in both.
type PacketSet []PacketTransport

// For returns the packet transport for addr or an error wrapping
// ErrNoTransport.
func (s PacketSet) For(addr ma.Multiaddr) (PacketTransport, error) {
	for _, t := range s {
		if t.Match(addr) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w for datagrams to %s", ErrNoTransport, addr)
}
