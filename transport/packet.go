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
// conn.Bind does: BatchConn (several datagrams per system call). Use
// ReadBatch and WriteBatch to take an ability where it exists and fall
// back where it does not.
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
