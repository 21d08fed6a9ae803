package dht

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
)

// scaleConfig is one simulated first-contact experiment (runScale).
type scaleConfig struct {
	N         int           // nodes
	Boot      int           // bootstrap nodes every node starts knowing (the first Boot)
	Listeners int           // nodes that publish a listener record (0: all)
	Pairs     int           // (dialler, listener) pairs measured
	Kill      float64       // share of nodes killed after publishing
	Latency   time.Duration // one-way, per message
	Wire      bool          // encode and decode every message
	Workers   int           // joins, refreshes and publishes run at once
	Seed      int64
}

// phase is the first contacts of the measured pairs, once.
type phase struct {
	Found    int
	Own      []int           // RPCs the dialler's lookup sent
	Net      []int           // requests sent by all nodes during the lookup and after it settled
	Hops     []int           // of lookups that found the record
	Failed   int             // RPCs of the lookups that failed or timed out
	Took     []time.Duration // virtual time of each lookup
	Timeouts int             // lookups that took longer than the dial's lookup budget
}

type scaleResult struct {
	cfg                scaleConfig
	Build, Publish     time.Duration // wall time
	JoinRPCs, PubRPCs  float64       // requests per node to join (bootstrap and first refresh), per publish
	Stored             []int         // storers per published record
	HeapPerNode        float64       // bytes, after build and publish
	Contacts           float64       // table contacts per node
	Before, AfterKills phase
}

// wallNow reads the wall clock, which a synctest bubble's time.Now does not.
func wallNow() time.Time {
	var tv syscall.Timeval
	syscall.Gettimeofday(&tv)
	return time.Unix(tv.Unix())
}

