package foxtrot

import (
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/transport"
)

// A node's peer-link budget is its Config's, and what it refuses shows in
// Stats: sockets from one address over MaxHandshakesPerAddr are closed at
// once and counted in SocketsRefused.
func TestStatsCountSocketsRefusedOverTheAddressLimit(t *testing.T) {
	n := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, MaxHandshakesPerAddr: 2})
	base, _ := transport.SplitIdentity(ma.StringCast(n.ListenAddrs()[0]))
	_, hp, err := manet.DialArgs(base)
	require.NoError(t, err)
	for range 5 {
		c, err := net.Dial("tcp", hp)
		require.NoError(t, err)
		defer c.Close()
	}
	require.Eventually(t, func() bool { return n.Stats().SocketsRefused == 3 }, 5*time.Second, time.Millisecond)
}
