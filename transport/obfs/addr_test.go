package obfs

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// The key maps used to be keyed by addr.String(); keyOf must tell
// addresses apart exactly as their strings do (the slow, obvious
// reference), over every pair of a set of addresses in the forms inner
// conns give and callers pass.
func TestAddrKeysAgreeWithStrings(t *testing.T) {
	var addrs []net.Addr
	for _, ip := range []string{"127.0.0.1", "10.0.0.1", "::1", "fe80::1", "2001:db8::1", "::ffff:10.0.0.1", "::"} {
		for _, port := range []int{0, 1, 443, 65535} {
			parsed := net.ParseIP(ip) // 16 bytes, IPv4 too
			addrs = append(addrs,
				&net.UDPAddr{IP: parsed, Port: port},
				&net.UDPAddr{IP: parsed.To4(), Port: port}, // nil for IPv6
				&net.UDPAddr{IP: parsed, Port: port, Zone: "eth0"},
				net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port))),
				fakeAddr((&net.UDPAddr{IP: parsed, Port: port}).String()),
				fakeAddr(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)).String()),
			)
		}
	}
	addrs = append(addrs,
		&net.UDPAddr{Port: 1}, fakeAddr(":1"), &net.UDPAddr{IP: net.IP{1, 2, 3}, Port: 1},
		&net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: 65536 + 1}, &net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: -1},
		fakeAddr("[::1]:01"), fakeAddr("[0:0::1]:1"), fakeAddr("010.0.0.1:1"), fakeAddr("a name"), fakeAddr(""),
		fakeAddr("[fe80::1%eth0]:1"), fakeAddr("10.0.0.1%eth0:1"),
	)
	for _, a := range addrs {
		for _, b := range addrs {
			require.Equal(t, a.String() == b.String(), keyOf(a) == keyOf(b), "%T %q and %T %q", a, a, b, b)
		}
	}
}
