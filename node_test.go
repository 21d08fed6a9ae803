package foxtrot

import (
	"context"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestNode(t testing.TB, cfg Config) *Node {
	n, err := NewNode(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	return n
}

func TestNodesLinkOverTCPAndMem(t *testing.T) {
	for _, listen := range []string{"/ip4/127.0.0.1/tcp/0", "/mem/0"} {
		t.Run(strings.Split(listen, "/")[1], func(t *testing.T) {
			a := newTestNode(t, Config{ListenAddrs: []string{listen}})
			b := newTestNode(t, Config{})
			require.Len(t, a.ListenAddrs(), 1)
			full := a.ListenAddrs()[0]
			require.True(t, strings.HasSuffix(full, "/foxtrot/"+a.Identity().String()), full)
			require.NotContains(t, full, "/tcp/0/", "the port is resolved")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, b.Connect(ctx, full))
			require.Equal(t, []Addr{a.Identity()}, b.Peers())
			require.Eventually(t, func() bool { return len(a.Peers()) == 1 && a.Peers()[0] == b.Identity() },
				5*time.Second, time.Millisecond)
			require.NoError(t, b.Close())
			require.NoError(t, b.Close(), "Close is idempotent")
			require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 5*time.Second, time.Millisecond)
		})
	}
}

func TestConfiguredPeersAreLinkedAtStart(t *testing.T) {
	netw := mem.NewNetwork(mem.Options{})
	tr := []transport.Transport{netw.Transport()}
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, Transports: tr})
	b := newTestNode(t, Config{Peers: a.ListenAddrs(), Transports: tr})
	require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 5*time.Second, time.Millisecond)
}

func TestConnectToTheWrongIdentityFails(t *testing.T) {
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}})
	b := newTestNode(t, Config{})
	other, err := GenerateKey()
	require.NoError(t, err)
	full := a.ListenAddrs()[0]
	wrong := full[:strings.LastIndex(full, "/")+1] + AddrFromPubKey(other.PubKey()).String()
	err = b.Connect(context.Background(), wrong)
	require.ErrorIs(t, err, peer.ErrWrongIdentity)
}

func TestNewNodeRejectsMalformedAddresses(t *testing.T) {
	_, err := NewNode(Config{ListenAddrs: []string{"not a multiaddr"}})
	require.Error(t, err)
	_, err = NewNode(Config{Peers: []string{"/ip4/1.2.3.4/tcp/1/foxtrot/notanaddress"}})
	require.Error(t, err)
	_, err = NewNode(Config{ListenAddrs: []string{"/ip4/1.2.3.4/sctp/9"}}) // no transport serves SCTP
	require.ErrorIs(t, err, transport.ErrNoTransport)
}

func TestConnectAllLinksWhatItCanAndSaysWhatItCouldNot(t *testing.T) {
	netw := mem.NewNetwork(mem.Options{})
	tr := []transport.Transport{netw.Transport()}
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, Transports: tr})
	b := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, Transports: tr})
	c := newTestNode(t, Config{Transports: tr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	linked, err := c.ConnectAll(ctx, []string{a.ListenAddrs()[0], b.ListenAddrs()[0], "/mem/999"})
	require.Equal(t, 2, linked)
	require.ErrorContains(t, err, "/mem/999")
	require.Len(t, c.Peers(), 2)
}

func TestEnvConfigReadsTheEnvironment(t *testing.T) {
	t.Setenv("FOXTROT_LISTEN", "/mem/0, /ip4/127.0.0.1/tcp/0")
	t.Setenv("FOXTROT_PEERS", "")
	c := EnvConfig()
	require.Equal(t, []string{"/mem/0", "/ip4/127.0.0.1/tcp/0"}, c.ListenAddrs)
	require.Empty(t, c.Peers)
}

func TestNewNodeRefusesNegativeSettings(t *testing.T) {
	_, err := NewNode(Config{SendBuffer: -1, Linger: -time.Second})
	require.ErrorIs(t, err, ErrBadConfig)
	require.ErrorContains(t, err, "Config.Linger")
	require.ErrorContains(t, err, "Config.SendBuffer")

	if math.MaxInt > math.MaxUint32 { // a window over 4 GiB is an int only where int has 64 bits
		_, err = NewNode(Config{StreamWindow: math.MaxInt})
		require.ErrorIs(t, err, ErrBadConfig)
		require.ErrorContains(t, err, "Config.StreamWindow")
	}
}

func TestSettingsReachTheConnection(t *testing.T) {
	// A tiny send buffer makes a Write to a listener that never reads
	// block once the buffer and the receive window are full: the setting
	// reached the session.
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, SendBuffer: 4 << 10, RecvBuffer: 4 << 10, StreamWindow: 256 << 10, Linger: time.Second})
	b := newTestNode(t, Config{Peers: a.ListenAddrs(), SendBuffer: 4 << 10, RecvBuffer: 4 << 10})
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := a.Listen(key)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			<-t.Context().Done()
			c.Close()
		}
	}()
	require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 10*time.Second, time.Millisecond)
	c, err := b.Dial(AddrFromPubKey(key.PubKey()).String())
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(500*time.Millisecond)))
	// 4 KiB in the sender's buffer plus the other end's initial window
	// (512 KiB before any update) is all that can be written.
	n, err := c.Write(make([]byte, 4<<20))
	require.Error(t, err)
	require.True(t, err.(net.Error).Timeout())
	require.Less(t, n, 1<<20)
}
