// Package foxtrottest builds foxtrot networks for tests: n nodes in one
// process over an isolated in-memory transport (or loopback UDP, with
// Options.UDP), linked in a topology
// (line, ring, grid, random, scale-free, or a list of links) and ready
// before New returns, with helpers to listen, dial, cut a link, close or
// restart a node, and check that a test leaks no goroutines.
//
//	func TestSomething(t *testing.T) {
//		fn := foxtrottest.New(t, 4, foxtrottest.Line, foxtrottest.Options{})
//		l := foxtrottest.Echo(t, fn.Nodes[3])
//		c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
//		...
//	}
//
// Every helper waits on events (a node sees the peers it should), never on
// sleeps, and everything it starts is closed by the test's cleanup. It sits
// above the root package: the root package's own tests use it from the
// external test package foxtrot_test.
package foxtrottest

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/quic"
)

// Topology names a way to link n nodes.
type Topology = simnet.Topology

// Topologies, as internal/simnet lays them out.
var (
	// Line links i to i+1.
	Line = simnet.Line
	// Ring is a line closed into a circle.
	Ring = simnet.Ring
)

// Grid lays nodes out in rows of width and links horizontal and vertical
// neighbours.
func Grid(width int) Topology { return simnet.Grid(width) }

// Random is a connected random graph of average degree about degree.
func Random(degree int) Topology { return simnet.Random(degree) }

// ScaleFree is a Barabási–Albert graph in which each new node links to m
// others.
func ScaleFree(m int) Topology { return simnet.ScaleFree(m) }

// Custom links exactly the given pairs of node indices.
func Custom(edges [][2]int) Topology { return simnet.Custom(edges) }

// WaitTimeout bounds every wait of this package (a network linking up, a
// link going down): past it the test fails, it does not hang.
const WaitTimeout = 30 * time.Second

// Options shape a Net. The zero value is a network without latency, keys
// from seed 0, default node configs and no logs.
type Options struct {
	// Seed makes random topologies and node keys reproducible.
	Seed int64
	// Latency is the one-way delay of every link.
	Latency time.Duration
	// Config, if set, adjusts node i's Config before the node starts
	// (again on every restart).
	Config func(i int, c *foxtrot.Config)
	// Logs gives every node a debug logger whose output is printed if the
	// test fails.
	Logs bool
	// DHT runs the nodes' DHT (foxtrot.Config.DHT). Default false: test
	// networks keep exactly their topology's links (the DHT links to the
	// nodes its lookups find) and dials flood, as the routing tests
	// expect. With DHT, WaitLinked checks that every node is linked to
	// its neighbours, and allows further links. The nodes keep no links
	// of their own beyond the topology's (Config.TargetPeers -1); set
	// TargetPeers in Options.Config to test that.
	DHT bool
	// UDP links the nodes over loopback UDP (transport/quic, keyed by
	// each node's identity and its Config.NetworkKey, padded with its
	// Config.PadPackets) instead of the in-memory network; Latency does
	// not apply then. Each node listens on 127.0.0.1 at a port picked at
	// its first start and kept across restarts. Default false.
	UDP bool
}

// Net is a running network of foxtrot nodes.
type Net struct {
	// Sim is the layout: keys, addresses, links, distances.
	Sim *simnet.Net
	// Nodes are the nodes, Nodes[i] at Sim.Keys[i]. Restart replaces an
	// entry: read it again after a restart, and through Node from other
	// goroutines.
	Nodes []*foxtrot.Node

	t      testing.TB
	opts   Options
	ids    []foxtrot.Addr
	logger func(i int, c *foxtrot.Config)

	mu     sync.Mutex
	cut    map[[2]int]bool
	closed map[int]bool
	// With Options.UDP: each node's listen address once known (port
	// resolved, no /foxtrot suffix) and its running transport.
	udpListen []string          // guarded by mu
	udp       []*quic.Transport // guarded by mu
}

// New starts n nodes linked in topology and returns once every node sees
// all of its neighbours as peers. It checks that the test leaks no
// goroutines (VerifyNoLeaks), and the test's cleanup closes every node.
func New(t testing.TB, n int, topology Topology, o Options) *Net {
	t.Helper()
	VerifyNoLeaks(t)
	fn := &Net{
		Sim:    simnet.New(n, topology, simnet.Options{Latency: o.Latency, Seed: o.Seed}),
		Nodes:  make([]*foxtrot.Node, n),
		t:      t,
		opts:   o,
		cut:    make(map[[2]int]bool),
		closed: make(map[int]bool),

		udpListen: make([]string, n),
		udp:       make([]*quic.Transport, n),
	}
	for _, k := range fn.Sim.Keys {
		fn.ids = append(fn.ids, foxtrot.AddrFromPubKey(k.PubKey()))
	}
	if o.Logs {
		fn.logger = LogOnFailure(t)
	}
	for i := range fn.Nodes {
		fn.Nodes[i] = fn.start(i)
	}
	fn.WaitLinked()
	return fn
}

