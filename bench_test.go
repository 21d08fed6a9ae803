package foxtrot

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/foxtrotnet/foxtrot/internal/cputime"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/route"
	"github.com/stretchr/testify/require"
)

// Benchmarks run on demand, not in CI:
//
//	go test -run XXX -bench . -benchtime 2s -count 5 . | tee new.txt
//	benchstat new.txt
//
// Every network here is loopback TCP in one process, so the figures are
// comparable with the baselines measured in the same run.

// tcpLine starts n nodes on loopback TCP linked in a line.
func tcpLine(b testing.TB, n int, mods ...func(*Config)) []*Node {
	b.Helper()
	nodes := make([]*Node, n)
	for i := range nodes {
		// Benchmarks dial back to back, far above any peer's fair share.
		cfg := Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, RequestRate: 1e6, RequestBurst: 1e6}
		for _, mod := range mods {
			mod(&cfg)
		}
		if i > 0 {
			cfg.Peers = nodes[i-1].ListenAddrs()
		}
		nodes[i] = newTestNode(b, cfg)
	}
	require.Eventually(b, func() bool {
		for i, nd := range nodes {
			want := 2
			if i == 0 || i == n-1 {
				want = 1
			}
			if n == 1 {
				want = 0
			}
			if len(nd.Peers()) != want {
				return false
			}
		}
		return true
	}, 20*time.Second, time.Millisecond)
	return nodes
}

// discardListener accepts connections on a fresh key at n and reads them
// to the end.
func discardListener(b testing.TB, n *Node) net.Listener {
	key, _ := GenerateKey()
	l, err := n.Listen(key)
	require.NoError(b, err)
	b.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(io.Discard, c)
				c.Write([]byte{1}) // tell the writer everything arrived
				c.Close()
			}()
		}
	}()
	return l
}

const benchChunk = 64 << 10

// writeAll writes b.N chunks, half-closes with closeWrite, and waits for
// the reader to confirm it has everything.
func writeAll(b *testing.B, c io.ReadWriter, closeWrite func() error) {
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	cpu, _ := cputime.Process()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := closeWrite(); err != nil {
		b.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	// CPU per chunk, both ends together: steadier than time on a shared
	// machine.
	b.ReportMetric(float64(cputime.Since(cpu))/float64(b.N), "cpu-ns/op")
}

// BenchmarkThroughput: one connection, 64 KiB writes, until the reader
// has everything. Baselines: raw loopback TCP, and one yamux stream over
// it (what a peer link is, minus encryption).
func BenchmarkThroughput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Write([]byte{1})
			c.Close()
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(b, err)
		defer c.Close()
		writeAll(b, c, c.(*net.TCPConn).CloseWrite)
	})
	b.Run("tcp+yamux", func(b *testing.B) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		cfg := yamux.DefaultConfig()
		cfg.LogOutput = io.Discard
		cfg.MaxStreamWindowSize = 1 << 20
		go func() {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, _ := yamux.Server(c, cfg)
			st, err := s.AcceptStream()
			if err != nil {
				return
			}
			io.Copy(io.Discard, st)
			st.Write([]byte{1})
			st.Close()
			s.Close()
		}()
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(b, err)
		s, _ := yamux.Client(c, cfg)
		defer s.Close()
		st, err := s.OpenStream()
		require.NoError(b, err)
		writeAll(b, st, st.Close) // a yamux stream's Close is a half-close
	})
	for _, relays := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("foxtrot-%d-relays", relays), func(b *testing.B) {
			throughput(b, relays)
		})
		// The links' muxer as it was: hashicorp yamux, fixed windows.
		b.Run(fmt.Sprintf("foxtrot-%d-relays-fixed", relays), func(b *testing.B) {
			throughput(b, relays, func(c *Config) { c.FixedStreamWindows = true })
		})
	}
	// The direct connection again, sealed end to end as well as by its
	// link: what relying on the link's encryption saves.
	b.Run("foxtrot-0-relays-EncryptDirect", func(b *testing.B) {
		throughput(b, 0, func(c *Config) { c.EncryptDirect = true })
	})
}

