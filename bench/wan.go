package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/cputime"
)

// WAN rows: one stream through the delay line (delayline.go) at each
// round-trip time of o.wanRTTs, rate-capped at o.wanRate per link and
// direction. A direct row's one link carries the whole RTT; the
// two-relay row's three links carry a third each, so every row of one RTT
// has the same end-to-end round trip.
func wanRowName(what string, rtt time.Duration) string {
	return fmt.Sprintf("%s, RTT %v", what, rtt)
}

const (
	wanTCP    = "TCP"
	wanLibp2p = "go-libp2p direct"
	wanFox0   = "foxtrot direct"
	wanFox2   = "foxtrot via 2 relays"
	// The UDP rows: the same through udpLine (udpline.go).
	wanUDP0 = "foxtrot direct (UDP link)"
	wanUDP2 = "foxtrot via 2 relays (UDP links)"
	wanQUIC = "quic-go alone (UDP)"
)

// Per-sample figures the UDP rows keep beside their throughput, as series
// named wanRowName(kind, rtt) + suffix.
const (
	sufDrops    = " / line drops"     // datagrams the row's lines dropped
	sufLoss     = " / line loss"      // dropped ÷ (delivered + dropped)
	sufQueue    = " / line max queue" // deepest queue, bytes, over the run so far
	sufCwnd     = " / cwnd"           // quic-go's congestion window at the end of the sample
	sufLost     = " / quic lost"      // packets quic-go declared lost during the sample
	sufSRTT     = " / srtt"           // quic-go's smoothed RTT at the end, seconds
	sufMeanCwnd = " / mean cwnd"      // cwnd sampled every 10 ms over the sample, mean
	sufFlight   = " / flight"         // bytes the lines held (queued or in their delay), sampled every 10 ms, mean
	sufKernel   = " / kernel drops"   // datagrams the kernel dropped at this process's UDP sockets during the sample
)

// wanNet is every fixture of one RTT.
type wanNet struct {
	rtt   time.Duration
	lines []*delayLine
	// udpLines are every UDP line; udp0, udp2 and quicLine the ones of
	// each UDP row.
	udpLines   []*udpLine
	udp0, udp2 []*udpLine
	quicLine   *udpLine
	udpNodes   []*foxtrot.Node // 0 - 1 (direct), 0 - 2 - 3 - 4 (two relays), on UDP links
	udpSink0   net.Listener    // on udpNodes[1]
	udpSink2   net.Listener    // on udpNodes[4]
	quic       *quicPair
	tcpSink    net.Listener
	tcpAddr    string
	la, lb     host.Host
	nodes      []*foxtrot.Node // 0 - 1 (direct), 0 - 2 - 3 - 4 (two relays)
	sink0      net.Listener    // on nodes[1]
	sink2      net.Listener    // on nodes[4]
	lns        []net.Listener
}

func (w *wanNet) line(target string, oneWay time.Duration, rate float64) (*delayLine, error) {
	d, err := newDelayLine(target, oneWay, rate)
	if err != nil {
		return nil, err
	}
	w.lines = append(w.lines, d)
	return d, nil
}

func (w *wanNet) Close() {
	for _, l := range w.lns {
		l.Close()
	}
	for _, n := range append(w.nodes, w.udpNodes...) {
		n.Close()
	}
	if w.quic != nil {
		w.quic.Close()
	}
	for _, h := range []host.Host{w.la, w.lb} {
		if h != nil {
			h.Close()
		}
	}
	if w.tcpSink != nil {
		w.tcpSink.Close()
	}
	for _, d := range w.lines {
		d.Close()
	}
	for _, d := range w.udpLines {
		d.Close()
	}
}

func (w *wanNet) udpLine(target string, oneWay time.Duration, o options) (*udpLine, error) {
	d, err := newUDPLine(target, udpLineConfig{Delay: oneWay, Rate: o.wanRate, Queue: o.wanUDPQueue(w.rtt)})
	if err != nil {
		return nil, err
	}
	w.udpLines = append(w.udpLines, d)
	return d, nil
}

