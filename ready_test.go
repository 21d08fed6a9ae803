package foxtrot

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/route"
)

// The child half of the subprocess tests: a program that uses the
// package-level API the README shows, then exits as the test asks.
const childEnv = "FOXTROT_TEST_CHILD"

func TestChildProcess(t *testing.T) {
	mode := os.Getenv(childEnv)
	if mode == "" {
		t.Skip("run by the subprocess tests")
	}
	// The whole port: foxtrot.Dial instead of net.Dial, at program start.
	c, err := Dial(os.Getenv("FOXTROT_TEST_TARGET"))
	if err != nil {
		os.Stdout.WriteString("dial failed: " + err.Error() + "\n")
		os.Exit(3)
	}
	if _, err := c.Write([]byte("hello\n")); err != nil {
		os.Stdout.WriteString("write failed: " + err.Error() + "\n")
		os.Exit(4)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		os.Stdout.WriteString("read failed: " + err.Error() + "\n")
		os.Exit(5)
	}
	os.Stdout.WriteString("ok " + line)
	if mode == "exit" {
		os.Exit(0) // without closing the node or the connection
	}
	c.Close()
	CloseDefaultNode()
	os.Exit(0)
}

// child starts this test binary as a program dialling target through the
// default node, configured by FOXTROT_PEERS.
func child(t *testing.T, mode, peers, target string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "FOXTROT_PEERS="+peers, "FOXTROT_TEST_TARGET="+target)
	return cmd
}

// relayAndServer starts a relay on loopback TCP and a server node linked
// to it, and returns the relay's address and the server.
func relayAndServer(t *testing.T, cfg Config) (string, *Node) {
	relayCfg := cfg
	relayCfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	relay := newTestNode(t, relayCfg)
	srvCfg := cfg
	srvCfg.Peers = relay.ListenAddrs()
	srv := newTestNode(t, srvCfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, srv.WaitReady(ctx))
	return relay.ListenAddrs()[0], srv
}

func TestFoxtrotDialAtProgramStartWaitsForTheFirstLink(t *testing.T) {
	relay, srv := relayAndServer(t, Config{})
	l := echoListener(t, srv)
	failed := 0
	for i := range 5 {
		out, err := child(t, "close", relay, l.Addr().String()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ok hello") {
			failed++
			t.Logf("run %d: %v: %s", i, err, out)
		}
	}
	require.Zero(t, failed, "programs whose first foxtrot.Dial failed, of 5")
}

func TestWaitReadyReturnsWhenALinkComesUp(t *testing.T) {
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}})
	b := newTestNode(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.WaitReady(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("ready without a link: %v", err)
	default:
	}
	require.NoError(t, b.Connect(context.Background(), a.ListenAddrs()[0]))
	require.NoError(t, <-done)
	cancel()
	require.NoError(t, b.WaitReady(ctx), "ready at once when linked")
}

func TestWaitReadyEndsWithItsContextOrTheNode(t *testing.T) {
	n := newTestNode(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := n.WaitReady(ctx)
	require.ErrorIs(t, err, ErrNotReady)
	require.ErrorIs(t, err, context.Canceled)

	done := make(chan error, 1)
	go func() { done <- n.WaitReady(context.Background()) }()
	require.NoError(t, n.Close())
	err = <-done
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestDialBeforeTheFirstLinkWaitsForIt(t *testing.T) {
	srv := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}})
	l := echoListener(t, srv)
	// A peer that is not there yet: the mem address is taken later.
	relayAddr := unusedMem()
	cli := newTestNode(t, Config{Peers: []string{relayAddr}})

	res := make(chan error, 1)
	go func() {
		c, err := cli.Dial(l.Addr().String())
		if err == nil {
			c.Close()
		}
		res <- err
	}()
	require.Eventually(t, func() bool {
		u := cli.Stats().Unlinked
		return len(u) == 1 && u[0].Attempts >= 1
	}, 10*time.Second, 5*time.Millisecond, "the peer is reported unlinked")
	relay := newTestNode(t, Config{ListenAddrs: []string{relayAddr}, Peers: srv.ListenAddrs()})
	_ = relay
	require.NoError(t, <-res)
	require.Empty(t, cli.Stats().Unlinked)
}

// unusedMem returns a mem address nobody listens on.
func unusedMem() string { return fmt.Sprintf("/mem/%d", 1<<40+rand.Int64N(1<<40)) }

