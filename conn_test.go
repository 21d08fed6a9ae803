package foxtrot

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/route"
)

// startNet starts a node for every node of sn (mods may adjust each
// node's Config) and waits until every link of the topology is up.
func startNet(t testing.TB, sn *simnet.Net, mods ...func(i int, c *Config)) []*Node {
	t.Helper()
	nodes := make([]*Node, sn.Len())
	for i := range nodes {
		nodes[i] = newTestNode(t, netConfig(sn, i, mods...))
	}
	require.Eventually(t, func() bool {
		for i, n := range nodes {
			if len(n.Peers()) != len(sn.Neighbours(i)) {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "the network did not link up")
	return nodes
}

// logOnFailure gives each node a debug logger whose output the test
// prints if it fails.
func logOnFailure(t *testing.T) func(i int, c *Config) {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Log("node logs:\n" + buf.String())
			mu.Unlock()
		}
	})
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	})
	return func(i int, c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("n", i)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// netConfig is node i's Config in sn.
func netConfig(sn *simnet.Net, i int, mods ...func(i int, c *Config)) Config {
	c := Config{
		Identity:    sn.Keys[i],
		ListenAddrs: []string{sn.Listen(i)},
		Peers:       sn.Peers(i),
		Transports:  sn.Transports(),
	}
	for _, m := range mods {
		m(i, &c)
	}
	return c
}

// echoListener listens on a fresh key at n and echoes every connection.
func echoListener(t testing.TB, n *Node) net.Listener {
	t.Helper()
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := n.Listen(key)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
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
	}()
	return l
}

func dialT(t testing.TB, n *Node, addr net.Addr) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := n.DialContext(ctx, "foxtrot", addr.String())
	require.NoError(t, err)
	return c.(*Conn)
}

func TestDialReachesAListenerThroughTwoRelays(t *testing.T) {
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	l := echoListener(t, nodes[3])

	c := dialT(t, nodes[0], l.Addr())
	require.Equal(t, []Addr{nodes[1].Identity(), nodes[2].Identity()}, c.Path(), "dialler side first")
	require.Equal(t, l.Addr(), c.RemoteAddr())
	require.Equal(t, nodes[0].Identity(), c.LocalAddr(), "the dialler proves its node identity")

	msg := []byte("hello through two relays")
	_, err := c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
	require.NoError(t, c.Close())
}

func TestAcceptedConnKnowsWhoDialledAndThePath(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[2].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c.(*Conn)
		}
	}()
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	s := <-accepted
	defer s.Close()
	require.Equal(t, nodes[0].Identity(), s.RemoteAddr())
	require.Equal(t, AddrFromPubKey(key.PubKey()), s.LocalAddr())
	require.Equal(t, []Addr{nodes[1].Identity()}, s.Path(), "the hello tells the target the path")
}

func TestConnPassesNettest(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		relays int
	}{
		{"direct", 2, 0},
		{"two relays", 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sn := simnet.New(tc.n, simnet.Line, simnet.Options{})
			nodes := startNet(t, sn)
			key, _ := GenerateKey()
			l, err := nodes[tc.n-1].Listen(key)
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
				require.Len(t, c.(*Conn).Path(), tc.relays)
				return c, s, func() { c.Close(); s.Close() }, nil
			})
		})
	}
}

func TestNetHTTPRunsUnchanged(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[2].Listen(key)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s", r.RemoteAddr, r.Host)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	client := &http.Client{Transport: &http.Transport{DialContext: nodes[0].DialContext}}
	defer client.CloseIdleConnections()
	url := "http://" + l.Addr().String() + "/"
	for i := 0; i < 3; i++ { // the second and third reuse the connection
		resp, err := client.Get(url)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("hello %s from %s", nodes[0].Identity(), l.Addr()), string(body))
	}
	require.NoError(t, srv.Close())
	require.ErrorIs(t, <-done, http.ErrServerClosed)
}

func TestLargeTransferBothWaysThroughTwoRelays(t *testing.T) {
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[3].Listen(key)
	require.NoError(t, err)
	defer l.Close()

	const size = 32 << 20
	mk := func() ([]byte, [32]byte) {
		b := make([]byte, size)
		rand.Read(b)
		return b, sha256.Sum256(b)
	}
	up, upSum := mk()
	down, downSum := mk()

	// Each side writes its 32 MiB and closes its write side while reading
	// the other's: both directions at once.
	exchange := func(c net.Conn, send []byte) ([32]byte, error) {
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(send)
			if err == nil {
				err = c.(*Conn).CloseWrite()
			}
			errc <- err
		}()
		h := sha256.New()
		_, rerr := io.Copy(h, c)
		var sum [32]byte
		h.Sum(sum[:0])
		return sum, errors.Join(rerr, <-errc)
	}
	type result struct {
		sum [32]byte
		err error
	}
	srvRes := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			srvRes <- result{err: err}
			return
		}
		defer c.Close()
		sum, err := exchange(c, down)
		srvRes <- result{sum, err}
	}()
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	start := time.Now()
	got, err := exchange(c, up)
	require.NoError(t, err)
	sr := <-srvRes
	require.NoError(t, sr.err)
	require.Equal(t, downSum, got, "listener -> dialler")
	require.Equal(t, upSum, sr.sum, "dialler -> listener")
	t.Logf("2 x 32 MiB through 2 relays in %v", time.Since(start).Round(time.Millisecond))
}

