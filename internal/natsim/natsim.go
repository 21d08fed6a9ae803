// Package natsim is a user-space network of hosts and NATs for tests, on
// a machine without veth or netem: datagrams move between in-memory
// net.PacketConns, and a NAT between a private host and the rest
// translates and filters them as RFC 4787 describes.
//
// A NAT's Behaviour is its mapping (when an outbound datagram reuses a
// public port) and its filtering (which inbound datagrams a mapping lets
// in), each endpoint-independent, address-dependent or
// address-and-port-dependent, and a mapping timeout on the Network's
// clock. The presets are the four classic kinds:
//
//	kind                        mapping                 filtering
//	FullCone                    endpoint-independent    endpoint-independent
//	RestrictedCone              endpoint-independent    address-dependent
//	PortRestrictedCone          endpoint-independent    address-and-port-dependent
//	Symmetric                   address-and-port-dep.   address-and-port-dependent
//
// What it leaves out: hairpinning (a private host cannot reach its own
// NAT's public address; hosts behind one NAT reach each other by private
// address), inbound datagrams do not refresh a mapping (RFC 4787 lets
// either), filtering permissions live as long as their mapping, and
// datagrams are never lost, reordered or delayed except that a full
// receive queue drops, as a socket buffer does. Delivery is synchronous:
// when WriteTo returns, the datagram is queued at its destination or
// dropped, so a test can check what arrived without waiting.
//
//	n := natsim.New(natsim.Config{})
//	server, _ := n.Host(netip.MustParseAddr("203.0.113.1")).ListenPacket(3478)
//	nat := n.NAT(netip.MustParseAddr("198.51.100.1"), natsim.Symmetric)
//	client, _ := nat.Host(netip.MustParseAddr("10.0.0.2")).ListenPacket(0)
//
// Host.Transport gives a host's sockets as a transport.PacketTransport, so
// transport/quic (Config.Packets), and with it whole nodes, run over the
// simulated network.
package natsim

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/deadline"
)

// Dependence is what a NAT's mapping or filtering depends on besides the
// private socket.
type Dependence int

const (
	// EndpointIndependent: nothing (one public port for every
	// destination; anyone may send in).
	EndpointIndependent Dependence = iota
	// AddressDependent: the remote IP address.
	AddressDependent
	// AddressAndPortDependent: the remote IP address and port.
	AddressAndPortDependent
)

func (d Dependence) String() string {
	switch d {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressAndPortDependent:
		return "address-and-port-dependent"
	}
	return fmt.Sprintf("Dependence(%d)", int(d))
}

// Behaviour is how a NAT maps and filters.
type Behaviour struct {
	Name      string
	Mapping   Dependence
	Filtering Dependence
	// Timeout is how long a mapping lives after its last outbound
	// datagram. Default 2 minutes (RFC 4787's least).
	Timeout time.Duration
}

// The four classic kinds of NAT.
var (
	FullCone           = Behaviour{Name: "full cone", Mapping: EndpointIndependent, Filtering: EndpointIndependent}
	RestrictedCone     = Behaviour{Name: "restricted cone", Mapping: EndpointIndependent, Filtering: AddressDependent}
	PortRestrictedCone = Behaviour{Name: "port-restricted cone", Mapping: EndpointIndependent, Filtering: AddressAndPortDependent}
	Symmetric          = Behaviour{Name: "symmetric", Mapping: AddressAndPortDependent, Filtering: AddressAndPortDependent}
)

// Config configures a Network.
type Config struct {
	// Now is the clock mappings expire by. Default time.Now.
	Now func() time.Time
	// QueueLen is how many datagrams a conn holds unread before it drops
	// more. Default 256.
	QueueLen int
}

// ErrClosed is returned by a closed conn's methods; it wraps
// net.ErrClosed.
var ErrClosed = fmt.Errorf("natsim: %w", net.ErrClosed)

// ErrPortInUse means a host already has a conn on the port asked for.
var ErrPortInUse = errors.New("natsim: port in use")

// Network is the public internet of a test: public hosts and NATs by
// their public address. It is safe for concurrent use.
type Network struct {
	cfg    Config
	mu     sync.Mutex         // guards everything below and every Host's and NAT's state
	public map[netip.Addr]any // *Host or *NAT
}

// New returns an empty network.
func New(cfg Config) *Network {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 256
	}
	return &Network{cfg: cfg, public: make(map[netip.Addr]any)}
}

// Host adds a host with a public address ip (replacing any there).
func (n *Network) Host(ip netip.Addr) *Host {
	h := &Host{net: n, ip: ip, conns: make(map[uint16]*Conn), nextPort: 40000}
	n.mu.Lock()
	n.public[ip] = h
	n.mu.Unlock()
	return h
}

