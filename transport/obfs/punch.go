package obfs

import (
	"io"
	"net"
)

// PunchSize is the length of a punch datagram: shorter than Overhead, so
// no key could open it and a receiver drops it after a length check.
const PunchSize = 40

// Punch sends addr one datagram of PunchSize random bytes, so that a NAT
// in front of this conn opens its mapping and filter toward addr before a
// peer there sends to it (hole punching). Random bytes look like any
// other datagram on the wire; the receiver drops it unanswered.
func (c *Conn) Punch(addr net.Addr) error {
	var b [PunchSize]byte
	if _, err := io.ReadFull(c.rand(), b[:]); err != nil {
		return err
	}
	_, err := c.inner.WriteTo(b[:], addr)
	return err
}
