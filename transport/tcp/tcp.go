// Package tcp is the TCP transport: /ip4/<ip>/tcp/<port>, /ip6/<ip>/tcp/<port>
// and /dns|dns4|dns6/<name>/tcp/<port> for dialling.
package tcp

import (
	"context"
	"net"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/foxtrotnet/foxtrot/transport"
)

// Transport dials and listens on TCP. The zero value is ready to use.
type Transport struct {
	// Dialer is used for outgoing connections; zero value if nil.
	Dialer *net.Dialer
}

var _ transport.Transport = (*Transport)(nil)

// New returns a TCP transport with default settings.
func New() *Transport { return &Transport{} }

// Match reports whether addr is an IP or DNS address followed by /tcp/N.
func (t *Transport) Match(addr ma.Multiaddr) bool {
	if len(addr) != 2 || addr[1].Code() != ma.P_TCP {
		return false
	}
	switch addr[0].Code() {
	case ma.P_IP4, ma.P_IP6, ma.P_DNS, ma.P_DNS4, ma.P_DNS6:
		return true
	}
	return false
}

// Dial connects to addr.
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr) (net.Conn, error) {
	network, hostport, err := manet.DialArgs(addr)
	if err != nil {
		return nil, err
	}
	d := t.Dialer
	if d == nil {
		d = &net.Dialer{}
	}
	return d.DialContext(ctx, network, hostport)
}

// Listen listens on addr (IP addresses only); port 0 picks a free port.
func (t *Transport) Listen(addr ma.Multiaddr) (transport.Listener, error) {
	network, hostport, err := manet.DialArgs(addr)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen(network, hostport)
	if err != nil {
		return nil, err
	}
	resolved, err := manet.FromNetAddr(l.Addr())
	if err != nil {
		l.Close()
		return nil, err
	}
	return &listener{Listener: l, addr: resolved}, nil
}

type listener struct {
	net.Listener
	addr ma.Multiaddr
}

func (l *listener) Multiaddr() ma.Multiaddr { return l.addr }