// runScale builds a simulated network of cfg.N nodes (inside a synctest
// bubble: timeouts and latency run on virtual time), each knowing only
// the first cfg.Boot nodes: it bootstraps (pings them, looks up its own
// ID: DHT.Bootstrap, as Node.Start does), then, after one Maintain period
// of silence, runs the first maintenance round's refresh of stale buckets.
// Listeners publish a blinded listener record naming their node (as the
// root's Listen does). Then each measured dialler looks up its listener's
// record (FindListener, as the root's dial does) one pair at a time, and
// a first contact succeeds if the record names the listener's node.
// Another cfg.Pairs pairs are measured after cfg.Kill of the other nodes
// died (their tables still name the dead, as they would right after).
func runScale(t *testing.T, cfg scaleConfig) scaleResult {
	res := scaleResult{cfg: cfg}
	if cfg.Listeners <= 0 || cfg.Listeners > cfg.N {
		cfg.Listeners = cfg.N
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	rng := mrand.New(mrand.NewSource(cfg.Seed))
	ctx := context.Background()
	var m0 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)

	w0 := wallNow()
	net, nodes := buildVnet(t, cfg)
	res.Build = wallNow().Sub(w0)
	res.JoinRPCs = float64(net.requests.Load()) / float64(cfg.N)
	t.Logf("N=%d: built in %v", cfg.N, res.Build.Round(time.Millisecond))

	// Publish.
	w0 = wallNow()
	before := net.requests.Load()
	period := PeriodOf(time.Now(), DefaultPeriod)
	expires := time.Unix(int64((period+1)*uint64(DefaultPeriod/time.Second)), 0).Add(time.Hour)
	order := rng.Perm(cfg.N)
	listeners := order[:cfg.Listeners]
	keys := make(map[int]*btcec.PrivateKey, len(listeners))
	for _, i := range listeners {
		keys[i] = testKey(t, -(cfg.Seed<<32 + int64(i) + 1))
	}
	var mu sync.Mutex
	each(nodes, cfg.Workers, func(v *vnode) {
		i := slices.Index(nodes, v)
		k := keys[i]
		if k == nil {
			return
		}
		rec, err := NewListenerRecord(k, []Contact{v.dht.Self()}, period, 1, expires, rand.Reader)
		if err != nil {
			t.Error(err)
			return
		}
		stored, _, _ := v.dht.Put(ctx, rec, nil)
		mu.Lock()
		res.Stored = append(res.Stored, stored)
		mu.Unlock()
	})
	synctest.Wait()
	res.Publish = wallNow().Sub(w0)
	t.Logf("N=%d: published in %v", cfg.N, res.Publish.Round(time.Millisecond))
	res.PubRPCs = float64(net.requests.Load()-before) / float64(len(listeners))
	var m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m1)
	res.HeapPerNode = float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / float64(cfg.N)
	contacts := 0
	for _, v := range nodes {
		contacts += v.dht.Stats().Contacts
	}
	res.Contacts = float64(contacts) / float64(cfg.N)

	// The measured pairs: one set before the kills, a fresh one after
	// (a dialler that looked its listener up before would know nodes near
	// the record), none of their ends killed.
	type pair struct{ dialler, listener int }
	ends := map[int]bool{}
	pick := func() []pair {
		var pairs []pair
		for range cfg.Pairs {
			p := pair{rng.Intn(cfg.N), listeners[rng.Intn(len(listeners))]}
			for p.dialler == p.listener {
				p.dialler = rng.Intn(cfg.N)
			}
			pairs = append(pairs, p)
			ends[p.dialler], ends[p.listener] = true, true
		}
		return pairs
	}
	first, second := pick(), pick()
	rpcTimeout := nodes[0].dht.cfg.RPCTimeout
	budget := 10 * time.Second / 4 // the root's default dial timeout, a quarter for the lookup
	measure := func(pairs []pair) phase {
		var ph phase
		for _, p := range pairs {
			d, l := nodes[p.dialler], nodes[p.listener]
			before := net.requests.Load()
			t0 := time.Now()
			li, st, err := d.dht.FindListener(ctx, addr.FromPubKey(keys[p.listener].PubKey()), period)
			took := time.Since(t0)
			// Let what the lookup set off (answers in flight, liveness
			// checks of full buckets) end before counting.
			time.Sleep(2 * rpcTimeout)
			synctest.Wait()
			ph.Own = append(ph.Own, st.Messages)
			ph.Net = append(ph.Net, int(net.requests.Load()-before))
			ph.Failed += st.Failed
			ph.Took = append(ph.Took, took)
			if took > budget {
				ph.Timeouts++
			}
			if err == nil && len(li.Nodes) > 0 && li.Nodes[0].ID == l.dht.ID() {
				ph.Found++
				ph.Hops = append(ph.Hops, st.Hops)
			}
		}
		return ph
	}
	res.Before = measure(first)

	if cfg.Kill > 0 {
		var victims []*vnode
		for _, i := range rng.Perm(cfg.N) {
			if len(victims) >= int(cfg.Kill*float64(cfg.N)) {
				break
			}
			if !ends[i] {
				victims = append(victims, nodes[i])
			}
		}
		for _, v := range victims {
			net.kill(v)
		}
		res.AfterKills = measure(second)
	}
	return res
}

// buildVnet makes cfg.N nodes on a simulated network, each knowing only
// the first cfg.Boot: each bootstraps (pings them and looks up its own
// ID: DHT.Bootstrap, as Node.Start does), cfg.Workers at a time in order,
// then, after one Maintain period of silence, every node runs the first
// maintenance round's refresh of its stale buckets.
func buildVnet(t *testing.T, cfg scaleConfig) (*vnet, []*vnode) {
	if cfg.Workers <= 0 {
		cfg.Workers = 32
	}
	ctx := context.Background()
	net := newVnet(cfg.Latency, cfg.Wire)
	t.Cleanup(net.close)
	nodes := make([]*vnode, cfg.N)
	for i := range nodes {
		boot := nodes[:min(i, cfg.Boot)]
		v, err := net.add(testKey(t, cfg.Seed<<32+int64(i)).PubKey(), Config{}, boot)
		require.NoError(t, err)
		nodes[i] = v
	}
	// The bootstrap nodes also know each other.
	for i := range min(cfg.Boot, cfg.N) {
		nodes[i].boot = slices.Delete(slices.Clone(nodes[:min(cfg.Boot, cfg.N)]), i, i+1)
	}
	// Join in order, Workers at a time.
	each(nodes, cfg.Workers, func(v *vnode) { v.dht.Bootstrap(ctx) })
	maintain := nodes[0].dht.cfg.Maintain
	time.Sleep(maintain)
	each(nodes, cfg.Workers, func(v *vnode) { v.dht.Refresh(ctx, maintain) })
	synctest.Wait()
	return net, nodes
}