// NAT adds a NAT with the public address ip.
func (n *Network) NAT(ip netip.Addr, b Behaviour) *NAT {
	if b.Timeout <= 0 {
		b.Timeout = 2 * time.Minute
	}
	nat := &NAT{
		net: n, ip: ip, b: b,
		hosts:  make(map[netip.Addr]*Host),
		byKey:  make(map[mapKey]*mapping),
		byPort: make(map[uint16]*mapping),
		next:   20000,
	}
	n.mu.Lock()
	n.public[ip] = nat
	n.mu.Unlock()
	return nat
}

// NAT translates between its private hosts and the network.
type NAT struct {
	net    *Network
	ip     netip.Addr
	b      Behaviour
	hosts  map[netip.Addr]*Host
	byKey  map[mapKey]*mapping
	byPort map[uint16]*mapping
	next   uint16

	filtered, unmapped uint64
}

// mapKey is what a mapping is found by: the private socket and as much
// of the destination as the mapping depends on.
type mapKey struct {
	private netip.AddrPort
	remote  netip.AddrPort
}

type mapping struct {
	key     mapKey
	port    uint16
	last    time.Time
	allowIP map[netip.Addr]bool
	allowAP map[netip.AddrPort]bool
}

// Host adds a private host with address ip behind the NAT.
func (nat *NAT) Host(ip netip.Addr) *Host {
	h := &Host{net: nat.net, nat: nat, ip: ip, conns: make(map[uint16]*Conn), nextPort: 40000}
	nat.net.mu.Lock()
	nat.hosts[ip] = h
	nat.net.mu.Unlock()
	return h
}

// Addr is the NAT's public address.
func (nat *NAT) Addr() netip.Addr { return nat.ip }

// Behaviour is how the NAT maps and filters.
func (nat *NAT) Behaviour() Behaviour { return nat.b }

// NATStats counts a NAT's drops.
type NATStats struct {
	Mappings int    // live mappings (some may have expired unnoticed)
	Filtered uint64 // inbound datagrams a mapping's filter refused
	Unmapped uint64 // inbound datagrams to no live mapping
}

// Stats returns the NAT's counters.
func (nat *NAT) Stats() NATStats {
	nat.net.mu.Lock()
	defer nat.net.mu.Unlock()
	return NATStats{Mappings: len(nat.byPort), Filtered: nat.filtered, Unmapped: nat.unmapped}
}

func (nat *NAT) expiredLocked(m *mapping, now time.Time) bool {
	if now.Sub(m.last) < nat.b.Timeout {
		return false
	}
	delete(nat.byKey, m.key)
	delete(nat.byPort, m.port)
	return true
}

// outboundLocked maps a datagram from private to remote and returns the
// public port it leaves from.
func (nat *NAT) outboundLocked(private, remote netip.AddrPort) uint16 {
	now := nat.net.cfg.Now()
	k := mapKey{private: private}
	switch nat.b.Mapping {
	case AddressDependent:
		k.remote = netip.AddrPortFrom(remote.Addr(), 0)
	case AddressAndPortDependent:
		k.remote = remote
	}
	m := nat.byKey[k]
	if m != nil && nat.expiredLocked(m, now) {
		m = nil
	}
	if m == nil {
		for nat.byPort[nat.next] != nil || nat.next == 0 {
			nat.next++
		}
		m = &mapping{key: k, port: nat.next, allowIP: map[netip.Addr]bool{}, allowAP: map[netip.AddrPort]bool{}}
		nat.next++
		nat.byKey[k] = m
		nat.byPort[m.port] = m
	}
	m.last = now
	m.allowIP[remote.Addr()] = true
	m.allowAP[remote] = true
	return m.port
}

// inboundLocked returns the private socket a datagram from remote to the
// public port goes to, or false if the NAT drops it.
func (nat *NAT) inboundLocked(remote netip.AddrPort, port uint16) (netip.AddrPort, bool) {
	m := nat.byPort[port]
	if m == nil || nat.expiredLocked(m, nat.net.cfg.Now()) {
		nat.unmapped++
		return netip.AddrPort{}, false
	}
	ok := true
	switch nat.b.Filtering {
	case AddressDependent:
		ok = m.allowIP[remote.Addr()]
	case AddressAndPortDependent:
		ok = m.allowAP[remote]
	}
	if !ok {
		nat.filtered++
		return netip.AddrPort{}, false
	}
	return m.key.private, true
}

