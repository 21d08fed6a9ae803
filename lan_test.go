package foxtrot_test

import (
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
)

// multicastGroup returns a test multicast group on a random port, or
// skips the test when this machine does not deliver multicast to itself.
func multicastGroup(t *testing.T) *net.UDPAddr {
	g := &net.UDPAddr{IP: net.IPv4(239, 255, 70, 84), Port: 20000 + rand.IntN(20000)}
	r, err := net.ListenMulticastUDP("udp4", nil, g)
	if err != nil {
		t.Skipf("no multicast here: %v", err)
	}
	defer r.Close()
	s, err := net.DialUDP("udp4", nil, g)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Write([]byte("probe"))
	require.NoError(t, err)
	r.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := r.ReadFrom(make([]byte, 16)); err != nil {
		t.Skipf("multicast does not loop back here: %v", err)
	}
	return g
}

// TestLANDiscoveryLinksNodesOfOneNetwork: nodes with LANDiscovery and no
// peers configured find each other on the segment and link; a node with
// another network key hears beacons it cannot open and links to no one.
func TestLANDiscoveryLinksNodesOfOneNetwork(t *testing.T) {
	group := multicastGroup(t)
	mk := func(networkKey string) (*foxtrot.Node, foxtrot.Addr) {
		key, err := foxtrot.GenerateKey()
		require.NoError(t, err)
		cfg := foxtrot.Config{Identity: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			LANDiscovery: true, NetworkKey: []byte(networkKey)}
		foxtrot.SetLANGroup(&cfg, group)
		n, err := foxtrot.NewNode(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		return n, n.Identity()
	}
	a, aID := mk("the network of a and b, 32 bytes")
	b, bID := mk("the network of a and b, 32 bytes")
	c, _ := mk("another network entirely, 32 byt")
	waitFor(t, "a and b to link", func() bool {
		return slices.Contains(a.Peers(), bID) && slices.Contains(b.Peers(), aID)
	})
	require.Empty(t, c.Peers(), "the other network's node heard nothing it could open")
}