// each runs f on every node, workers at a time.
func each(vs []*vnode, workers int, f func(*vnode)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, v := range vs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(v)
		}()
	}
	wg.Wait()
}

func pct(xs []int, p int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, len(s)*p/100)]
}

func pctDur(xs []time.Duration, p int) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[min(len(s)-1, len(s)*p/100)]
}

func meanOf(xs []int) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

// row formats a result as the table's line (scaleHeader).
func (r scaleResult) row() string {
	n := float64(r.cfg.N)
	ctl := func(ph phase) []int { // a first contact's control messages: the lookup's RPCs and one connect request
		out := make([]int, len(ph.Net))
		for i, x := range ph.Net {
			out[i] = x + 1
		}
		return out
	}
	b, a := r.Before, r.AfterKills
	cb, ca := ctl(b), ctl(a)
	return fmt.Sprintf("| %d | %d/%d | %d / %d / %.1f | %.2f%% | %d / %d | %d / %d | %d/%d | %d / %d / %.1f | %d | %v / %v | %.0f | %.0f | %v | %.1f KiB |",
		r.cfg.N, b.Found, len(b.Net), pct(cb, 50), pct(cb, 90), meanOf(cb), 100*meanOf(cb)/n,
		pct(b.Hops, 50), pct(b.Hops, 90), pct(b.Own, 50), pct(b.Own, 90),
		a.Found, len(a.Net), pct(ca, 50), pct(ca, 90), meanOf(ca), a.Failed,
		pctDur(a.Took, 50), pctDur(a.Took, 90),
		r.Contacts, r.JoinRPCs, (r.Build + r.Publish).Round(time.Second), r.HeapPerNode/1024)
}

const scaleHeader = "| N | found | control msgs p50 / p90 / mean | mean % of N | hops p50 / p90 | lookup RPCs p50 / p90 | found, 20% killed | control msgs killed p50 / p90 / mean | RPC timeouts (all pairs) | lookup time killed p50 / p90 | contacts/node | join RPCs/node | build+publish wall | heap/node |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

func logScale(t *testing.T, r scaleResult) {
	t.Logf("N=%d: built in %v (%.0f requests/node to join), published %d records in %v (%.1f requests each, storers p50 %d min %d), %.1f contacts/node, heap %.1f KiB/node",
		r.cfg.N, r.Build.Round(time.Millisecond), r.JoinRPCs, len(r.Stored), r.Publish.Round(time.Millisecond), r.PubRPCs,
		pct(r.Stored, 50), pct(r.Stored, 0), r.Contacts, r.HeapPerNode/1024)
	for _, x := range []struct {
		name string
		ph   phase
	}{{"before kills", r.Before}, {fmt.Sprintf("%.0f%% killed", 100*r.cfg.Kill), r.AfterKills}} {
		ph := x.ph
		t.Logf("N=%d %s: found %d/%d; lookup RPCs p50 %d p90 %d max %d mean %.1f; all requests p50 %d p90 %d mean %.1f; hops p50 %d p90 %d max %d; failed RPCs %d; lookup time p50 %v p90 %v max %v, over %v: %d",
			r.cfg.N, x.name, ph.Found, len(ph.Own), pct(ph.Own, 50), pct(ph.Own, 90), pct(ph.Own, 100), meanOf(ph.Own),
			pct(ph.Net, 50), pct(ph.Net, 90), meanOf(ph.Net), pct(ph.Hops, 50), pct(ph.Hops, 90), pct(ph.Hops, 100),
			ph.Failed, pctDur(ph.Took, 50), pctDur(ph.Took, 90), pctDur(ph.Took, 100), 10*time.Second/4, ph.Timeouts)
	}
}

