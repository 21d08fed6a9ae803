package obfs

import (
	"net"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/transport"
)

// Transport is a transport.PacketTransport whose conns are obfuscated: it
// listens with another (udp) and wraps each conn with New.
type Transport struct {
	inner transport.PacketTransport
	cfg   Config
}

var _ transport.PacketTransport = (*Transport)(nil)

// NewTransport wraps inner; cfg is validated here, once.
func NewTransport(inner transport.PacketTransport, cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Transport{inner: inner, cfg: cfg}, nil
}

// Match is the inner transport's.
func (t *Transport) Match(addr ma.Multiaddr) bool { return t.inner.Match(addr) }

// ResolveAddr is the inner transport's.
func (t *Transport) ResolveAddr(addr ma.Multiaddr) (net.Addr, error) {
	return t.inner.ResolveAddr(addr)
}

// ListenPacket listens with the inner transport and returns the conn
// wrapped: a *Conn.
func (t *Transport) ListenPacket(addr ma.Multiaddr) (transport.PacketConn, error) {
	pc, err := t.inner.ListenPacket(addr)
	if err != nil {
		return nil, err
	}
	c, err := New(pc, t.cfg)
	if err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}
