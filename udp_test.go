package foxtrot

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
	"github.com/foxtrotnet/foxtrot/transport/quic"
)

// verifyNoLeaks fails t if a goroutine started after it is still running
// once t's later cleanups (the nodes' Close) have run. (The root's
// internal tests cannot use foxtrottest, which imports the root.)
func verifyNoLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// udpNetKey is a network key long enough for UDP (16 bytes at least).
var udpNetKey = bytes.Repeat([]byte{0x5a}, 32)

func connectCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// udpAddr returns n's one UDP listen address.
func udpAddr(t testing.TB, n *Node) string {
	t.Helper()
	for _, a := range n.ListenAddrs() {
		if strings.Contains(a, "/udp/") {
			return a
		}
	}
	t.Fatalf("no UDP listen address in %v", n.ListenAddrs())
	return ""
}

// echoOver dials an echo listener at to from from and checks a round trip.
func echoOver(t *testing.T, from, to *Node) {
	t.Helper()
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := to.Listen(key)
	require.NoError(t, err)
	defer l.Close()
	go serveEcho(l)
	c, err := from.DialContext(connectCtx(t), "foxtrot", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	msg := []byte("over a UDP link")
	_, err = c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

func TestNodesLinkOverUDPOutOfTheBox(t *testing.T) {
	verifyNoLeaks(t)
	for _, listen := range []string{"/ip4/127.0.0.1/udp/0", "/ip6/::1/udp/0"} {
		t.Run(strings.Split(listen, "/")[1], func(t *testing.T) {
			a := newTestNode(t, Config{ListenAddrs: []string{listen}})
			if listen == "/ip6/::1/udp/0" && len(a.ListenAddrs()) == 0 {
				t.Skip("no IPv6 loopback")
			}
			full := udpAddr(t, a)
			require.NotContains(t, full, "/udp/0/", "the port is resolved")
			pub := hex.EncodeToString(a.key.PubKey().SerializeCompressed())
			require.True(t, strings.HasSuffix(full, "/foxtrot/"+pub), "a UDP address carries the 66-hex key: %s", full)

			// A configured peer, dialled by the address ListenAddrs gave.
			b := newTestNode(t, Config{Peers: []string{full}})
			require.Eventually(t, func() bool { return len(b.Peers()) == 1 && b.Peers()[0] == a.Identity() },
				10*time.Second, time.Millisecond)
			echoOver(t, b, a)
			require.NoError(t, b.Close())
			require.NoError(t, b.Close(), "Close is idempotent")
			require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 10*time.Second, time.Millisecond)
		})
	}
}

func TestAUDPPeerNamedByItsAddressNeedsANetworkKey(t *testing.T) {
	verifyNoLeaks(t)
	a := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}})
	base, _, _ := strings.Cut(udpAddr(t, a), "/foxtrot/")
	byAddr := base + "/foxtrot/" + a.Identity().String()

	for _, peer := range []string{byAddr, base} {
		_, err := NewNode(Config{Peers: []string{peer}})
		require.ErrorIs(t, err, ErrUDPNeedsKey, peer)
		require.Contains(t, err.Error(), "66-hex", "the error says what to do")

		b := newTestNode(t, Config{})
		err = b.Connect(connectCtx(t), peer)
		require.ErrorIs(t, err, ErrUDPNeedsKey, peer)
	}

	// The same from a UDP transport of the caller's own, found when the
	// dial fails.
	key, err := GenerateKey()
	require.NoError(t, err)
	q, err := quic.New(quic.Config{Identity: key})
	require.NoError(t, err)
	t.Cleanup(func() { q.Close() })
	b := newTestNode(t, Config{Identity: key, Transports: []transport.Transport{q}})
	err = b.Connect(connectCtx(t), byAddr)
	require.ErrorIs(t, err, ErrUDPNeedsKey)
	require.ErrorIs(t, err, obfs.ErrNoKey)
	require.NoError(t, b.Connect(connectCtx(t), udpAddr(t, a)), "the 66-hex form works")
}