func TestDialWithPeersThatNeverLinkFailsWithNoRouteAtItsTimeout(t *testing.T) {
	nowhere := unusedMem()
	cli := newTestNode(t, Config{Peers: []string{nowhere}, DialTimeout: 300 * time.Millisecond})
	key, err := GenerateKey()
	require.NoError(t, err)
	_, err = cli.Dial(AddrFromPubKey(key.PubKey()).String())
	require.ErrorIs(t, err, route.ErrNoRoute)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.True(t, err.(net.Error).Timeout())
	u := cli.Stats().Unlinked
	require.Len(t, u, 1)
	require.Equal(t, nowhere, u[0].Multiaddr)
	require.NotEmpty(t, u[0].LastError)
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

// find returns the records at level or above whose message is msg, each
// as "msg key=value ...".
func (h *records) find(level slog.Level, msg string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if r.Level < level || r.Message != msg {
			continue
		}
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

func TestOperatorLogsAtInfo(t *testing.T) {
	h := &records{}
	log := slog.New(h)
	a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, Logger: log})
	require.NotEmpty(t, h.find(slog.LevelInfo, "listening for peers"))
	b := newTestNode(t, Config{Peers: append(a.ListenAddrs(), unusedMem())})
	require.NoError(t, b.WaitReady(context.Background()))
	require.Eventually(t, func() bool { return len(h.find(slog.LevelInfo, "link up")) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.find(slog.LevelInfo, "link up")[0], "peer="+b.Identity().String())

	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := a.Listen(key)
	require.NoError(t, err)
	defer l.Close()
	require.Contains(t, h.find(slog.LevelInfo, "listening")[0], "addr="+l.Addr().String())

	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return len(h.find(slog.LevelInfo, "link down")) == 1 }, 10*time.Second, 5*time.Millisecond)
	require.Contains(t, h.find(slog.LevelInfo, "link down")[0], "reason=")
}

func TestUnreachablePeersAreLoggedWithBackoff(t *testing.T) {
	h := &records{}
	nowhere := unusedMem()
	n := newTestNode(t, Config{Peers: []string{nowhere}, Logger: slog.New(h)})
	require.Eventually(t, func() bool {
		u := n.Stats().Unlinked
		return len(u) == 1 && u[0].Attempts >= 5
	}, 20*time.Second, 10*time.Millisecond)
	n.Close()
	attempts := n.Stats().Unlinked[0].Attempts
	warned := h.find(slog.LevelWarn, "peer unreachable")
	require.NotEmpty(t, warned)
	require.Contains(t, warned[0], "addr="+nowhere)
	// A line per doubling: the 1st, 2nd, 4th... failure.
	require.Less(t, len(warned), attempts)
	require.LessOrEqual(t, len(warned), 1+bitsLen(attempts))
}

func bitsLen(n int) int {
	l := 0
	for ; n > 0; n >>= 1 {
		l++
	}
	return l
}

// deadEndDial starts a dial from a client through a relay to a server
// that is not linked yet, and returns the three nodes, the dial's result
// and its context, once the relay counted the request as a dead end.
func deadEndDial(t *testing.T) (relay, cli, srv *Node, res chan error, ctx context.Context) {
	relay = newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}})
	cli = newTestNode(t, Config{Peers: relay.ListenAddrs()})
	srv = newTestNode(t, Config{})
	l := echoListener(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	require.NoError(t, cli.WaitReady(ctx))
	res = make(chan error, 1)
	go func() {
		c, err := cli.DialContext(ctx, "foxtrot", l.Addr().String())
		if err == nil {
			c.Close()
		}
		res <- err
	}()
	// The relay has nowhere to send the request: a dead end, as when the
	// target's link to it is still coming up.
	require.Eventually(t, func() bool { return relay.Stats().RequestsDeadEnd >= 1 }, 10*time.Second, time.Millisecond)
	return relay, cli, srv, res, ctx
}

func TestARequestAtADeadEndGoesOnWhenALinkComesUp(t *testing.T) {
	relay, cli, srv, res, ctx := deadEndDial(t)
	require.NoError(t, srv.Connect(ctx, relay.ListenAddrs()[0]))
	require.NoError(t, <-res)
	require.Zero(t, cli.router.Stats().DialRetries, "the relay held the first request and sent it on")
}

func TestADialThatHearsNothingAsksAgain(t *testing.T) {
	relay, cli, srv, res, ctx := deadEndDial(t)
	require.Eventually(t, func() bool { return cli.router.Stats().DialRetries >= 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, srv.Connect(ctx, relay.ListenAddrs()[0]))
	require.NoError(t, <-res)
}

func TestADialRightAfterConnectReturnsSucceeds(t *testing.T) {
	relay := newTestNode(t, Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	cli := newTestNode(t, Config{Peers: relay.ListenAddrs()})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, cli.WaitReady(ctx))
	failed := 0
	for range 20 {
		srv := newTestNode(t, Config{})
		l := echoListener(t, srv)
		// Each round has its own time: twenty rounds on a loaded machine
		// under -race can take longer than one context allows.
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, srv.Connect(cctx, relay.ListenAddrs()[0]))
		ccancel()
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := cli.DialContext(dctx, "foxtrot", l.Addr().String())
		dcancel()
		if err != nil {
			failed++
			t.Logf("dial failed: %v", err)
		} else {
			c.Close()
		}
		l.Close()
		srv.Close()
	}
	require.Zero(t, failed, "dials right after Connect that failed, of 20")
}

func TestTheListenerLearnsSoonThatADiallerProcessExited(t *testing.T) {
	relay, srv := relayAndServer(t, Config{})
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := srv.Listen(key)
	require.NoError(t, err)
	defer l.Close()

	cmd := child(t, "exit", relay, l.Addr().String())
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	c, err := l.Accept()
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	_, err = c.Write([]byte(line))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait(), out.String())
	exited := time.Now()
	_, err = r.ReadByte()
	took := time.Since(exited)
	t.Logf("the listener's Read returned %v %v after the dialler's process exited", err, took.Round(time.Millisecond))
	require.Error(t, err)
	require.Less(t, took, 15*time.Second, "well under FailoverTimeout (20s) + 5s, the wait before")
}