func throughput(b *testing.B, relays int, mods ...func(*Config)) {
	nodes := tcpLine(b, relays+2, mods...)
	l := discardListener(b, nodes[len(nodes)-1])
	c, err := nodes[0].Dial(l.Addr().String())
	require.NoError(b, err)
	defer c.Close()
	require.Len(b, c.(*Conn).Path(), relays)
	writeAll(b, c, c.(*Conn).CloseWrite)
}

// BenchmarkLinkThroughput: one direct connection (no relay) over a TCP
// peer link and over a UDP one (transport/quic over transport/obfs), in
// the same run, so the ratio of the two is the figure to read; "udp-pad"
// pads every datagram (Config.PadPackets).
func BenchmarkLinkThroughput(b *testing.B) {
	for _, link := range []string{"tcp", "udp", "udp-pad"} {
		b.Run(link, func(b *testing.B) {
			throughput(b, 0, func(c *Config) {
				proto, _, pad := strings.Cut(link, "-")
				c.ListenAddrs = []string{"/ip4/127.0.0.1/" + proto + "/0"}
				c.PadPackets = pad
			})
		})
	}
}

// BenchmarkDial: connection setup over existing peer links (request, ack,
// stream open; the first byte can follow at once), reported with p50 and
// p99 beside the mean. Each iteration dials a key listened on afresh (the
// full handshake: a repeat dial of one key would use its resumption
// ticket, which BenchmarkRepeatDial measures).
func BenchmarkDial(b *testing.B) {
	for _, relays := range []int{0, 2} {
		b.Run(fmt.Sprintf("%d-relays", relays), func(b *testing.B) {
			nodes := tcpLine(b, relays+2)
			ctx := context.Background()
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l := echoOnce(b, nodes[len(nodes)-1])
				addr := l.Addr().String()
				b.StartTimer()
				start := time.Now()
				c, err := nodes[0].DialContext(ctx, "foxtrot", addr)
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				c.Close()
				b.StopTimer()
				l.Close()
				b.StartTimer()
			}
			b.StopTimer()
			reportPercentiles(b, lat)
		})
	}
}

// BenchmarkRepeatDial: a first Dial through 2 relays (a key this node
// never dialled: the full handshake, with ECDH and signatures) against a
// repeat Dial of the same key with the ticket the first connection
// brought (no public-key work), in the same run. Each iteration listens
// on a fresh key, dials it (first), echoes a byte (by then the ticket
// has arrived: the target sends it before any data), closes, and dials
// it again (repeat). Reports the p50 of each and their ratio; issue 11
// wants repeat/first at most 1/3.
func BenchmarkRepeatDial(b *testing.B) {
	nodes := tcpLine(b, 4)
	dialler := nodes[0]
	ctx := context.Background()
	first := make([]time.Duration, 0, b.N)
	repeat := make([]time.Duration, 0, b.N)
	dialTimed := func(addr string) (net.Conn, time.Duration) {
		start := time.Now()
		c, err := dialler.DialContext(ctx, "foxtrot", addr)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		return c, took
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := echoOnce(b, nodes[3])
		b.StartTimer()
		c, took := dialTimed(l.Addr().String())
		first = append(first, took)
		if _, err := c.Write([]byte{1}); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			b.Fatal(err)
		}
		c.Close()
		tickets := dialler.Stats().TicketDials
		c, took = dialTimed(l.Addr().String())
		repeat = append(repeat, took)
		c.Close()
		if dialler.Stats().TicketDials != tickets+1 {
			b.Fatalf("the repeat dial did not use its ticket (%+v)", dialler.Stats())
		}
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.StopTimer()
	sort.Slice(first, func(i, j int) bool { return first[i] < first[j] })
	sort.Slice(repeat, func(i, j int) bool { return repeat[i] < repeat[j] })
	f, r := first[len(first)/2], repeat[len(repeat)/2]
	b.ReportMetric(float64(f.Microseconds()), "first-p50-µs")
	b.ReportMetric(float64(r.Microseconds()), "repeat-p50-µs")
	b.ReportMetric(float64(r)/float64(f), "repeat/first")
}

