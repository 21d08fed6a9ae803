package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot"
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
)

var wanKinds = []string{wanTCP, wanLibp2p, wanFox0, wanFox2}

// wanNet is every fixture of one RTT.
type wanNet struct {
	rtt     time.Duration
	lines   []*delayLine
	tcpSink net.Listener
	tcpAddr string
	la, lb  host.Host
	nodes   []*foxtrot.Node // 0 - 1 (direct), 0 - 2 - 3 - 4 (two relays)
	sink0   net.Listener    // on nodes[1]
	sink2   net.Listener    // on nodes[4]
	lns     []net.Listener
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
	for _, n := range w.nodes {
		n.Close()
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
}

func startWAN(ctx context.Context, rtt time.Duration, rate float64) (*wanNet, error) {
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
	want := []int{2, 1, 2, 2, 1}
	deadline := time.Now().Add(20 * time.Second)
	for {
		up := true
		for i, n := range w.nodes {
			up = up && len(n.Peers()) == want[i]
		}
		if up {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("foxtrot nodes did not link up"))
		}
		time.Sleep(5 * time.Millisecond)
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
	// A first dial to each, so routes are known before the rounds.
	for _, c := range []struct {
		l      net.Listener
		relays int
	}{{w.sink0, 0}, {w.sink2, 2}} {
		fc, err := w.dialFox(ctx, c.l, c.relays)
		if err != nil {
			return fail(err)
		}
		fc.Close()
	}
	return w, nil
}

func (w *wanNet) dialFox(ctx context.Context, l net.Listener, relays int) (*foxtrot.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := w.nodes[0].DialContext(dctx, "foxtrot", l.Addr().String())
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
		w, err := startWAN(ctx, rtt, o.wanRate)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		nets = append(nets, w)
		tput := func(kind string, open func() (io.ReadWriteCloser, func() error, error)) timedRow {
			name := wanRowName(kind, rtt)
			return timedRow{name, func(round int, res *results) error {
				c, closeWrite, err := open()
				if err != nil {
					return err
				}
				defer c.Close()
				cpu := cpuTime()
				bps, n, err := sendBulk(c, closeWrite, options{tputTime: o.wanTime})
				if err != nil {
					return err
				}
				res.add(name, throughput, round, bps)
				res.addCPU(name, (cpuTime()-cpu).Seconds()/float64(n))
				return nil
			}}
		}
		fox := func(l net.Listener, relays int) func() (io.ReadWriteCloser, func() error, error) {
			return func() (io.ReadWriteCloser, func() error, error) {
				c, err := w.dialFox(ctx, l, relays)
				if err != nil {
					return nil, nil, err
				}
				return c, c.CloseWrite, nil
			}
		}
		rows = append(rows,
			tput(wanTCP, func() (io.ReadWriteCloser, func() error, error) {
				c, err := net.Dial("tcp", w.tcpAddr)
				if err != nil {
					return nil, nil, err
				}
				return c, c.(*net.TCPConn).CloseWrite, nil
			}),
			tput(wanLibp2p, func() (io.ReadWriteCloser, func() error, error) {
				s, err := w.la.NewStream(ctx, w.lb.ID(), sinkProto)
				if err != nil {
					return nil, nil, err
				}
				return s, s.CloseWrite, nil
			}),
			tput(wanFox0, fox(w.sink0, 0)),
			tput(wanFox2, fox(w.sink2, 2)),
		)
	}
	return rows, closeAll, nil
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
	p("| round-trip time | TCP (MB/s) | go-libp2p direct | foxtrot direct | foxtrot via 2 relays | direct ÷ TCP | 2 relays ÷ TCP | direct ÷ go-libp2p |")
	p("|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, rtt := range o.wanRTTs {
		get := func(kind string) *series { return res.get(wanRowName(kind, rtt)) }
		tcp, lp, f0, f2 := get(wanTCP), get(wanLibp2p), get(wanFox0), get(wanFox2)
		p("| %v | %s | %s | %s | %s | %s | %s | %s |", rtt, mbps(tcp), mbps(lp), mbps(f0), mbps(f2),
			ratio(f0, tcp), ratio(f2, tcp), ratio(f0, lp))
	}
	p("")
}
