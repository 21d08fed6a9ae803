package foxtrot

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/stealth"
)

func newStealthKeys(t testing.TB) *stealth.Keys {
	k, err := stealth.GenerateKeys()
	require.NoError(t, err)
	return k
}

// serveEcho echoes every connection l accepts until it closes.
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.Copy(c, c)
		}()
	}
}

func TestDialReachesAStealthListenerThroughTwoRelays(t *testing.T) {
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	keys := newStealthKeys(t)
	l, err := nodes[3].ListenStealth(keys)
	require.NoError(t, err)
	defer l.Close()
	go serveEcho(l)
	require.IsType(t, stealth.Address{}, l.Addr())
	require.Equal(t, "foxtrot", l.Addr().Network())
	require.True(t, strings.HasPrefix(l.Addr().String(), "sp1q"), l.Addr().String())
	require.Equal(t, keys.Address().String(), l.Addr().String())

	// The mainnet and testnet forms, and a port, all reach it.
	for _, address := range []string{l.Addr().String(), keys.TestnetAddress().String(), l.Addr().String() + ":443"} {
		c := dialT(t, nodes[0], stringAddr(address))
		require.Len(t, c.Path(), 2)
		_, err = c.Write([]byte("through two relays"))
		require.NoError(t, err)
		got := make([]byte, len("through two relays"))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, "through two relays", string(got))
		// The connection is to a one-time key, not to the spend key.
		require.NotEqual(t, AddrFromPubKey(keys.SpendKey().PubKey()), c.RemoteAddr())
		c.Close()
	}
}

// stringAddr is a net.Addr that is just its string.
type stringAddr string

func (a stringAddr) Network() string { return "foxtrot" }
func (a stringAddr) String() string  { return string(a) }

func TestDialRefusesAMalformedStealthAddress(t *testing.T) {
	n := newTestNode(t, Config{})
	keys := newStealthKeys(t)
	s := keys.Address().String()
	last := "q"
	if s[len(s)-1] == 'q' {
		last = "p"
	}
	bad := s[:len(s)-1] + last // the checksum no longer holds
	_, err := n.Dial(bad)
	require.ErrorIs(t, err, ErrBadAddr)
	require.ErrorIs(t, err, stealth.ErrBadAddress)
}

func TestStealthConnPassesNettest(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	l, err := nodes[2].ListenStealth(newStealthKeys(t))
	require.NoError(t, err)
	defer l.Close()
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c, err := nodes[0].Dial(l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		s := <-accepted
		if s == nil {
			return nil, nil, nil, errors.New("accept failed")
		}
		return c, s, func() { c.Close(); s.Close() }, nil
	})
}

func TestAnAdvertisedStealthListenerIsFoundWithoutAFlood(t *testing.T) {
	sn := simnet.New(6, simnet.Line, simnet.Options{})
	// The directed request waits long enough for its answer even on a
	// loaded machine under -race, so a flood after it would be the
	// advert's fault, not the scheduler's.
	nodes := startNet(t, sn, func(i int, c *Config) { c.AdvertRadius = 6; c.MinDirectedWait = 10 * time.Second })
	keys := newStealthKeys(t)
	l, err := nodes[5].ListenStealthWith(keys, StealthOptions{Advertise: true})
	require.NoError(t, err)
	defer l.Close()
	go serveEcho(l)
	require.Eventually(t, func() bool {
		return nodes[0].Stats().Adverts.Known == 1
	}, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := nodes[0].DialContext(ctx, "foxtrot", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	require.Zero(t, nodes[0].Stats().DirectedTimeouts, "the advertised route answered")
	require.Positive(t, nodes[4].Stats().Adverts.Sent)
	require.Equal(t, 1, nodes[4].Stats().Adverts.Known)
}

func TestPackageLevelListenStealthAndDialUseTheDefaultNode(t *testing.T) {
	t.Setenv("FOXTROT_LISTEN", "/mem/0")
	t.Setenv("FOXTROT_PEERS", "")
	defer CloseDefaultNode()
	l, err := ListenStealth(newStealthKeys(t))
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("stealthy default"))
			c.Close()
		}
	}()
	c, err := Dial(l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "stealthy default", string(b))
}

func FuzzParseDialTarget(f *testing.F) {
	keys, err := stealth.GenerateKeys()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(keys.Address().String())
	f.Add(keys.TestnetAddress().String() + ":80")
	f.Add(genAddress)
	f.Add("sp1")
	f.Fuzz(func(t *testing.T, s string) {
		a, sa, err := parseDialTarget(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadAddr)
			return
		}
		if sa.Scan != nil {
			require.True(t, a.IsZero())
			again, err := stealth.ParseAddress(sa.String())
			require.NoError(t, err)
			require.True(t, again.Equal(sa))
			return
		}
		again, err := ParseAddr(a.String())
		require.NoError(t, err)
		require.Equal(t, a, again)
	})
}

func TestANewPeerHearsTheAdvertsAtOnce(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	// Nodes 0 and 1 first (1 dials 0); 0 advertises before 2 links to 1.
	a := newTestNode(t, netConfig(sn, 0))
	b := newTestNode(t, netConfig(sn, 1))
	require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 10*time.Second, time.Millisecond)
	keys := newStealthKeys(t)
	l, err := a.ListenStealthWith(keys, StealthOptions{Advertise: true})
	require.NoError(t, err)
	defer l.Close()
	require.Eventually(t, func() bool { return b.Stats().Adverts.Known == 1 }, 10*time.Second, time.Millisecond)
	// Node 2 links to 1 later: 1 tells it what it passes on at once,
	// without waiting for the next round (30 s).
	c := newTestNode(t, netConfig(sn, 2)) // dials 1
	require.Eventually(t, func() bool { return c.Stats().Adverts.Known == 1 }, 10*time.Second, time.Millisecond)
	require.Zero(t, c.Stats().Adverts.Dropped)
}