// wanUDPQueue is each UDP line's queue bound: -wan-udp-queue, or by
// default one bandwidth-delay product of the row's round trip at the cap
// (so the three lines of the two-relay row buffer as much each as the
// one line of the direct row), at least minUDPQueue.
func (o options) wanUDPQueue(rtt time.Duration) int {
	if o.wanUDPQueueBytes > 0 {
		return o.wanUDPQueueBytes
	}
	return max(int(o.wanRate*rtt.Seconds()), minUDPQueue)
}

func startWAN(ctx context.Context, rtt time.Duration, o options) (*wanNet, error) {
	rate := o.wanRate
	w := &wanNet{rtt: rtt}
	fail := func(err error) (*wanNet, error) {
		w.Close()
		return nil, fmt.Errorf("WAN fixtures at RTT %v: %w", rtt, err)
	}
	var err error
	// TCP.
	if w.tcpSink, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fail(err)
	}
	serveTCP(w.tcpSink, func(c net.Conn) { sinkServe(c) })
	d, err := w.line(w.tcpSink.Addr().String(), rtt/2, rate)
	if err != nil {
		return fail(err)
	}
	w.tcpAddr = d.Addr().String()

	// go-libp2p: la dials lb through a line.
	if w.la, err = newLibp2pHost(false); err != nil {
		return fail(err)
	}
	if w.lb, err = newLibp2pHost(true); err != nil {
		return fail(err)
	}
	target, err := net.ResolveTCPAddr("tcp", tcpOf(w.lb.Addrs()))
	if err != nil {
		return fail(err)
	}
	if d, err = w.line(target.String(), rtt/2, rate); err != nil {
		return fail(err)
	}
	lineMA, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", d.Addr().Port))
	if err != nil {
		return fail(err)
	}
	if err := w.la.Connect(ctx, peer.AddrInfo{ID: w.lb.ID(), Addrs: []ma.Multiaddr{lineMA}}); err != nil {
		return fail(fmt.Errorf("go-libp2p: %w", err))
	}

	// foxtrot: node i links to node peerOf[i] through a line of oneWay[i].
	peerOf := []int{-1, 0, 0, 2, 3}
	oneWay := []time.Duration{0, rtt / 2, rtt / 6, rtt / 6, rtt / 6}
	for i := range peerOf {
		cfg := foxConfig(true)
		if j := peerOf[i]; j >= 0 {
			la, err := net.ResolveTCPAddr("tcp", tcpOfFox(w.nodes[j].ListenAddrs()))
			if err != nil {
				return fail(err)
			}
			d, err := w.line(la.String(), oneWay[i], rate)
			if err != nil {
				return fail(err)
			}
			cfg.Peers = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", d.Addr().Port)}
		}
		n, err := foxtrot.NewNode(cfg)
		if err != nil {
			return fail(err)
		}
		w.nodes = append(w.nodes, n)
	}
	// The same over UDP links: node i dials node peerOf[i] at its UDP
	// address with the port of a UDP line (keyed by its identity, the
	// 66-hex suffix its ListenAddrs gives).
	for i := range peerOf {
		var peers []string
		if j := peerOf[i]; j >= 0 {
			addr := udpOfFox(w.udpNodes[j].ListenAddrs())
			target, err := udpHostPort(addr)
			if err != nil {
				return fail(err)
			}
			d, err := w.udpLine(target, oneWay[i], o)
			if err != nil {
				return fail(err)
			}
			if j == 0 && i == 1 {
				w.udp0 = append(w.udp0, d)
			} else {
				w.udp2 = append(w.udp2, d)
			}
			peers = []string{strings.Replace(addr, "/udp/"+portOf(target)+"/", fmt.Sprintf("/udp/%d/", d.Addr().Port), 1)}
		}
		n, err := newUDPNode(peers...)
		if err != nil {
			return fail(err)
		}
		w.udpNodes = append(w.udpNodes, n)
	}
	want := []int{2, 1, 2, 2, 1}
	deadline := time.Now().Add(20 * time.Second)
	for {
		up := true
		for i := range want {
			up = up && len(w.nodes[i].Peers()) == want[i] && len(w.udpNodes[i].Peers()) == want[i]
		}
		if up {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("foxtrot nodes did not link up"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, n := range w.udpNodes {
		if err := checkUDPLinks(n); err != nil {
			return fail(err)
		}
	}
	listen := func(n *foxtrot.Node) (net.Listener, error) {
		key, err := foxtrot.GenerateKey()
		if err != nil {
			return nil, err
		}
		l, err := n.Listen(key)
		if err != nil {
			return nil, err
		}
		w.lns = append(w.lns, l)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go sinkServe(c)
			}
		}()
		return l, nil
	}
	if w.sink0, err = listen(w.nodes[1]); err != nil {
		return fail(err)
	}
	if w.sink2, err = listen(w.nodes[4]); err != nil {
		return fail(err)
	}
	if w.udpSink0, err = listen(w.udpNodes[1]); err != nil {
		return fail(err)
	}
	if w.udpSink2, err = listen(w.udpNodes[4]); err != nil {
		return fail(err)
	}
	// A first dial to each, so routes are known before the rounds.
	for _, c := range []struct {
		from   *foxtrot.Node
		l      net.Listener
		relays int
	}{{w.nodes[0], w.sink0, 0}, {w.nodes[0], w.sink2, 2}, {w.udpNodes[0], w.udpSink0, 0}, {w.udpNodes[0], w.udpSink2, 2}} {
		fc, err := dialFox(ctx, c.from, c.l, c.relays)
		if err != nil {
			return fail(err)
		}
		fc.Close()
	}

	// quic-go alone (the fork transport/quic runs on), configured as
	// transport/quic configures it, through a line of RTT/2: what QUIC's
	// own congestion control makes of the line.
	if w.quic, err = startQUICPair(ctx, func(target string) (string, error) {
		d, err := w.udpLine(target, rtt/2, o)
		if err != nil {
			return "", err
		}
		w.quicLine = d
		return d.Addr().String(), nil
	}); err != nil {
		return fail(fmt.Errorf("quic-go: %w", err))
	}
	return w, nil
}