// Config returns node i's Config: its simnet key, listen address, peers
// and transport, then Options.Config's changes. With Options.UDP it has no
// Transports (the node starts with one of its own over UDP) and, before
// node i first started, listens on port 0.
func (fn *Net) Config(i int) foxtrot.Config {
	c := foxtrot.Config{
		Identity:    fn.Sim.Keys[i],
		ListenAddrs: []string{fn.listen(i)},
		Peers:       fn.Sim.Peers(i),
		Transports:  []transport.Transport{&cuttable{Transport: fn.Sim.Mem.Transport(), net: fn, self: i}},
	}
	c.DHT.On = fn.opts.DHT
	c.TargetPeers = -1
	if fn.opts.UDP {
		c.Transports = nil
		c.Peers = nil
		for _, j := range fn.Sim.Neighbours(i) {
			if j < i { // as simnet.Peers: the higher-numbered end dials
				c.Peers = append(c.Peers, fn.Addr(j))
			}
		}
	}
	if fn.logger != nil {
		fn.logger(i, &c)
	}
	if fn.opts.Config != nil {
		fn.opts.Config(i, &c)
	}
	return c
}

func (fn *Net) start(i int) *foxtrot.Node {
	fn.t.Helper()
	c := fn.Config(i)
	var q *quic.Transport
	if fn.opts.UDP && c.Transports == nil {
		var err error
		q, err = quic.New(quic.Config{Identity: c.Identity, NetworkKey: c.NetworkKey, PadPackets: c.PadPackets, Logger: c.Logger})
		require.NoError(fn.t, err, "node %d's UDP transport", i)
		c.Transports = []transport.Transport{&cuttablePeer{cuttable{Transport: q, net: fn, self: i}, q}}
	}
	node, err := foxtrot.NewNode(c)
	if err != nil && q != nil {
		q.Close()
	}
	require.NoError(fn.t, err, "starting node %d", i)
	fn.t.Cleanup(func() {
		node.Close()
		if q != nil {
			q.Close()
		}
	})
	if q != nil {
		var listen string
		for _, a := range node.ListenAddrs() {
			if base, _, ok := strings.Cut(a, "/foxtrot/"); ok && strings.Contains(base, "/udp/") {
				listen = base
			}
		}
		require.NotEmpty(fn.t, listen, "node %d's UDP listen address", i)
		fn.mu.Lock()
		fn.udp[i] = q
		fn.udpListen[i] = listen
		fn.mu.Unlock()
	}
	return node
}

