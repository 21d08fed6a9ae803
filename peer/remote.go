package peer

import "net"

// RemoteAddr is the transport address the link's connection comes from
// (for a UDP link, the *net.UDPAddr its datagrams arrive from: the
// peer's NAT mapping, if it is behind one).
func (l *Link) RemoteAddr() net.Addr { return l.sc.RemoteAddr() }

// LocalAddr is the link connection's local transport address.
func (l *Link) LocalAddr() net.Addr { return l.sc.LocalAddr() }
