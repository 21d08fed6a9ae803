package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/cputime"
)

// Row names, as the table prints them.
const (
	tpTCP       = "TCP"
	tpYamux     = "TCP + yamux (hashicorp, 1 MiB window)"
	tpLibp2p    = "go-libp2p (TCP + Noise + yamux)"
	tpFox0      = "foxtrot direct (one peer link)"
	tpFoxUDP    = "foxtrot direct (UDP link)"
	tpQUIC      = "quic-go alone (UDP, 1280-byte packets, GSO; no obfs, no link stack)"
	tpFox1      = "foxtrot through 1 relay"
	tpFox3      = "foxtrot through 3 relays"
	tpLibp2pRly = "go-libp2p through 1 circuit relay v2"

	suTCP            = "TCP: new connection"
	suLibp2pConn     = "go-libp2p: new connection (dial + Noise + yamux)"
	suLibp2pConnect  = "go-libp2p: host.Connect (new connection + identify)"
	suLibp2pStream   = "go-libp2p: new stream on an existing connection"
	suLibp2pStreamRT = "go-libp2p: new stream + 1-byte echo"
	suLibp2pRelay    = "go-libp2p: relayed connection (new circuit + Noise + yamux)"
	suFox0           = "foxtrot: Dial over an existing link, direct"
	suFox0RT         = "foxtrot: Dial direct + 1-byte echo"
	suFox2           = "foxtrot: Dial over existing links, through 2 relays"
	suFox2RT         = "foxtrot: Dial through 2 relays + 1-byte echo"
	suFox2Ticket     = "foxtrot: repeat Dial through 2 relays (resumption ticket)"
	suFox2TicketRT   = "foxtrot: repeat Dial through 2 relays + 1-byte echo"
	suFoxLink        = "foxtrot: new peer link (Node.Connect: TCP + Noise XX + yamux)"
)

const chunkSize = 64 << 10

// chunk is what every throughput row writes, 64 KiB at a time.
var chunk = func() []byte {
	b := make([]byte, chunkSize)
	rand.Read(b)
	return b
}()

// sinkServe reads c to the end, then answers one byte: everything arrived.
func sinkServe(c io.ReadWriteCloser) {
	defer c.Close()
	buf := make([]byte, chunkSize)
	for {
		_, err := c.Read(buf)
		if err == io.EOF {
			c.Write([]byte{1})
			return
		}
		if err != nil {
			return
		}
	}
}

