// Package transport defines the byte pipes and datagram sockets foxtrot
// peers over.
//
// A Transport dials and listens on multiaddrs and yields plain net.Conn and
// net.Listener values; it knows nothing about encryption, identities or
// peers. Implementations live in subpackages: tcp (/ip4|ip6/.../tcp/N) and
// mem (/mem/N, in-process, for tests and simulations). A Set picks the
// transport for an address.
//
// A PacketTransport is the datagram kind: it listens on a multiaddr and
// yields a PacketConn (a net.PacketConn), whose optional abilities, such as
// batched reads and writes (BatchConn), are found by type assertion. The
// udp subpackage implements it (/ip4|ip6/.../udp/N); a PacketSet picks one
// for an address.
//
// The package also registers foxtrot's two multiaddr protocols with
// go-multiaddr: /mem/<n> and /foxtrot/<id>, where <id> is either a foxtrot
// address (Base58Check of HASH160 of a compressed public key) or the 66 hex
// characters of the compressed public key itself. A peer's full address is
// a transport multiaddr followed by /foxtrot/<id>, for example
// /ip4/127.0.0.1/tcp/9000/foxtrot/1BoatSLRHtKNngkdXEeobR76b53LETtpyT.
//
// Package addr parses the /foxtrot value (addr.ParseNodeID), so there is
// one parser of every address form; transport imports nothing else of
// foxtrot's but internal utilities.
package transport

import (
	"context"
	"fmt"
	"net"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
)

// Transport dials and listens on the multiaddrs it matches.
type Transport interface {
	// Match reports whether this transport can dial and listen on addr
	// (addr carries no /foxtrot suffix).
	Match(addr ma.Multiaddr) bool
	// Dial connects to addr. It honours ctx for the whole dial.
	Dial(ctx context.Context, addr ma.Multiaddr) (net.Conn, error)
	// Listen listens on addr; a zero port (or /mem/0) picks a free one.
	Listen(addr ma.Multiaddr) (Listener, error)
}

// PeerDialer is the optional ability of a Transport to dial knowing the
// responder's identity key, found by type assertion: a transport whose
// wire is keyed by the responder's identity (transport/quic over
// transport/obfs) needs the key, which Dial's address (without its
// /foxtrot suffix) does not carry. A caller that has the key uses
// DialPeer; otherwise Dial.
type PeerDialer interface {
	DialPeer(ctx context.Context, addr ma.Multiaddr, pub *btcec.PublicKey) (net.Conn, error)
}

// Listener is a net.Listener that knows its own resolved multiaddr.
type Listener interface {
	net.Listener
	Multiaddr() ma.Multiaddr
}

// Set is a list of transports; the first that matches an address serves it.
type Set []Transport

// For returns the transport for addr or an error wrapping ErrNoTransport.
func (s Set) For(addr ma.Multiaddr) (Transport, error) {
	for _, t := range s {
		if t.Match(addr) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w for %s", ErrNoTransport, addr)
}