// Host is a machine with one address: public, or private behind a NAT.
type Host struct {
	net      *Network
	nat      *NAT // nil for a public host
	ip       netip.Addr
	conns    map[uint16]*Conn
	nextPort uint16
}

// Addr is the host's own address (private, behind a NAT).
func (h *Host) Addr() netip.Addr { return h.ip }

// ListenPacket opens a conn on port; 0 picks a free one.
func (h *Host) ListenPacket(port uint16) (*Conn, error) {
	h.net.mu.Lock()
	defer h.net.mu.Unlock()
	if port == 0 {
		for h.conns[h.nextPort] != nil || h.nextPort == 0 {
			h.nextPort++
		}
		port = h.nextPort
		h.nextPort++
	} else if h.conns[port] != nil {
		return nil, fmt.Errorf("%w: %s", ErrPortInUse, netip.AddrPortFrom(h.ip, port))
	}
	c := &Conn{
		host:   h,
		local:  netip.AddrPortFrom(h.ip, port),
		queue:  make(chan datagram, h.net.cfg.QueueLen),
		closed: make(chan struct{}),
	}
	h.conns[port] = c
	return c, nil
}

type datagram struct {
	from netip.AddrPort
	b    []byte
}

// sendLocked moves one datagram from a conn's socket to dst.
func (n *Network) sendLocked(from *Host, src, dst netip.AddrPort, b []byte) {
	if nat := from.nat; nat != nil {
		if h := nat.hosts[dst.Addr()]; h != nil { // a neighbour behind the same NAT
			h.deliverLocked(dst.Port(), src, b)
			return
		}
		src = netip.AddrPortFrom(nat.ip, nat.outboundLocked(src, dst))
	}
	switch to := n.public[dst.Addr()].(type) {
	case *Host:
		to.deliverLocked(dst.Port(), src, b)
	case *NAT:
		if private, ok := to.inboundLocked(src, dst.Port()); ok {
			if h := to.hosts[private.Addr()]; h != nil {
				h.deliverLocked(private.Port(), src, b)
			}
		}
	}
}

func (h *Host) deliverLocked(port uint16, from netip.AddrPort, b []byte) {
	c := h.conns[port]
	if c == nil {
		return
	}
	select {
	case c.queue <- datagram{from: from, b: append([]byte(nil), b...)}:
	default: // a full socket buffer drops
	}
}

// Conn is a UDP-like socket of the simulated network. It is a
// net.PacketConn whose addresses are *net.UDPAddr.
type Conn struct {
	host      *Host
	local     netip.AddrPort
	queue     chan datagram
	closed    chan struct{}
	closeOnce sync.Once
	rd, wd    deadline.Deadline
}

var _ net.PacketConn = (*Conn)(nil)

// ReadFrom waits for the next datagram; a longer one than p is truncated.
// A datagram already queued is returned even when the read deadline has
// passed (a real socket would time out first), so a test can drain what
// arrived with a past deadline and no waiting.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case <-c.closed:
		return 0, nil, c.opError("read", nil, ErrClosed)
	default:
	}
	select {
	case d := <-c.queue:
		return copy(p, d.b), net.UDPAddrFromAddrPort(d.from), nil
	default:
	}
	select {
	case d := <-c.queue:
		return copy(p, d.b), net.UDPAddrFromAddrPort(d.from), nil
	case <-c.closed:
		return 0, nil, c.opError("read", nil, ErrClosed)
	case <-c.rd.Wait():
		return 0, nil, c.opError("read", nil, deadline.ErrExceeded)
	}
}

// WriteTo sends p to addr, a *net.UDPAddr.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, c.opError("write", addr, ErrClosed)
	default:
	}
	if c.wd.Exceeded() {
		return 0, c.opError("write", addr, deadline.ErrExceeded)
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, c.opError("write", addr, fmt.Errorf("natsim: address %v is not a *net.UDPAddr", addr))
	}
	dst := ua.AddrPort()
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	n := c.host.net
	n.mu.Lock()
	n.sendLocked(c.host, c.local, dst, p)
	n.mu.Unlock()
	return len(p), nil
}

func (c *Conn) opError(op string, addr net.Addr, err error) error {
	return &net.OpError{Op: op, Net: "udp", Source: c.LocalAddr(), Addr: addr, Err: err}
}

// Close closes the conn and unblocks its readers. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		n := c.host.net
		n.mu.Lock()
		if c.host.conns[c.local.Port()] == c {
			delete(c.host.conns, c.local.Port())
		}
		n.mu.Unlock()
	})
	return nil
}

// LocalAddr is the conn's own address (private, behind a NAT).
func (c *Conn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.Set(t)
	c.wd.Set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.Set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.Set(t); return nil }
