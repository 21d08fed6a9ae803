package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/route"
)

// shutdownBound is how long a stop may take in all: a service manager
// waits about this long before it kills.
const shutdownBound = 4500 * time.Millisecond

func cmdNode(args []string, stderr io.Writer) error {
	f := newNodeFlags(stderr)
	if err := f.fs.Parse(args); err != nil || f.fs.NArg() != 0 {
		if err == nil {
			f.fs.Usage()
		}
		return usageErr(err)
	}
	c, err := f.load()
	if err != nil {
		return err
	}
	var level slog.LevelVar
	level.Set(c.level)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &level}))

	d, err := startDaemon(c, log)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for sig := range sigs {
		if sig != syscall.SIGHUP {
			log.Info("stopping", "signal", sig.String())
			break
		}
		nc, err := f.load()
		if err != nil {
			log.Error("reload failed; keeping the running config", "err", err)
			continue
		}
		level.Set(nc.level)
		d.reload(nc)
	}
	done := make(chan error, 1)
	go func() { done <- d.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("close", "err", err)
		}
	case <-time.After(shutdownBound):
		log.Warn("close did not finish in time; exiting anyway", "bound", shutdownBound)
	}
	return nil
}

// daemon is a running node and the servers around it.
type daemon struct {
	log     *slog.Logger
	node    *foxtrot.Node
	stats   *counters
	closers []io.Closer // closed in reverse order, before the node
	chain   io.Closer   // the btcd client billing uses, closed after the node (nil: no billing)
	exit    *exitServer

	mu    sync.Mutex
	peers []string // peers linked or asked for, so a reload adds only new ones

	ctx    context.Context // cancelled at Close: ends reload dials
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func startDaemon(c *config, log *slog.Logger) (*daemon, error) {
	key, created, err := foxtrot.LoadOrCreateKey(c.Key)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("created identity key", "file", c.Key)
	}
	var bill *route.Billing
	var chain io.Closer
	if c.Billing != nil {
		b, ch, err := startBilling(context.Background(), c.Billing, log)
		if err != nil {
			return nil, err
		}
		bill, chain = b, ch
	}
	node, err := foxtrot.NewNode(foxtrot.Config{
		Identity: key, ListenAddrs: c.Listen, Peers: c.Peers, NetworkKey: c.networkKey, Logger: log,
		Linger: c.Linger.Duration, EncryptDirect: c.EncryptDirect, HopLimit: c.HopLimit,
		RequestRate: c.RequestRate, RequestBurst: c.RequestBurst, AcceptBacklog: c.AcceptBacklog,
		HandshakeTimeout: c.HandshakeTimeout.Duration, PingInterval: c.PingInterval.Duration, DialTimeout: c.DialTimeout.Duration,
		Billing: bill, Bootstrap: c.Bootstrap, DHT: dhtConfig(c.DHT), TargetPeers: c.TargetPeers, LANDiscovery: c.LANDiscovery, NAT: foxtrot.NATConfig{Punch: c.NATPunch}, UDPCongestion: c.UDPCongestion,
	})
	if err != nil {
		if chain != nil {
			chain.Close()
		}
		return nil, err
	}
	d := &daemon{log: log, node: node, stats: &counters{}, peers: slices.Clone(c.Peers), chain: chain}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if err := d.start(c, key); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *daemon) start(c *config, key *btcec.PrivateKey) error {
	info := nodeInfo{Started: time.Now(), Socks: c.Socks, Exit: c.Exit}
	for _, s := range c.Services {
		k, _, err := foxtrot.LoadOrCreateKey(s.Key)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Key, err)
		}
		l, err := d.node.Listen(k)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Key, err)
		}
		d.closers = append(d.closers, newForwarder(l, s.Forward, d.log))
		info.Listens = append(info.Listens, l.Addr().String())
		d.log.Info("serving", "address", l.Addr().String(), "forward", s.Forward)
	}
	if c.exitOpen {
		l, err := d.node.Listen(key)
		if err != nil {
			return fmt.Errorf("exit: %w", err)
		}
		price, _ := c.exitPrices()
		d.exit = newExitServer(l, c.exitAllow, price, d.node, d.log, d.stats)
		d.closers = append(d.closers, d.exit)
		info.ExitOpen = true
		d.log.Info("exit open", "address", l.Addr().String(), "allow", strings.Join(c.ExitAllow, ","), "price", price)
	}
	if c.Socks != "" {
		l, err := net.Listen("tcp", c.Socks)
		if err != nil {
			return fmt.Errorf("socks: %w", err)
		}
		info.Socks = l.Addr().String()
		_, maxPrice := c.exitPrices()
		d.closers = append(d.closers, newSOCKSServer(l, d.node, c.Exit, maxPrice, d.log, d.stats))
		d.log.Info("socks5 listening", "addr", info.Socks, "exit", c.Exit)
	}
	if c.Metrics != "" {
		l, err := net.Listen("tcp", c.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv := &http.Server{Handler: metricsHandler(d.node, d.stats), ReadHeaderTimeout: 10 * time.Second}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			srv.Serve(l)
		}()
		d.closers = append(d.closers, srv)
		info.Metrics = l.Addr().String()
		d.log.Info("metrics listening", "addr", info.Metrics)
	}
	if c.Admin != "" {
		l, err := listenAdminUnix(c.Admin)
		if err != nil {
			return err
		}
		d.closers = append(d.closers, newAdminServer(l, d.node, info, "", d.log))
	}
	if c.AdminTCP != "" {
		tok, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		token := strings.TrimSpace(string(tok))
		if len(token) < 16 {
			return fmt.Errorf("%w: admin token under 16 characters", errBadConfig)
		}
		host, _, err := net.SplitHostPort(c.AdminTCP)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: admin_tcp %q must be a loopback IP and port", errBadConfig, c.AdminTCP)
		}
		l, err := net.Listen("tcp", c.AdminTCP)
		if err != nil {
			return fmt.Errorf("admin tcp: %w", err)
		}
		d.closers = append(d.closers, newAdminServer(l, d.node, info, token, d.log))
	}
	d.log.Info("node up", "address", d.node.Identity().String(), "listen", strings.Join(d.node.ListenAddrs(), " "))
	return nil
}