func dialFox(ctx context.Context, from *foxtrot.Node, l net.Listener, relays int) (*foxtrot.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := from.DialContext(dctx, "foxtrot", l.Addr().String())
	if err != nil {
		return nil, err
	}
	fc := c.(*foxtrot.Conn)
	if got := len(fc.Path()); got != relays {
		c.Close()
		return nil, fmt.Errorf("path through %d relays, want %d", got, relays)
	}
	return fc, nil
}

// tcpOf returns the host:port of the first TCP multiaddr.
func tcpOf(addrs []ma.Multiaddr) string {
	for _, a := range addrs {
		ip, err1 := a.ValueForProtocol(ma.P_IP4)
		port, err2 := a.ValueForProtocol(ma.P_TCP)
		if err1 == nil && err2 == nil {
			return net.JoinHostPort(ip, port)
		}
	}
	return ""
}

// udpHostPort returns the host:port of a UDP multiaddr.
func udpHostPort(s string) (string, error) {
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return "", err
	}
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		return "", err
	}
	port, err := a.ValueForProtocol(ma.P_UDP)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip, port), nil
}

func portOf(hostPort string) string {
	_, port, _ := net.SplitHostPort(hostPort)
	return port
}

func tcpOfFox(addrs []string) string {
	var out []ma.Multiaddr
	for _, s := range addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			out = append(out, a)
		}
	}
	return tcpOf(out)
}