// listen returns node i's listen address: its simnet one, or with
// Options.UDP its loopback UDP one (port 0 before its first start).
func (fn *Net) listen(i int) string {
	if !fn.opts.UDP {
		return fn.Sim.Listen(i)
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if fn.udpListen[i] == "" {
		return "/ip4/127.0.0.1/udp/0"
	}
	return fn.udpListen[i]
}

// Addr returns node i's full peer address: its simnet one, or with
// Options.UDP its UDP address with its 66-hex public key (which keys the
// datagrams of a node without a network key).
func (fn *Net) Addr(i int) string {
	if !fn.opts.UDP {
		return fn.Sim.Addr(i)
	}
	return fn.listen(i) + "/foxtrot/" + hex.EncodeToString(fn.Sim.Keys[i].PubKey().SerializeCompressed())
}

// Identity returns node i's identity address (it survives restarts).
func (fn *Net) Identity(i int) foxtrot.Addr { return fn.ids[i] }

// expected returns the indices of the nodes node i should be linked to:
// its neighbours that run and are not cut from it, sorted.
func (fn *Net) expected(i int) []int {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	var out []int
	for _, j := range fn.Sim.Neighbours(i) {
		if !fn.closed[j] && !fn.cut[pair(i, j)] {
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// Node returns Nodes[i], read under the lock Restart writes it under: use
// it from goroutines that run while the test restarts nodes.
func (fn *Net) Node(i int) *foxtrot.Node {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.Nodes[i]
}

// WaitLinked waits until every running node is linked to exactly the
// peers it should be: its neighbours in the topology that run and are not
// cut from it.
func (fn *Net) WaitLinked() {
	fn.t.Helper()
	waitFor(fn.t, func() string {
		for i := range fn.Sim.Keys {
			if fn.isClosed(i) {
				continue
			}
			var have []int
			for _, a := range fn.Node(i).Peers() {
				have = append(have, fn.Index(a))
			}
			slices.Sort(have)
			want := fn.expected(i)
			if fn.opts.DHT {
				have = slices.DeleteFunc(have, func(j int) bool { return !slices.Contains(want, j) })
			}
			if !slices.Equal(have, want) {
				return fmt.Sprintf("node %d is linked to %v, not %v", i, have, want)
			}
		}
		return ""
	})
}

// waitFor polls cond, which describes what is still missing ("" once the
// condition holds), until it holds; past WaitTimeout it fails t with the
// last description.
func waitFor(t testing.TB, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("foxtrottest: gave up after %v: %s", WaitTimeout, missing)
		}
		<-tick.C
	}
}

// Cut closes the link between nodes a and b and keeps them from linking
// again (a node redials a lost peer, so Node.Disconnect alone does not
// last) until Heal. It returns once neither sees the other as a peer.
// Connections through that link move to other paths or fail, as after
// any loss.
func (fn *Net) Cut(a, b int) {
	fn.t.Helper()
	fn.mu.Lock()
	fn.cut[pair(a, b)] = true
	fn.mu.Unlock()
	// Either end may hold the link; closing it from one end is enough,
	// and it may already be down.
	_ = fn.Node(a).Disconnect(fn.Identity(b))
	waitFor(fn.t, func() string {
		for _, e := range [][2]int{{a, b}, {b, a}} {
			if !fn.isClosed(e[0]) && slices.Contains(fn.Node(e[0]).Peers(), fn.Identity(e[1])) {
				return fmt.Sprintf("node %d still sees node %d", e[0], e[1])
			}
		}
		return ""
	})
}

// Heal lets nodes a and b link again after Cut, links them at once (their
// own redial may be backing off for many seconds) and waits until the
// network is linked.
func (fn *Net) Heal(a, b int) {
	fn.t.Helper()
	fn.mu.Lock()
	delete(fn.cut, pair(a, b))
	fn.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	// An error here is a redial that linked them first, or a real failure
	// that WaitLinked reports.
	_ = fn.Node(a).Connect(ctx, fn.Addr(b))
	fn.WaitLinked()
}

// CloseNode closes node i and returns once no running node sees it as a
// peer any more.
func (fn *Net) CloseNode(i int) {
	fn.t.Helper()
	fn.mu.Lock()
	fn.closed[i] = true
	fn.mu.Unlock()
	require.NoError(fn.t, fn.Node(i).Close())
	fn.mu.Lock()
	q := fn.udp[i]
	fn.udp[i] = nil
	fn.mu.Unlock()
	if q != nil {
		q.Close() // its socket, so that a restart can listen on the port
	}
	fn.WaitLinked()
}

// Restart starts node i again, with the same identity, listen address and
// Config, closing it first if it still runs, and returns once the network
// is linked again. It replaces Nodes[i] and returns the new node.
func (fn *Net) Restart(i int) *foxtrot.Node {
	fn.t.Helper()
	if !fn.isClosed(i) {
		fn.CloseNode(i)
	}
	node := fn.start(i)
	fn.mu.Lock()
	fn.Nodes[i] = node
	delete(fn.closed, i)
	fn.mu.Unlock()
	fn.WaitLinked()
	return node
}

// Index returns the index of the node whose identity is a, or -1.
func (fn *Net) Index(a foxtrot.Addr) int {
	for i := range fn.Sim.Keys {
		if fn.Identity(i) == a {
			return i
		}
	}
	return -1
}

// Indices maps a path (as Conn.Path gives it) to node indices.
func (fn *Net) Indices(path []foxtrot.Addr) []int {
	out := make([]int, len(path))
	for i, a := range path {
		out[i] = fn.Index(a)
	}
	return out
}

func (fn *Net) isClosed(i int) bool {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.closed[i]
}

func (fn *Net) isCut(a, b int) bool {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.cut[pair(a, b)]
}

// byListenAddr returns the node listening on the transport address s, or
// -1.
func (fn *Net) byListenAddr(s string) int {
	for i := range fn.Sim.Keys {
		if fn.listen(i) == s {
			return i
		}
	}
	return -1
}

func pair(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// Echo listens on a fresh key at node n and echoes every connection back
// to its sender until the test's cleanup closes the listener.
func Echo(t testing.TB, n *foxtrot.Node) net.Listener {
	t.Helper()
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := n.Listen(key)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go ServeEcho(l)
	return l
}

// ServeEcho accepts connections on l until it is closed and echoes each
// back to its sender.
func ServeEcho(l net.Listener) {
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

// Dial dials addr from n, failing the test if that takes more than ten
// seconds or fails.
func Dial(t testing.TB, n *foxtrot.Node, addr net.Addr) *foxtrot.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := n.DialContext(ctx, "foxtrot", addr.String())
	require.NoError(t, err)
	return c.(*foxtrot.Conn)
}

// LogOnFailure returns a Config adjustment that gives node i a debug
// logger; the test prints what all nodes logged if it fails.
func LogOnFailure(t testing.TB) func(i int, c *foxtrot.Config) {
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
	return func(i int, c *foxtrot.Config) {
		c.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("n", i)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
