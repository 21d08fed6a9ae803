package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// foxNet is the foxtrot side of the timed rows: a line of five nodes on
// loopback TCP (0 - 1 - 2 - 3 - 4), dialled from node 0, with listeners
// one, two, three and four links away; two unlinked nodes for the
// new-link row; and two nodes linked over loopback UDP (udp[0] dials
// udp[1]) for the UDP-link row.
type foxNet struct {
	line         []*foxtrot.Node
	sink         [5]net.Listener // sink[i] on line[i]: reads to the end, answers one byte
	echo         [5]net.Listener // echo[i] on line[i]
	linkA, linkB *foxtrot.Node   // linkA links to linkB anew for each sample
	udp          [2]*foxtrot.Node
	udpSink      net.Listener // on udp[1]
	lns          []net.Listener
}

// foxStreamWindow and foxMaxWindow are the -fox-stream-window and
// -fox-max-window flags, foxFixedWindows -fox-fixed-windows: window
// experiments without editing the code. foxUDPCC is -fox-udp-cc, the
// UDP nodes' congestion controller ("": the default).
var (
	foxStreamWindow, foxMaxWindow int
	foxFixedWindows               bool
	foxUDPCC                      string
)

// foxConfig is a node on loopback TCP only. The request rate is raised
// because the benchmark dials back to back, far above one peer's fair
// share of a real network.
func foxConfig(listen bool) foxtrot.Config {
	c := foxtrot.Config{
		Transports:   []transport.Transport{tcp.New()},
		RequestRate:  1e6,
		RequestBurst: 1e6,
		StreamWindow: foxStreamWindow,
		MaxWindow:    foxMaxWindow,

		FixedStreamWindows: foxFixedWindows,
	}
	if listen {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	return c
}

func startFoxtrot() (*foxNet, error) {
	f := &foxNet{}
	for i := 0; i < 5; i++ {
		cfg := foxConfig(true)
		if i > 0 {
			cfg.Peers = f.line[i-1].ListenAddrs()
		}
		n, err := foxtrot.NewNode(cfg)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.line = append(f.line, n)
	}
	var err error
	if f.linkA, err = foxtrot.NewNode(foxConfig(false)); err != nil {
		f.Close()
		return nil, err
	}
	if f.linkB, err = foxtrot.NewNode(foxConfig(true)); err != nil {
		f.Close()
		return nil, err
	}
	if f.udp[1], err = newUDPNode(); err != nil {
		f.Close()
		return nil, err
	}
	if f.udp[0], err = newUDPNode(udpOfFox(f.udp[1].ListenAddrs())); err != nil {
		f.Close()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for !f.linkedUp() {
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("foxtrot nodes did not link up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := checkUDPLinks(f.udp[0]); err != nil {
		f.Close()
		return nil, err
	}
	for i := 1; i < 5; i++ {
		if f.sink[i], err = f.listen(f.line[i], sinkServe); err != nil {
			f.Close()
			return nil, err
		}
		if f.echo[i], err = f.listen(f.line[i], echoServe); err != nil {
			f.Close()
			return nil, err
		}
	}
	if f.udpSink, err = f.listen(f.udp[1], sinkServe); err != nil {
		f.Close()
		return nil, err
	}
	// One dial to every listener: the line learns its routes before the
	// rounds, as a network in use has.
	for i := 1; i < 5; i++ {
		for _, l := range []net.Listener{f.sink[i], f.echo[i]} {
			c, err := f.dial(l, i-1)
			if err != nil {
				f.Close()
				return nil, err
			}
			c.Close()
		}
	}
	c, err := dialFox(context.Background(), f.udp[0], f.udpSink, 0)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("over the UDP link: %w", err)
	}
	c.Close()
	return f, nil
}

func (f *foxNet) linkedUp() bool {
	for i, n := range f.line {
		want := 2
		if i == 0 || i == len(f.line)-1 {
			want = 1
		}
		if len(n.Peers()) != want {
			return false
		}
	}
	for _, n := range f.udp {
		if len(n.Peers()) != 1 {
			return false
		}
	}
	return true
}

func (f *foxNet) listen(n *foxtrot.Node, serve func(c io.ReadWriteCloser)) (net.Listener, error) {
	key, err := foxtrot.GenerateKey()
	if err != nil {
		return nil, err
	}
	l, err := n.Listen(key)
	if err != nil {
		return nil, err
	}
	f.lns = append(f.lns, l)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return l, nil
}

// dial connects node 0 to l and checks the path has the relays expected.
func (f *foxNet) dial(l net.Listener, relays int) (*foxtrot.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := f.line[0].DialContext(ctx, "foxtrot", l.Addr().String())
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

func (f *foxNet) Close() {
	for _, l := range f.lns {
		l.Close()
	}
	for _, n := range append(f.line, f.linkA, f.linkB, f.udp[0], f.udp[1]) {
		if n != nil {
			n.Close()
		}
	}
}

// foxUDPConfig is a node whose peer links run over UDP (the default
// transports: transport/quic over transport/obfs, keyed by the responder's
// identity), listening on loopback UDP only.
func foxUDPConfig() foxtrot.Config {
	c := foxConfig(false)
	c.Transports = nil
	c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0"}
	c.UDPCongestion = foxUDPCC
	return c
}

// newUDPNode starts a node of foxUDPConfig that links to peers: UDP
// multiaddrs keyed by the peer's identity (the 66-hex suffix), as
// udpOfFox takes them from the peer's ListenAddrs, or with the port of a
// UDP line in between (the WAN run).
func newUDPNode(peers ...string) (*foxtrot.Node, error) {
	cfg := foxUDPConfig()
	cfg.Peers = peers
	return foxtrot.NewNode(cfg)
}

// udpOfFox returns the first UDP address of a node's ListenAddrs.
func udpOfFox(addrs []string) string {
	for _, a := range addrs {
		if strings.Contains(a, "/udp/") {
			return a
		}
	}
	return ""
}

// checkUDPLinks checks that every link n dialled went to a UDP address:
// a UDP node's default transports include TCP, so the rows over UDP links
// say so only once this holds.
func checkUDPLinks(n *foxtrot.Node) error {
	for _, p := range n.Stats().Peers {
		if p.Outbound && !strings.Contains(p.Multiaddr, "/udp/") {
			return fmt.Errorf("link to %s dialled over %q, not UDP", p.Addr, p.Multiaddr)
		}
	}
	return nil
}
