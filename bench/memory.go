package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/libp2p/go-libp2p/core/host"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// The memory rows use peer/budget_test.go's method, over loopback TCP for
// every system: one hub and n clients in this process, each client
// linked (connected) to the hub once, so there are n links and 2n link
// ends. Every endpoint (Set, Node, host) is created before the baseline,
// so the figures are what the links add on both ends: buffers, ciphers,
// muxer sessions, bookkeeping on both sides, and goroutine stacks.
// Snapshots are taken after two GCs (the first moves sync.Pool contents
// to the victim cache, the second frees them) once the links are idle:
// all up, the first ping or identify exchange done, and the goroutine
// count steady.

type memResult struct {
	name  string
	links int
	// Per link end (half of each link).
	heap, heapInuse, stack, goroutines float64
	setupPerLink                       time.Duration
	settled                            bool // goroutine count was steady at the snapshot
}

type snapshot struct {
	heapAlloc, heapInuse, stackInuse uint64
	goroutines                       int
}

func takeSnapshot() snapshot {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return snapshot{ms.HeapAlloc, ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine()}
}

// settle waits until up() holds, then until the goroutine count has not
// moved for three polls; it reports whether it got there in time.
func settle(up func() bool) bool {
	deadline := time.Now().Add(30 * time.Second)
	for !up() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	last, stable := -1, 0
	deadline = time.Now().Add(15 * time.Second)
	for stable < 3 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		if g := runtime.NumGoroutine(); g == last {
			stable++
		} else {
			last, stable = g, 0
		}
	}
	return true
}

// measureIdle connects n clients with connect (from 4 workers), waits for
// idle, and returns the per-end figures against base.
func measureIdle(name string, n int, base snapshot, connect func(i int) error, up func() bool) (memResult, error) {
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	const workers = 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				errs[i] = connect(i)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for i, err := range errs {
		if err != nil {
			return memResult{}, fmt.Errorf("%s: link %d: %w", name, i, err)
		}
	}
	settled := settle(up)
	idle := takeSnapshot()
	ends := float64(2 * n)
	return memResult{
		name:         name,
		links:        n,
		heap:         float64(int64(idle.heapAlloc)-int64(base.heapAlloc)) / ends,
		heapInuse:    float64(int64(idle.heapInuse)-int64(base.heapInuse)) / ends,
		stack:        float64(int64(idle.stackInuse)-int64(base.stackInuse)) / ends,
		goroutines:   float64(idle.goroutines-base.goroutines) / ends,
		setupPerLink: took / time.Duration(n),
		settled:      settled,
	}, nil
}

func memoryRows(n int) ([]memResult, error) {
	var out []memResult
	for _, f := range []func(int) (memResult, error){
		func(n int) (memResult, error) { return memPeerSet(n, false) },
		func(n int) (memResult, error) { return memPeerSet(n, true) },
		func(n int) (memResult, error) { return memNode(n, false) },
		func(n int) (memResult, error) { return memNode(n, true) },
		memLibp2p,
	} {
		r, err := f(n)
		if err != nil {
			return nil, err
		}
		progress("memory: %s: %.1f KiB heap, %.1f KiB stack, %.2f goroutines per end", r.name, r.heap/1024, r.stack/1024, r.goroutines)
		out = append(out, r)
	}
	return out, nil
}

// memPeerSet measures foxtrot's peer links alone (package peer), as
// peer/budget_test.go does, but over TCP; fixed: over hashicorp/yamux
// (peer.Yamux) instead of the default peer.GoYamux.
func memPeerSet(n int, fixed bool) (memResult, error) {
	name, mux := "foxtrot peer link (package peer)", peer.NewMuxerFunc(peer.GoYamux)
	if fixed {
		name, mux = "foxtrot peer link, hashicorp/yamux (peer.Yamux)", peer.Yamux
	}
	progress("memory: %s, %d links", name, n)
	newSet := func() (*peer.Set, error) {
		key, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		return peer.NewSet(peer.Config{
			Identity:     key,
			Transports:   transport.Set{tcp.New()},
			PingInterval: time.Hour, // no keepalive while measuring: the links stay idle
			NewMuxer:     mux,
		})
	}
	hub, err := newSet()
	if err != nil {
		return memResult{}, err
	}
	defer hub.Close()
	addr, err := hub.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return memResult{}, err
	}
	clients := make([]*peer.Set, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		if clients[i], err = newSet(); err != nil {
			return memResult{}, err
		}
	}
	links := make([]*peer.Link, n)
	base := takeSnapshot()
	return measureIdle(name, n, base, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l, err := clients[i].Connect(ctx, addr)
		links[i] = l
		return err
	}, func() bool {
		if len(hub.Links()) != n {
			return false
		}
		for _, l := range links {
			if l.RTT() == 0 {
				return false
			}
		}
		return true
	})
}

// memNode measures whole foxtrot Nodes linked to a hub Node: the peer
// link plus what the route layer keeps per neighbour; fixed: with
// Config.FixedStreamWindows (hashicorp/yamux).
func memNode(n int, fixed bool) (memResult, error) {
	name := "foxtrot Node link (peer link + route state)"
	if fixed {
		name = "foxtrot Node link, FixedStreamWindows (hashicorp/yamux)"
	}
	progress("memory: %s, %d links", name, n)
	cfg := func(listen bool) foxtrot.Config {
		c := foxConfig(listen)
		c.PingInterval = time.Hour
		c.FixedStreamWindows = fixed
		return c
	}
	hub, err := foxtrot.NewNode(cfg(true))
	if err != nil {
		return memResult{}, err
	}
	defer hub.Close()
	addr := hub.ListenAddrs()[0]
	clients := make([]*foxtrot.Node, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		if clients[i], err = foxtrot.NewNode(cfg(false)); err != nil {
			return memResult{}, err
		}
	}
	base := takeSnapshot()
	return measureIdle(name, n, base, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return clients[i].Connect(ctx, addr)
	}, func() bool {
		if len(hub.Peers()) != n {
			return false
		}
		for _, c := range clients {
			st := c.Stats()
			if len(st.Peers) != 1 || st.Peers[0].RTT == 0 {
				return false
			}
		}
		return true
	})
}

// memLibp2p measures go-libp2p connections: n client hosts (no listen
// address) each host.Connect to a hub host, identify included.
func memLibp2p(n int) (memResult, error) {
	progress("memory: go-libp2p, %d connections", n)
	hub, err := newLibp2pHost(true)
	if err != nil {
		return memResult{}, err
	}
	defer hub.Close()
	clients := make([]host.Host, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		if clients[i], err = newLibp2pHost(false); err != nil {
			return memResult{}, err
		}
	}
	ai := addrInfo(hub)
	base := takeSnapshot()
	return measureIdle("go-libp2p connection (TCP + Noise + yamux)", n, base, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return clients[i].Connect(ctx, ai)
	}, func() bool {
		return len(hub.Network().Peers()) == n
	})
}
