package natsim

import (
	"fmt"
	"net"
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/foxtrotnet/foxtrot/transport"
)

// Transport is a host's sockets as a transport.PacketTransport, so that a
// datagram transport (transport/quic's Config.Packets) can run over the
// simulated network: it listens on /ip4/<ip>/udp/<port> where ip is the
// host's own address or unspecified (0.0.0.0), and sends to any
// /ip4/<ip>/udp/<port>.
type Transport struct{ h *Host }

var _ transport.PacketTransport = Transport{}

// Transport returns the host's sockets as a transport.PacketTransport.
func (h *Host) Transport() Transport { return Transport{h: h} }

// Match reports whether addr is /ip4/<ip>/udp/<port>.
func (t Transport) Match(addr ma.Multiaddr) bool {
	return len(addr) == 2 && addr[0].Code() == ma.P_IP4 && addr[1].Code() == ma.P_UDP
}

// ResolveAddr returns addr as a *net.UDPAddr.
func (t Transport) ResolveAddr(addr ma.Multiaddr) (net.Addr, error) {
	if !t.Match(addr) {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	return manet.ToNetAddr(addr)
}

// ListenPacket opens a conn of the host on addr's port (0 picks one);
// addr's IP must be the host's or unspecified.
func (t Transport) ListenPacket(addr ma.Multiaddr) (transport.PacketConn, error) {
	na, err := t.ResolveAddr(addr)
	if err != nil {
		return nil, err
	}
	ap := na.(*net.UDPAddr).AddrPort()
	ip := ap.Addr().Unmap()
	if !ip.IsUnspecified() && ip != t.h.ip {
		return nil, fmt.Errorf("natsim: host %s cannot listen on %s", t.h.ip, ip)
	}
	return t.h.ListenPacket(ap.Port())
}

// Multiaddr is the conn's own address as /ip4/<ip>/udp/<port>.
func (c *Conn) Multiaddr() ma.Multiaddr {
	m, err := manet.FromNetAddr(net.UDPAddrFromAddrPort(c.local))
	if err != nil {
		return nil
	}
	return m
}

// AddrPort is the conn's own address (private, behind a NAT).
func (c *Conn) AddrPort() netip.AddrPort { return c.local }

// SetReadBuffer does nothing: a conn's queue is Config.QueueLen
// datagrams. It is here so that quic-go, which asks for larger socket
// buffers, finds the method and says nothing.
func (c *Conn) SetReadBuffer(int) error { return nil }

// SetWriteBuffer does nothing (delivery is synchronous).
func (c *Conn) SetWriteBuffer(int) error { return nil }