// wanRows builds the WAN rows of every RTT; the closer stops them all.
func wanRows(o options) ([]timedRow, func(), error) {
	ctx := context.Background()
	var nets []*wanNet
	closeAll := func() {
		for _, w := range nets {
			w.Close()
		}
	}
	var rows []timedRow
	for _, rtt := range o.wanRTTs {
		progress("starting WAN fixtures, RTT %v", rtt)
		w, err := startWAN(ctx, rtt, o)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		nets = append(nets, w)
		// tput is one sample of a row; lines are the UDP lines it runs
		// through (their drops are kept beside the rate), and after runs
		// once the sample is done, with its name.
		tput := func(kind string, lines []*udpLine, open func() (io.ReadWriteCloser, func() error, error), after func(name string, round int, res *results)) timedRow {
			name := wanRowName(kind, rtt)
			return timedRow{name, func(round int, res *results) error {
				c, closeWrite, err := open()
				if err != nil {
					return err
				}
				defer c.Close()
				var before udpLineCounts
				for _, l := range lines {
					before = before.add(l.Stats())
				}
				var kernelBefore int64
				var stopFlight func() float64
				if lines != nil {
					kernelBefore = processUDPDrops()
					stopFlight = watchFlight(lines, 10*time.Millisecond)
				}
				cpu, _ := cputime.Process()
				bps, n, err := sendBulk(c, closeWrite, options{tputTime: o.wanTime})
				if err != nil {
					return err
				}
				res.add(name, throughput, round, bps)
				res.addCPU(name, cputime.Since(cpu).Seconds()/float64(n))
				if lines != nil {
					var now udpLineCounts
					for _, l := range lines {
						now = now.add(l.Stats())
					}
					d := now.sub(before)
					res.add(name+sufFlight, throughput, round, stopFlight())
					if k := processUDPDrops(); k >= 0 && kernelBefore >= 0 {
						res.add(name+sufKernel, throughput, round, float64(k-kernelBefore))
					}
					res.add(name+sufDrops, throughput, round, float64(d.Dropped))
					res.add(name+sufLoss, throughput, round, float64(d.Dropped)/float64(max(1, d.Sent+d.Dropped)))
					res.add(name+sufQueue, throughput, round, float64(d.MaxQueued))
				}
				if after != nil {
					after(name, round, res)
				}
				return nil
			}}
		}
		fox := func(from *foxtrot.Node, l net.Listener, relays int) func() (io.ReadWriteCloser, func() error, error) {
			return func() (io.ReadWriteCloser, func() error, error) {
				c, err := dialFox(ctx, from, l, relays)
				if err != nil {
					return nil, nil, err
				}
				return c, c.CloseWrite, nil
			}
		}
		var quicBefore quicgo.ConnectionStats
		var stopWatch func() float64
		rows = append(rows,
			tput(wanTCP, nil, func() (io.ReadWriteCloser, func() error, error) {
				c, err := net.Dial("tcp", w.tcpAddr)
				if err != nil {
					return nil, nil, err
				}
				return c, c.(*net.TCPConn).CloseWrite, nil
			}, nil),
			tput(wanLibp2p, nil, func() (io.ReadWriteCloser, func() error, error) {
				s, err := w.la.NewStream(ctx, w.lb.ID(), sinkProto)
				if err != nil {
					return nil, nil, err
				}
				return s, s.CloseWrite, nil
			}, nil),
			tput(wanFox0, nil, fox(w.nodes[0], w.sink0, 0), nil),
			tput(wanFox2, nil, fox(w.nodes[0], w.sink2, 2), nil),
			tput(wanUDP0, w.udp0, fox(w.udpNodes[0], w.udpSink0, 0), nil),
			tput(wanUDP2, w.udp2, fox(w.udpNodes[0], w.udpSink2, 2), nil),
			tput(wanQUIC, []*udpLine{w.quicLine}, func() (io.ReadWriteCloser, func() error, error) {
				s, err := w.quic.stream(ctx)
				if err != nil {
					return nil, nil, err
				}
				quicBefore = w.quic.stats()
				stopWatch = w.quic.watchCwnd(10 * time.Millisecond)
				return s, s.Close, nil
			}, func(name string, round int, res *results) {
				mean := stopWatch()
				st := w.quic.stats()
				res.add(name+sufCwnd, throughput, round, float64(st.CongestionWindow))
				res.add(name+sufMeanCwnd, throughput, round, mean)
				res.add(name+sufLost, throughput, round, float64(st.PacketsLost)-float64(quicBefore.PacketsLost))
				res.add(name+sufSRTT, throughput, round, st.SmoothedRTT.Seconds())
			}),
		)
	}
	return onlyRows(rows, o.only), closeAll, nil
}

