package foxtrot

import (
	"context"
	"net"

	"github.com/foxtrotnet/foxtrot/route"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// StealthOptions are the choices of a stealth listener (see
// Node.ListenStealthWith).
type StealthOptions struct {
	// Advertise makes the node advertise a fingerprint of the address's
	// scan key to its peers, which pass it on within Config.AdvertRadius
	// hops, so that requests for the address go toward this node instead
	// of flooding the network. The price is privacy: nodes within the
	// radius learn that an address with this fingerprint is served this
	// way, and relays on a request's path see which address family it is
	// for (never which connection, nor who dials). Default off.
	Advertise bool
	// Labels are BIP-352 labels whose addresses the listener answers
	// too (label 0 is change: do not hand it out).
	Labels []uint32
}

// ListenStealth starts accepting connections to a stealth address (BIP-352
// silent payments: the keys' sp1... address also receives payments). The
// listener's Addr is the address (a stealth.Address; String gives
// sp1...). A dialler reaches it with Dial("sp1..."): each connection is to
// a one-time key derived from the address, so relays cannot link two
// connections to one address; the accepted Conn's LocalAddr is that
// one-time key's foxtrot address. The node recognises the requests with
// the scan key and answers them with the spend key. It does not advertise
// (see ListenStealthWith).
func (n *Node) ListenStealth(keys *stealth.Keys) (net.Listener, error) {
	return n.ListenStealthWith(keys, StealthOptions{})
}

// ListenStealthWith is ListenStealth with options: advertising, labels.
func (n *Node) ListenStealthWith(keys *stealth.Keys, opts StealthOptions) (net.Listener, error) {
	var a stealth.Address
	if keys != nil {
		a = keys.Address()
	}
	l, _, err := n.router.ListenStealth(keys, route.StealthOptions{Advertise: opts.Advertise, Labels: opts.Labels})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "foxtrot", Addr: a, Err: err}
	}
	return &StealthListener{l: l, addr: a}, nil
}

// ListenStealth listens on a stealth address with the default node (see
// DefaultNode and Node.ListenStealth).
func ListenStealth(keys *stealth.Keys) (net.Listener, error) {
	n, err := DefaultNode()
	if err != nil {
		return nil, err
	}
	return n.ListenStealth(keys)
}

// StealthListener accepts connections to a stealth address. It implements
// net.Listener as Listener does; Addr is the stealth.Address.
type StealthListener struct {
	l    *route.Listener
	addr stealth.Address
}

var _ net.Listener = (*StealthListener)(nil)

// Accept waits for and returns the next connection.
func (l *StealthListener) Accept() (net.Conn, error) {
	s, err := l.l.Accept()
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "foxtrot", Addr: l.addr, Err: err}
	}
	return newConn(s), nil
}

// Close stops listening (and advertising). Accept returns at once with an
// error wrapping net.ErrClosed; connections already accepted stay open.
// Idempotent.
func (l *StealthListener) Close() error { return l.l.Close() }

// Addr returns the stealth address (mainnet, sp1...).
func (l *StealthListener) Addr() net.Addr { return l.addr }

// dialStealth dials a stealth address.
func (n *Node) dialStealth(ctx context.Context, a stealth.Address) (*route.Session, error) {
	return n.router.DialStealth(ctx, nil, a)
}