func TestNodesWithANetworkKeyLinkOverUDPByAddressAndPadded(t *testing.T) {
	verifyNoLeaks(t)
	for _, pad := range []bool{false, true} {
		t.Run(map[bool]string{false: "unpadded", true: "padded"}[pad], func(t *testing.T) {
			a := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}, NetworkKey: udpNetKey, PadPackets: pad})
			base, _, _ := strings.Cut(udpAddr(t, a), "/foxtrot/")
			b := newTestNode(t, Config{NetworkKey: udpNetKey, PadPackets: pad})
			// With the network key the address form works too.
			require.NoError(t, b.Connect(connectCtx(t), base+"/foxtrot/"+a.Identity().String()))
			echoOver(t, b, a)

			// A node without the key gets no answer: its dial times out.
			c := newTestNode(t, Config{HandshakeTimeout: 500 * time.Millisecond})
			err := c.Connect(connectCtx(t), udpAddr(t, a))
			require.Error(t, err)
			require.Empty(t, c.Peers())
		})
	}
}

func TestNewNodeRefusesAShortNetworkKey(t *testing.T) {
	_, err := NewNode(Config{NetworkKey: []byte("short")})
	require.ErrorIs(t, err, ErrBadConfig)
}

// A connection whose path mixes link kinds: dialler -UDP- relay -TCP-
// listener.
func TestAConnOverUDPAndTCPLinksPassesNettest(t *testing.T) {
	verifyNoLeaks(t)
	listener := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	var tcpAddr string
	for _, a := range listener.ListenAddrs() {
		if strings.Contains(a, "/tcp/") {
			tcpAddr = a
		}
	}
	relay := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}, Peers: []string{tcpAddr}})
	dialler := newTestNode(t, Config{Peers: []string{udpAddr(t, relay)}})
	require.Eventually(t, func() bool {
		return len(dialler.Peers()) == 1 && len(relay.Peers()) == 2 && len(listener.Peers()) == 1
	}, 10*time.Second, time.Millisecond, "linked in a line")

	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := listener.Listen(key)
	require.NoError(t, err)
	defer l.Close()
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c, err := dialler.DialContext(context.Background(), "foxtrot", l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		s := <-accepted
		if s == nil {
			c.Close()
			return nil, nil, nil, errors.New("accept failed")
		}
		if p := c.(*Conn).Path(); len(p) != 1 || p[0] != relay.Identity() {
			c.Close()
			s.Close()
			return nil, nil, nil, errors.New("the connection is not through the relay")
		}
		return c, s, func() { c.Close(); s.Close() }, nil
	})
}

func TestClosingANodeReleasesItsUDPSocket(t *testing.T) {
	verifyNoLeaks(t)
	a := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}})
	b := newTestNode(t, Config{Peers: []string{udpAddr(t, a)}})
	require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 10*time.Second, time.Millisecond)
	base, _, _ := strings.Cut(udpAddr(t, a), "/foxtrot/")
	require.NoError(t, a.Close())
	// The port is free again: a node restarted on it links again.
	a2 := newTestNode(t, Config{Identity: a.key, ListenAddrs: []string{base}})
	require.Equal(t, udpAddr(t, a), udpAddr(t, a2), "the same address")
	require.Eventually(t, func() bool { return len(a2.Peers()) == 1 && len(b.Peers()) == 1 },
		20*time.Second, time.Millisecond, "b's kept link redials the restarted node")
}

// sentCounter is a custom congestion controller: CUBIC, counting the
// packets it is told about.
type sentCounter struct {
	quic.CongestionControl
	sent *atomic.Int64
}

func (s sentCounter) OnPacketSent(t quic.MonoTime, inFlight quic.ByteCount, pn quic.PacketNumber, n quic.ByteCount, retransmittable bool) {
	s.sent.Add(1)
	s.CongestionControl.OnPacketSent(t, inFlight, pn, n, retransmittable)
}

// The congestion control of a node's UDP links is the node's choice: a
// built-in by name, or an algorithm of the caller's own.
func TestANodeChoosesTheCongestionControlOfItsUDPLinks(t *testing.T) {
	verifyNoLeaks(t)
	_, err := NewNode(Config{UDPCongestion: "vegas"})
	require.ErrorIs(t, err, ErrBadConfig)
	require.ErrorIs(t, err, quic.ErrConfig)
	require.Contains(t, err.Error(), `"vegas"`)

	a := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}, UDPCongestion: quic.Reno})
	var sent atomic.Int64
	b := newTestNode(t, Config{NewUDPCongestion: func(p quic.CongestionParams) quic.CongestionControl {
		return sentCounter{quic.NewCubic(p), &sent}
	}})
	require.NoError(t, b.Connect(connectCtx(t), udpAddr(t, a)))
	echoOver(t, b, a)
	require.Positive(t, sent.Load(), "b's UDP link ran on b's controller")
}
