package quic_test

import (
	"io"
	"net/netip"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/natsim"
	"github.com/foxtrotnet/foxtrot/transport/quic"
)

// A Transport runs over any datagram transport (Config.Packets): here a
// client behind a simulated port-restricted NAT dials a public server by
// its identity, and the server sees the dial come from the NAT's public
// address (its mapping of the client's listening socket).
func TestRunsOverASimulatedNetwork(t *testing.T) {
	n := natsim.New(natsim.Config{})
	server := n.Host(netip.MustParseAddr("203.0.113.1"))
	nat := n.NAT(netip.MustParseAddr("198.51.100.1"), natsim.PortRestrictedCone)
	client := nat.Host(netip.MustParseAddr("10.0.0.2"))

	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	ckey, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	st := newTransport(t, quic.Config{Identity: key, Packets: server.Transport()})
	ct := newTransport(t, quic.Config{Identity: ckey, Packets: client.Transport()})

	l, err := st.Listen(ma.StringCast("/ip4/0.0.0.0/udp/4000"))
	require.NoError(t, err)
	defer l.Close()
	require.Equal(t, "/ip4/203.0.113.1/udp/4000", l.Multiaddr().String())
	cl, err := ct.Listen(ma.StringCast("/ip4/10.0.0.2/udp/5000"))
	require.NoError(t, err)
	defer cl.Close()

	accepted := make(chan []byte, 1)
	remote := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		defer c.Close()
		remote <- c.RemoteAddr().String()
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil {
			b = nil
		}
		accepted <- b
	}()
	d, err := ct.DialPeer(ctxT(t), ma.StringCast("/ip4/203.0.113.1/udp/4000"), key.PubKey())
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Write([]byte("hello"))
	require.NoError(t, err)
	require.Equal(t, "198.51.100.1:20000", <-remote) // the NAT's first mapping
	require.Equal(t, []byte("hello"), <-accepted)
}