// echoServe writes back what it reads, until the end.
func echoServe(c io.ReadWriteCloser) {
	defer c.Close()
	buf := make([]byte, chunkSize)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// sendBulk writes 64 KiB chunks until at least o.tputBytes and o.tputTime,
// half-closes, and waits for the reader's byte; it returns bytes per
// second over that whole time.
func sendBulk(c io.ReadWriter, closeWrite func() error, o options) (bps float64, bytes int64, err error) {
	start := time.Now()
	var sent int64
	for sent < o.tputBytes || time.Since(start) < o.tputTime {
		n, err := c.Write(chunk)
		sent += int64(n)
		if err != nil {
			return 0, 0, err
		}
	}
	if err := closeWrite(); err != nil {
		return 0, 0, err
	}
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil {
		return 0, 0, fmt.Errorf("waiting for the reader: %w", err)
	}
	return float64(sent) / time.Since(start).Seconds(), sent, nil
}

// echoByte sends one byte and waits for it to come back.
func echoByte(c io.ReadWriter) error {
	if _, err := c.Write([]byte{7}); err != nil {
		return err
	}
	var one [1]byte
	_, err := io.ReadFull(c, one[:])
	return err
}

// timedRow runs once per round: one throughput sample, or
// o.setupSamples setup samples.
type timedRow struct {
	name string
	run  func(round int, res *results) error
}

func serveTCP(l net.Listener, serve func(net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
}

func timedRows(o options) ([]timedRow, func(), error) {
	ctx := context.Background()
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) ([]timedRow, func(), error) {
		closeAll()
		return nil, nil, err
	}

	// Raw TCP: one listener reads to the end and answers a byte.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { tl.Close() })
	serveTCP(tl, func(c net.Conn) { sinkServe(c) })

	// TCP + yamux: one session, a stream per sample, foxtrot's window.
	yl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { yl.Close() })
	ycfg := yamux.DefaultConfig()
	ycfg.LogOutput = io.Discard
	ycfg.MaxStreamWindowSize = 1 << 20
	go func() {
		c, err := yl.Accept()
		if err != nil {
			return
		}
		s, err := yamux.Server(c, ycfg)
		if err != nil {
			return
		}
		for {
			st, err := s.AcceptStream()
			if err != nil {
				return
			}
			go sinkServe(st)
		}
	}()
	yc, err := net.Dial("tcp", yl.Addr().String())
	if err != nil {
		return fail(err)
	}
	ys, err := yamux.Client(yc, ycfg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { ys.Close() })

	progress("starting go-libp2p hosts")
	lp, err := startLibp2p(ctx)
	if err != nil {
		return fail(fmt.Errorf("go-libp2p: %w", err))
	}
	closers = append(closers, lp.Close)

	// quic-go alone, configured as transport/quic configures its
	// connections, on a plain UDP socket (so with GSO and batched reads):
	// the ceiling of any link over it at these packet sizes.
	qp, err := startQUICPair(ctx, func(target string) (string, error) { return target, nil })
	if err != nil {
		return fail(fmt.Errorf("quic-go: %w", err))
	}
	closers = append(closers, qp.Close)

	progress("starting foxtrot nodes")
	fx, err := startFoxtrot()
	if err != nil {
		return fail(fmt.Errorf("foxtrot: %w", err))
	}
	closers = append(closers, fx.Close)

	tput := func(name string, open func() (io.ReadWriteCloser, func() error, error)) timedRow {
		return timedRow{name, func(round int, res *results) error {
			c, closeWrite, err := open()
			if err != nil {
				return err
			}
			defer c.Close()
			cpu, _ := cputime.Process()
			bps, n, err := sendBulk(c, closeWrite, o)
			if err != nil {
				return err
			}
			res.add(name, throughput, round, bps)
			res.addCPU(name, cputime.Since(cpu).Seconds()/float64(n))
			return nil
		}}
	}
	foxTput := func(name string, relays int) timedRow {
		return tput(name, func() (io.ReadWriteCloser, func() error, error) {
			c, err := fx.dial(fx.sink[relays+1], relays)
			if err != nil {
				return nil, nil, err
			}
			return c, c.CloseWrite, nil
		})
	}
	// setup runs n samples of one (or two) latency metrics; the row's CPU
	// time per sample is reported beside cpuName (the metric whose
	// interval the sample's work matches best).
	setup := func(name, cpuName string, sample func(rec func(metric string, d time.Duration)) error) timedRow {
		return timedRow{name, func(round int, res *results) error {
			rec := func(metric string, d time.Duration) { res.add(metric, latency, round, d.Seconds()) }
			cpu, _ := cputime.Process()
			for i := 0; i < o.setupSamples; i++ {
				if err := sample(rec); err != nil {
					return err
				}
			}
			res.addCPU(cpuName, cputime.Since(cpu).Seconds()/float64(o.setupSamples))
			return nil
		}}
	}
	// foxDial times a Dial to a listener relays+1 links away. A first
	// dial (repeat false) goes to a key this node never dialled, listened
	// on afresh for each sample: the full handshake. A repeat dial goes
	// to the echo listener dialled before, with the resumption ticket
	// the previous connection brought (no public-key work).
	foxDial := func(name, nameRT string, relays int, repeat bool) timedRow {
		primed := false
		return setup(name, nameRT, func(rec func(string, time.Duration)) error {
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			addr := fx.echo[relays+1].Addr().String()
			if repeat && !primed {
				// An untimed connection that echoes a byte: by then its
				// ticket has arrived (the target sends it first).
				c, err := fx.line[0].DialContext(dctx, "foxtrot", addr)
				if err != nil {
					return err
				}
				err = echoByte(c)
				c.Close()
				if err != nil {
					return err
				}
				primed = true
			}
			if !repeat {
				key, err := foxtrot.GenerateKey()
				if err != nil {
					return err
				}
				l, err := fx.line[relays+1].Listen(key)
				if err != nil {
					return err
				}
				defer l.Close()
				go func() {
					if c, err := l.Accept(); err == nil {
						echoServe(c)
					}
				}()
				addr = l.Addr().String()
			}
			tickets := fx.line[0].Stats().TicketDials
			start := time.Now()
			c, err := fx.line[0].DialContext(dctx, "foxtrot", addr)
			if err != nil {
				return err
			}
			dialled := time.Since(start)
			defer c.Close()
			if err := echoByte(c); err != nil {
				return err
			}
			echoed := time.Since(start)
			if got := len(c.(*foxtrot.Conn).Path()); got != relays {
				return fmt.Errorf("path through %d relays, want %d", got, relays)
			}
			if used := fx.line[0].Stats().TicketDials > tickets; used != repeat {
				st := fx.line[0].Stats()
				return fmt.Errorf("%s: dialled with a ticket: %v (dialler: %d ticket dials, %d fell back, %d tickets kept; target: %d issued, %d refused)",
					name, used, st.TicketDials, st.TicketFallbacks, st.TicketsKept, fx.line[relays+1].Stats().TicketsIssued, fx.line[relays+1].Stats().TicketsRefused)
			}
			rec(name, dialled)
			rec(nameRT, echoed)
			return nil
		})
	}

	rows := []timedRow{
		tput(tpTCP, func() (io.ReadWriteCloser, func() error, error) {
			c, err := net.Dial("tcp", tl.Addr().String())
			if err != nil {
				return nil, nil, err
			}
			return c, c.(*net.TCPConn).CloseWrite, nil
		}),
		tput(tpYamux, func() (io.ReadWriteCloser, func() error, error) {
			st, err := ys.OpenStream()
			if err != nil {
				return nil, nil, err
			}
			return st, st.Close, nil // a yamux stream's Close is a half-close
		}),
		tput(tpLibp2p, func() (io.ReadWriteCloser, func() error, error) {
			s, err := lp.a.NewStream(ctx, lp.b.ID(), sinkProto)
			if err != nil {
				return nil, nil, err
			}
			return s, s.CloseWrite, nil
		}),
		foxTput(tpFox0, 0),
		tput(tpFoxUDP, func() (io.ReadWriteCloser, func() error, error) {
			c, err := dialFox(ctx, fx.udp[0], fx.udpSink, 0)
			if err != nil {
				return nil, nil, err
			}
			return c, c.CloseWrite, nil
		}),
		tput(tpQUIC, func() (io.ReadWriteCloser, func() error, error) {
			st, err := qp.stream(ctx)
			if err != nil {
				return nil, nil, err
			}
			return st, st.Close, nil // a QUIC stream's Close ends its sending side
		}),
		foxTput(tpFox1, 1),
		foxTput(tpFox3, 3),
		tput(tpLibp2pRly, func() (io.ReadWriteCloser, func() error, error) {
			s, err := lp.ar.NewStream(ctx, lp.t.ID(), sinkProto)
			if err != nil {
				return nil, nil, err
			}
			if err := checkCircuit(s.Conn()); err != nil {
				s.Reset()
				return nil, nil, err
			}
			return s, s.CloseWrite, nil
		}),

		setup(suTCP, suTCP, func(rec func(string, time.Duration)) error {
			start := time.Now()
			c, err := net.Dial("tcp", tl.Addr().String())
			if err != nil {
				return err
			}
			rec(suTCP, time.Since(start))
			return c.Close()
		}),
		setup(suLibp2pConn, suLibp2pConn, func(rec func(string, time.Duration)) error {
			start := time.Now()
			c, err := lp.c.Network().DialPeer(ctx, lp.d.ID())
			if err != nil {
				return err
			}
			rec(suLibp2pConn, time.Since(start))
			c.Close()
			return waitDisconnected(lp.c, lp.d)
		}),
		setup(suLibp2pConnect, suLibp2pConnect, func(rec func(string, time.Duration)) error {
			start := time.Now()
			if err := lp.c.Connect(ctx, addrInfo(lp.d)); err != nil {
				return err
			}
			rec(suLibp2pConnect, time.Since(start))
			lp.c.Network().ClosePeer(lp.d.ID())
			return waitDisconnected(lp.c, lp.d)
		}),
		setup(suLibp2pStream, suLibp2pStreamRT, func(rec func(string, time.Duration)) error {
			start := time.Now()
			s, err := lp.a.NewStream(ctx, lp.b.ID(), echoProto)
			if err != nil {
				return err
			}
			opened := time.Since(start)
			defer s.Close()
			if err := echoByte(s); err != nil {
				return err
			}
			rec(suLibp2pStream, opened)
			rec(suLibp2pStreamRT, time.Since(start))
			return nil
		}),
		setup(suLibp2pRelay, suLibp2pRelay, func(rec func(string, time.Duration)) error {
			start := time.Now()
			c, err := lp.e.Network().DialPeer(ctx, lp.t.ID())
			if err != nil {
				return err
			}
			took := time.Since(start)
			if err := checkCircuit(c); err != nil {
				return err
			}
			rec(suLibp2pRelay, took)
			c.Close()
			return waitDisconnected(lp.e, lp.t)
		}),
		foxDial(suFox0, suFox0RT, 0, false),
		foxDial(suFox2, suFox2RT, 2, false),
		foxDial(suFox2Ticket, suFox2TicketRT, 2, true),
		setup(suFoxLink, suFoxLink, func(rec func(string, time.Duration)) error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			start := time.Now()
			if err := fx.linkA.Connect(cctx, fx.linkB.ListenAddrs()[0]); err != nil {
				return err
			}
			rec(suFoxLink, time.Since(start))
			if err := fx.linkA.Disconnect(fx.linkB.Identity()); err != nil {
				return err
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(fx.linkA.Peers()) > 0 || len(fx.linkB.Peers()) > 0 {
				if time.Now().After(deadline) {
					return fmt.Errorf("link did not go down")
				}
				time.Sleep(200 * time.Microsecond)
			}
			return nil
		}),
	}
	return onlyRows(rows, o.only), closeAll, nil
}

// onlyRows keeps the rows whose name contains one of only's
// alternatives (separated by |); an empty only keeps them all.
func onlyRows(rows []timedRow, only string) []timedRow {
	if only == "" {
		return rows
	}
	var keep []timedRow
	for _, r := range rows {
		if slices.ContainsFunc(strings.Split(only, "|"), func(w string) bool { return strings.Contains(r.name, w) }) {
			keep = append(keep, r)
		}
	}
	return keep
}