// runWAN is the -wan run: interleaved rounds of the WAN rows, then their
// table.
func runWAN(o options) error {
	start := time.Now()
	m := describeMachine()
	progress("machine: %s", m)
	rows, closeAll, err := wanRows(o)
	if err != nil {
		return err
	}
	res := newResults()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			closeAll()
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			closeAll()
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for r := 0; r < o.rounds; r++ {
		progress("WAN round %d of %d", r+1, o.rounds)
		for i := range rows {
			row := rows[(i+r)%len(rows)]
			runtime.GC()
			if err := row.run(r, res); err != nil {
				closeAll()
				return fmt.Errorf("%s: %w", row.name, err)
			}
		}
	}
	closeAll()
	m.loadEnd = loadAvg()
	reportWAN(os.Stdout, o, m, res, time.Since(start))
	return nil
}

func reportWAN(w io.Writer, o options, m *machine, res *results, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	mbps := func(s *series) string {
		if s == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f", median(s.perRound())/1e6)
	}
	ratio := func(a, b *series) string {
		if a == nil || b == nil {
			return "–"
		}
		return fmt.Sprintf("%.2f", median(a.perRound())/median(b.perRound()))
	}
	p("## One stream over a delay line, one run (%s)", m.date.Format("2006-01-02 15:04 UTC"))
	p("")
	p("Machine: %s.  ", m)
	p("Code: %s; go-libp2p v0.51.0.  ", m.source)
	p("Run: %d interleaved rounds of %v samples; rate cap %.0f MB/s per link and direction; the whole run took %v.",
		o.rounds, o.wanTime, o.wanRate/1e6, took.Round(time.Second))
	p("")
	p("| round-trip time | TCP (MB/s) | go-libp2p direct | foxtrot direct | foxtrot via 2 relays | foxtrot direct (UDP link) | foxtrot via 2 relays (UDP links) | quic-go alone (UDP) | direct ÷ TCP | 2 relays ÷ TCP | UDP direct ÷ TCP | UDP 2 relays ÷ TCP | UDP direct ÷ TCP-link direct | direct ÷ go-libp2p |")
	p("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, rtt := range o.wanRTTs {
		get := func(kind string) *series { return res.get(wanRowName(kind, rtt)) }
		tcp, lp, f0, f2 := get(wanTCP), get(wanLibp2p), get(wanFox0), get(wanFox2)
		u0, u2, q := get(wanUDP0), get(wanUDP2), get(wanQUIC)
		p("| %v | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", rtt, mbps(tcp), mbps(lp), mbps(f0), mbps(f2),
			mbps(u0), mbps(u2), mbps(q),
			ratio(f0, tcp), ratio(f2, tcp), ratio(u0, tcp), ratio(u2, tcp), ratio(u0, f0), ratio(f0, lp))
	}
	p("")
	wanTargets(p, o, res)
	p("Where the time goes: CPU per GB is this process's CPU time (every node, relay and line of the row) per 10^9 bytes, and cores busy that times the rate (2 would be all of this machine).")
	p("UDP lines (per direction: %.0f MB/s token bucket, drop-tail queue of %s, then the delay): what they dropped per sample, what the kernel dropped at this process's UDP sockets (full receive buffers), the mean of the bytes the lines held (waiting for the bucket or in the delay: the flight on the wire, nearly all of it data; a full pipe holds rate × RTT/2 of data in the delay, 2 MB at 100 ms and 40 MB/s), medians of the per-round figures; quic-go's own view of its connection at the end of each sample (ConnectionStats).",
		o.wanRate/1e6, queueDesc(o))
	p("")
	p("| round-trip time | row | MB/s | CPU per GB | cores busy | line drops per sample | line loss | kernel drops per sample | deepest queue (run so far) | mean bytes held by the lines | quic-go: cwnd at end | mean cwnd | packets lost per sample | smoothed RTT |")
	p("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, rtt := range o.wanRTTs {
		for _, kind := range []string{wanFox0, wanUDP0, wanFox2, wanUDP2, wanQUIC} {
			name := wanRowName(kind, rtt)
			s := res.get(name)
			if s == nil {
				continue
			}
			fig := func(suffix string, f func(float64) string) string {
				x := res.get(name + suffix)
				if x == nil {
					return "–"
				}
				return f(median(x.perRound()))
			}
			count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
			kib := func(v float64) string { return fmt.Sprintf("%.0f KiB", v/1024) }
			cpu, cores := "–", "–"
			if len(s.cpu) > 0 {
				perByte := median(s.cpu)
				cpu = fmt.Sprintf("%.2f s", perByte*1e9)
				cores = fmt.Sprintf("%.2f", perByte*median(s.perRound()))
			}
			p("| %v | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |", rtt, kind, mbps(s), cpu, cores,
				fig(sufDrops, count), fig(sufLoss, func(v float64) string { return fmt.Sprintf("%.3f%%", v*100) }),
				fig(sufKernel, count), fig(sufQueue, kib), fig(sufFlight, kib), fig(sufCwnd, kib), fig(sufMeanCwnd, kib), fig(sufLost, count),
				fig(sufSRTT, func(v float64) string { return fmt.Sprintf("%.0f ms", v*1000) }))
		}
	}
	p("")
}