// reload applies what can change without a restart: the exit
// allow-list and new peers (linked once now; a restart keeps them).
func (d *daemon) reload(c *config) {
	if d.exit != nil {
		d.exit.setAllow(c.exitAllow)
	} else if c.exitOpen {
		d.log.Warn("reload: opening an exit needs a restart")
	}
	d.mu.Lock()
	var added []string
	for _, p := range c.Peers {
		if !slices.Contains(d.peers, p) {
			added = append(added, p)
			d.peers = append(d.peers, p)
		}
	}
	d.mu.Unlock()
	for _, p := range added {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
			defer cancel()
			if err := d.node.Connect(ctx, p); err != nil {
				d.log.Warn("reload: peer did not link", "peer", p, "err", err)
			}
		}()
	}
	d.log.Info("reloaded", "log_level", c.level.String(), "exit_allow", strings.Join(c.ExitAllow, ","), "new_peers", len(added))
}

// Close stops the servers, then the node (whose Close lets connections
// linger as configured), and waits for every goroutine. Idempotent.
func (d *daemon) Close() error {
	d.once.Do(func() {
		d.cancel()
		var errs []error
		for i := len(d.closers) - 1; i >= 0; i-- {
			if err := d.closers[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
				errs = append(errs, err)
			}
		}
		errs = append(errs, d.node.Close())
		if d.chain != nil {
			errs = append(errs, d.chain.Close())
		}
		d.wg.Wait()
		d.err = errors.Join(errs...)
	})
	return d.err
}

// forwarder accepts connections on a foxtrot listener and connects each
// to a local TCP address.
type forwarder struct {
	l      net.Listener
	to     string
	log    *slog.Logger
	conns  connSet
	wg     sync.WaitGroup
	ctx    context.Context // ends at Close: so do dials in progress
	cancel context.CancelFunc
}

func newForwarder(l net.Listener, to string, log *slog.Logger) *forwarder {
	f := &forwarder{l: l, to: to, log: log}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.wg.Add(1)
	go f.serve()
	return f
}

func (f *forwarder) serve() {
	defer f.wg.Done()
	f.conns.serve(f.l, &f.wg, f.log, "service", func(c net.Conn) {
		ctx, cancel := context.WithTimeout(f.ctx, exitDialTimeout)
		out, err := (&net.Dialer{}).DialContext(ctx, "tcp", f.to)
		cancel()
		if err != nil {
			f.log.Warn("service: forward failed", "to", f.to, "err", err)
			return
		}
		defer out.Close()
		if !f.conns.add(out) {
			return
		}
		defer f.conns.remove(out)
		splice(c, out)
	})
}

// Close stops accepting, closes every connection and waits. Idempotent.
func (f *forwarder) Close() error {
	f.cancel()
	err := f.l.Close()
	f.conns.closeAll()
	f.wg.Wait()
	return err
}

// dhtConfig is the node's DHT setting from the dht key: left out, the
// library's default (on with bootstrap nodes); true on; false off.
func dhtConfig(on *bool) foxtrot.DHTConfig {
	if on == nil {
		return foxtrot.DHTConfig{}
	}
	return foxtrot.DHTConfig{On: *on, Off: !*on}
}
