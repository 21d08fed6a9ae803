package quic

import (
	"fmt"
	"net"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/transport"
)

// Punch sends one datagram of random bytes (obfs.Conn.Punch) to addr from the socket dials
// to addr leave from (the listening one, if any), so that this node's NAT
// opens its mapping and filter toward addr before a peer there dials in
// (hole punching). The receiver drops it unanswered: it authenticates
// under no key.
func (t *Transport) Punch(addr ma.Multiaddr) error {
	na, err := t.udp.ResolveAddr(addr)
	if err != nil {
		return err
	}
	ua, ok := na.(*net.UDPAddr)
	if !ok {
		return fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	s, err := t.dialSocket(addr[0].Code(), ua)
	if err != nil {
		return err
	}
	defer t.release(s)
	return s.pc.Punch(ua)
}