// TestFirstContactsInASimulatedNetwork runs the scale experiment small
// (the sim build tag runs it at 1,000 to 10,000 nodes, sim_test.go), with
// every message encoded and decoded: first contacts between random pairs
// all succeed, before and after a fifth of the other nodes die, in at
// most 4 hops at the median.
func TestFirstContactsInASimulatedNetwork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := runScale(t, scaleConfig{N: 150, Boot: 3, Listeners: 30, Pairs: 30, Kill: 0.2, Latency: 50 * time.Millisecond, Wire: true, Seed: 1})
		logScale(t, r)
		require.Equal(t, len(r.Before.Own), r.Before.Found)
		require.Equal(t, len(r.AfterKills.Own), r.AfterKills.Found)
		require.LessOrEqual(t, pct(r.Before.Hops, 50), 4)
	})
}

// restCost runs n simulated nodes, each running a Node (Start bootstraps
// it, then a maintenance round every Maintain refreshes its stale
// buckets), with no lookups or publishing, for 8 Maintain periods (2 h of
// virtual time) after the first half period. It counts the DHT messages
// (requests and responses) and the pairs of nodes that exchanged any:
// each such pair would be a link.
func restCost(t *testing.T, n int) (msgs float64, pairs map[[2]addr.NodeID]int, minutes float64) {
	net, vs := buildVnet(t, scaleConfig{N: n, Boot: 3, Latency: 50 * time.Millisecond, Seed: int64(n)})
	ctx := context.Background()
	nodes := make(map[*vnode]*Node)
	for _, v := range vs {
		nd := nodeOf(v.dht)
		nodes[v] = nd
		t.Cleanup(func() { nd.Close() })
	}
	each(vs, 32, func(v *vnode) { nodes[v].Start(ctx) })
	every := vs[0].dht.cfg.Maintain
	time.Sleep(every / 2)
	synctest.Wait()
	net.countPairs()
	before := net.requests.Load() + net.responses.Load()
	const periods = 8
	time.Sleep(periods * every)
	synctest.Wait()
	msgs = float64(net.requests.Load() + net.responses.Load() - before)
	return msgs, net.pairCounts(), (periods * every).Minutes()
}

func logRest(t *testing.T, n int, msgs float64, pairs map[[2]addr.NodeID]int, minutes float64) (perNode, perLink float64) {
	perNode = msgs / float64(n) / minutes
	perLink = msgs / float64(len(pairs)) / minutes
	busiest := 0
	for _, c := range pairs {
		busiest = max(busiest, c)
	}
	t.Logf("at rest, %d nodes over %.0f min: %.2f messages sent per node per minute, %.1f links per node, %.3f messages per link per minute (busiest link %.3f)",
		n, minutes, perNode, 2*float64(len(pairs))/float64(n), perLink, float64(busiest)/minutes)
	return perNode, perLink
}

// TestMaintenanceAtRest measures a quiet network's maintenance traffic
// (restCost) at 100 nodes: a node sends a few messages per minute, and
// each of its links carries well under one.
func TestMaintenanceAtRest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 100
		msgs, pairs, minutes := restCost(t, n)
		perNode, perLink := logRest(t, n, msgs, pairs, minutes)
		require.Greater(t, msgs, 0.0, "maintenance ran")
		require.Less(t, perLink, 1.0, "messages per link per minute")
		require.Less(t, perNode, 10.0, "messages per node per minute")
	})
}