func queueDesc(o options) string {
	if o.wanUDPQueueBytes > 0 {
		return fmt.Sprintf("%d bytes", o.wanUDPQueueBytes)
	}
	return fmt.Sprintf("one BDP (rate × RTT, at least %d KiB)", minUDPQueue>>10)
}

// wanTargets is the issues' targets at the largest RTT of the run (100 ms
// by default): issue 11's for the TCP links, issue 14's for the UDP ones.
// A target is met only if the ratio of the medians and the median of the
// per-round ratios agree, as in the loopback run's table.
func wanTargets(p func(string, ...any), o options, res *results) {
	if len(o.wanRTTs) == 0 {
		return
	}
	rtt := slices.Max(o.wanRTTs)
	p("The issues' targets at RTT %v, from this run:", rtt)
	p("")
	p("| target | measured | status |")
	p("|---|---|---|")
	target := func(what, a, b string) {
		sa, sb := res.get(wanRowName(a, rtt)), res.get(wanRowName(b, rtt))
		if sa == nil || sb == nil {
			return
		}
		r := median(sa.perRound()) / median(sb.perRound())
		pr := perRoundRatio(sa, sb)
		st := "**a tie within the noise**"
		switch x, y := r >= 0.8, median(pr) >= 0.8; {
		case x && y:
			st = "**met**"
		case !x && !y:
			st = "**not met**"
		}
		p("| %s | %.2f (ratio of medians; per round %.2f – %.2f, median %.2f) | %s |", what, r, slices.Min(pr), slices.Max(pr), median(pr), st)
	}
	target("issue 11: foxtrot direct ≥ 0.8 of TCP", wanFox0, wanTCP)
	target("issue 11: foxtrot via 2 relays ≥ 0.8 of TCP", wanFox2, wanTCP)
	target("issue 14: foxtrot direct over a UDP link ≥ 0.8 of the same over a TCP link", wanUDP0, wanFox0)
	target("(beside issue 14) foxtrot direct over a UDP link ≥ 0.8 of TCP", wanUDP0, wanTCP)
	target("(beside issue 14) foxtrot via 2 relays over UDP links ≥ 0.8 of the same over TCP links", wanUDP2, wanFox2)
	p("")
}