// echoOnce listens on a fresh key and, on each connection, echoes its
// first byte and then reads to the end.
func echoOnce(b testing.TB, n *Node) net.Listener {
	key, _ := GenerateKey()
	l, err := n.Listen(key)
	require.NoError(b, err)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var one [1]byte
				if _, err := io.ReadFull(c, one[:]); err == nil {
					c.Write(one[:])
				}
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return l
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkRecovery: how long a connection is interrupted when the relay
// under it dies. Each iteration builds the two-path network (alice - r1 -
// r2 - bob and alice - r3 - r4 - bob, in process), runs an echo
// connection, closes the relay on its path, and times from the close to
// the next completed round trip. Reported as ms/op, with the failover
// itself (new path found and resumed) as failover-ms.
func BenchmarkRecovery(b *testing.B) {
	const alice, bob = 0, 5
	twoPaths := simnet.Custom([][2]int{{0, 1}, {1, 2}, {2, 5}, {0, 3}, {3, 4}, {4, 5}})
	var failover time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nodes := startNet(b, simnet.New(6, twoPaths, simnet.Options{}))
		l := echoListener(b, nodes[bob])
		c := dialT(b, nodes[alice], l.Addr())
		echo := func() {
			if _, err := c.Write([]byte("ping")); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				b.Fatal(err)
			}
		}
		echo()
		relay := slices.IndexFunc(nodes, func(n *Node) bool { return n.Identity() == c.Path()[0] })
		b.StartTimer()
		nodes[relay].Close()
		echo()
		b.StopTimer()
		st := nodes[alice].Stats()
		if st.Failovers != 1 {
			b.Fatalf("%d failovers", st.Failovers)
		}
		failover += st.FailoverTime
		c.Close()
		for _, n := range nodes {
			n.Close()
		}
	}
	b.ReportMetric(float64(failover.Microseconds())/1000/float64(b.N), "failover-ms")
}

// BenchmarkBilling: what paying for relaying costs a connection's
// throughput. The same path (dialler, one relay, listener; loopback TCP)
// carries the same writes with billing off and with billing on (a 30
// sat/MiB relay, the default 1000 sat chunk, channels open and paid as
// the bytes flow on a simulated chain).
func BenchmarkBilling(b *testing.B) {
	for _, billed := range []bool{false, true} {
		name := "off"
		if billed {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			w := newChainWorld(b)
			nodes := make([]*Node, 3)
			for i := range nodes {
				cfg := Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}}
				if i > 0 {
					cfg.Peers = nodes[i-1].ListenAddrs()
				}
				if billed && i < 2 {
					cfg.Billing = &route.Billing{Price: uint64(30 * i), MaxPrice: 100, Chain: w.chain,
						Wallet: w.wallet(1), ChannelAmount: 5_000_000, PollInterval: 5 * time.Millisecond}
				}
				nodes[i] = newTestNode(b, cfg)
			}
			require.Eventually(b, func() bool { return len(nodes[1].Peers()) == 2 }, 10*time.Second, time.Millisecond)
			l := discardListener(b, nodes[2])
			if billed { // open and confirm the channel before measuring
				c, err := nodes[0].Dial(l.Addr().String())
				require.NoError(b, err)
				buf := make([]byte, 1<<20)
				for i := 0; i < 40; i++ {
					c.Write(buf)
				}
				c.Close()
				require.Eventually(b, func() bool {
					st := account(nodes[1], nodes[0].Identity())
					return st.Ready && st.PaidToUs > 0
				}, 30*time.Second, 5*time.Millisecond)
			}
			c, err := nodes[0].Dial(l.Addr().String())
			require.NoError(b, err)
			defer c.Close()
			cpu, _ := cputime.Process()
			writeAll(b, c, c.(*Conn).CloseWrite)
			// CPU time is what billing adds; on a shared machine it is far
			// steadier than wall time.
			b.ReportMetric(float64(cputime.Since(cpu))/float64(b.N), "cpu-ns/op")
			if billed {
				b.ReportMetric(float64(account(nodes[1], nodes[0].Identity()).PaidToUs), "sat-paid")
			}
		})
	}
}