func TestDialingAnAddressNobodyListensOnTimesOut(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	nobody, _ := GenerateKey()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := nodes[0].DialContext(ctx, "tcp", AddrFromPubKey(nobody.PubKey()).String()+":80")
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "dial", oe.Op)
	require.Equal(t, "foxtrot", oe.Net)
	require.True(t, oe.Timeout())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 3*time.Second)

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = nodes[0].DialContext(ctx, "foxtrot", AddrFromPubKey(nobody.PubKey()).String())
	require.ErrorIs(t, err, context.Canceled)
}

func TestDialWithoutPeersHasNoRoute(t *testing.T) {
	n := newTestNode(t, Config{})
	key, _ := GenerateKey()
	_, err := n.Dial(AddrFromPubKey(key.PubKey()).String())
	require.ErrorIs(t, err, route.ErrNoRoute)
}

func TestDialingAClosedListenerIsRefused(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	l := echoListener(t, nodes[2])
	dialT(t, nodes[0], l.Addr()).Close()
	require.NoError(t, l.Close())
	_, err := nodes[0].Dial(l.Addr().String())
	require.ErrorIs(t, err, route.ErrRefused)
}

func TestDialRejectsBadNetworksAndAddresses(t *testing.T) {
	n := newTestNode(t, Config{})
	_, err := n.DialContext(context.Background(), "udp", genAddress)
	var ne net.UnknownNetworkError
	require.ErrorAs(t, err, &ne)
	_, err = n.Dial("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ")
	require.ErrorIs(t, err, ErrAddrChecksum)
	_, err = n.Dial(genAddress + ":http")
	require.ErrorIs(t, err, ErrBadAddr)
}

func TestListeningTwiceOnAKeyFails(t *testing.T) {
	n := newTestNode(t, Config{})
	key, _ := GenerateKey()
	l, err := n.Listen(key)
	require.NoError(t, err)
	_, err = n.Listen(key)
	require.ErrorIs(t, err, route.ErrAddrInUse)
	require.NoError(t, l.Close())
	l, err = n.Listen(key)
	require.NoError(t, err, "a closed key can be listened on again")
	l.Close()
}

func TestWriteThenCloseDeliversEverythingThenEOF(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[2].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	data := bytes.Repeat([]byte("last words "), 100000)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write(data)
		c.Close() // returns at once; the bytes still arrive
	}()
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, data, got)
	_, err = c.Write([]byte("anyone there?"))
	require.Eventually(t, func() bool {
		_, err = c.Write([]byte("?"))
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "writes to a closed peer fail")
	require.ErrorIs(t, err, route.ErrReset)
}

func TestCloseWriteIsAHalfClose(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[1].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := io.ReadAll(c) // until the dialler's CloseWrite
		c.Write(append([]byte("got: "), req...))
	}()
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	c.Write([]byte("question"))
	require.NoError(t, c.CloseWrite())
	resp, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "got: question", string(resp))
	_, err = c.Write([]byte("more"))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestDialingAKeyOfTheSameNode(t *testing.T) {
	n := newTestNode(t, Config{})
	l := echoListener(t, n)
	c := dialT(t, n, l.Addr())
	defer c.Close()
	require.Empty(t, c.Path())
	c.Write([]byte("loop"))
	b := make([]byte, 4)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	require.Equal(t, "loop", string(b))
}

func TestManyConcurrentConnections(t *testing.T) {
	sn := simnet.New(5, simnet.Ring, simnet.Options{})
	nodes := startNet(t, sn)
	l := echoListener(t, nodes[2])
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := nodes[i%5].Dial(l.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := []byte(fmt.Sprintf("conn %d", i))
			c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				errs <- fmt.Errorf("conn %d: %q %v", i, got, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNodeCloseEndsConnectionsAndListeners(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[1].Listen(key)
	require.NoError(t, err)
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c := dialT(t, nodes[0], l.Addr())
	readErr := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	}()
	require.NoError(t, nodes[0].Close())
	require.Error(t, <-readErr)
	_, err = nodes[0].Dial(l.Addr().String())
	require.ErrorIs(t, err, net.ErrClosed)
}
