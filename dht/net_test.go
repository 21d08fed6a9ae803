package dht

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type simNode struct {
	set  *peer.Set
	dht  *DHT
	node *Node
}

// buildNet links n nodes in a random graph of the given degree over
// simnet's mem transport, runs a DHT on each and bootstraps them all.
func buildNet(t testing.TB, n, degree int, seed int64, cfg Config) []*simNode {
	sn := simnet.New(n, simnet.Random(degree), simnet.Options{Seed: seed})
	if cfg.RPCTimeout == 0 {
		// Generous: on a loaded machine under -race an RPC over a fresh
		// link can take seconds, and a timed-out RPC leaves a table short
		// of the contacts a test expects; lookups end on answers anyway.
		cfg.RPCTimeout = 20 * time.Second
	}
	nodes := make([]*simNode, n)
	for i := range n {
		set, err := peer.NewSet(peer.Config{Identity: sn.Keys[i], Transports: transport.Set(sn.Transports())})
		require.NoError(t, err)
		_, err = set.Listen(ma.StringCast(sn.Listen(i)))
		require.NoError(t, err)
		c := cfg
		c.Set, c.Key = set, sn.Keys[i].PubKey()
		nd, err := NewNode(c)
		require.NoError(t, err)
		nodes[i] = &simNode{set, nd.DHT(), nd}
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.node.Close()
		}
		for _, nd := range nodes {
			nd.set.Close()
		}
	})
	ctx := context.Background()
	for i := range n {
		for _, p := range sn.Peers(i) {
			_, err := nodes[i].set.Connect(ctx, ma.StringCast(p))
			require.NoError(t, err)
		}
	}
	// Bootstrap in waves: each node pings its links, then looks itself up.
	// then refreshes every bucket, as a node that has run a while has.
	for _, step := range []func(d *DHT) error{
		func(d *DHT) error { return d.Bootstrap(ctx) },
		func(d *DHT) error { return d.Refresh(ctx, 0) },
	} {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, nd := range nodes {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				require.NoError(t, step(nd.dht))
			}()
		}
		wg.Wait()
	}
	return nodes
}

func TestStoreAtOneNodeGetFromAnother(t *testing.T) {
	nodes := buildNet(t, 40, 3, 1, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, nd := range nodes {
		require.Greater(t, nd.dht.Stats().Contacts, 10)
	}

	// A plain BEP 44 record.
	k := testKey(t, 70)
	rec := signed(t, k, []byte("greeting"), 1, time.Now().Add(time.Hour), "hello")
	stored, _, err := nodes[0].dht.Put(ctx, rec, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, stored, 5)
	got, st, err := nodes[len(nodes)-1].dht.Get(ctx, rec.Target(), nil)
	require.NoError(t, err)
	require.Equal(t, "hello", string(got[0].Value))
	t.Logf("get: %d hops, %d messages", st.Hops, st.Messages)

	// A newer seq replaces it everywhere it is stored; an older is refused.
	rec2 := signed(t, k, []byte("greeting"), 2, time.Now().Add(time.Hour), "hello again")
	_, _, err = nodes[1].dht.Put(ctx, rec2, nil)
	require.NoError(t, err)
	got, _, err = nodes[3].dht.Get(ctx, rec.Target(), func(r *Record) bool { return r.Seq == 2 })
	require.NoError(t, err)
	require.Equal(t, "hello again", string(got[len(got)-1].Value))

	// A listener record, found by the address alone.
	lk := testKey(t, 71)
	a := addr.FromPubKey(lk.PubKey())
	period := PeriodOf(time.Now(), 0)
	self := nodes[5].dht.Self()
	lr, err := NewListenerRecord(lk, []Contact{self}, period, 1, time.Now().Add(time.Hour), rand.Reader)
	require.NoError(t, err)
	_, _, err = nodes[5].dht.Put(ctx, lr, nil)
	require.NoError(t, err)
	li, _, err := nodes[30].dht.FindListener(ctx, a, period)
	require.NoError(t, err)
	require.Equal(t, self.ID, li.Nodes[0].ID)
	_, _, err = nodes[30].dht.FindListener(ctx, addr.FromPubKey(testKey(t, 72).PubKey()), period)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestPutNeedsATokenIssuedToTheSender: a put with a token issued to
// another node, or none, is refused; so is a forged record with a good one.
func TestPutNeedsATokenIssuedToTheSender(t *testing.T) {
	nodes := buildNet(t, 3, 2, 2, Config{})
	ctx := context.Background()
	a, b, c := nodes[0].dht, nodes[1].dht, nodes[2].dht
	rec := signed(t, testKey(t, 73), nil, 1, time.Now().Add(time.Hour), "v")
	target := rec.Target()
	bc, ok := b.table.Get(c.self)
	if !ok {
		bc = c.Self()
	}
	ac := c.Self()
	// b gets a token from c.
	resp, err := b.rpc(ctx, bc, &Request{Op: OpGet, Target: target})
	require.NoError(t, err)
	require.Len(t, resp.Token, TokenSize)
	// a replays b's token: refused.
	resp2, err := a.rpc(ctx, ac, &Request{Op: OpPut, Token: resp.Token, Record: rec})
	require.NoError(t, err)
	require.True(t, resp2.Refused)
	// No token: refused.
	resp2, err = a.rpc(ctx, ac, &Request{Op: OpPut, Record: rec})
	require.NoError(t, err)
	require.True(t, resp2.Refused)
	// b with its own token but a forged record: refused.
	forged := *rec
	forged.Value = []byte("w")
	resp2, err = b.rpc(ctx, bc, &Request{Op: OpPut, Token: resp.Token, Record: &forged})
	require.NoError(t, err)
	require.True(t, resp2.Refused)
	// b with its token and the real record: stored.
	resp2, err = b.rpc(ctx, bc, &Request{Op: OpPut, Token: resp.Token, Record: rec})
	require.NoError(t, err)
	require.False(t, resp2.Refused)
	require.Equal(t, 1, c.Stats().Records)
}

// lookupFigures measures lookups between random pairs of a bootstrapped
// network: hops and RPCs per Get of a record another node put.
func lookupFigures(t *testing.T, nodes []*simNode, pairs int, seed int64) (hops, msgs []int) {
	rng := mrand.New(mrand.NewSource(seed))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	found := 0
	for i := range pairs {
		a, b := rng.Intn(len(nodes)), rng.Intn(len(nodes))
		for b == a {
			b = rng.Intn(len(nodes))
		}
		rec := signed(t, testKey(t, int64(1000+i)), nil, 1, time.Now().Add(time.Hour), fmt.Sprint(i))
		_, _, err := nodes[a].dht.Put(ctx, rec, nil)
		require.NoError(t, err)
		_, st, err := nodes[b].dht.Get(ctx, rec.Target(), nil)
		if err == nil {
			found++
		}
		hops = append(hops, st.Hops)
		msgs = append(msgs, st.Messages)
	}
	require.Equal(t, pairs, found, "every record found")
	sort.Ints(hops)
	sort.Ints(msgs)
	return hops, msgs
}

func mean[T int | float64](xs []T) float64 {
	var s T
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

// TestIdleMaintenanceCost measures a quiet network's maintenance traffic:
// once every node has run, RPCs sent per node per minute in the rounds
// that follow, with no lookups or publishing.
func TestIdleMaintenanceCost(t *testing.T) {
	clk := newFakeClock()
	const n = 30
	nodes := buildNet(t, n, 3, 12, Config{Clock: clk})
	every := nodes[0].dht.cfg.Maintain
	for _, nd := range nodes {
		nd.node.rounds = make(chan struct{})
		require.NoError(t, nd.node.Start(context.Background()))
	}
	var perRound, perLinkRound []float64
	for round := range 4 {
		var before int64
		for _, nd := range nodes {
			before += nd.dht.Stats().Sent
		}
		for range n {
			clk.waitTimer(every)
		}
		clk.Advance(every)
		for _, nd := range nodes {
			<-nd.node.rounds
		}
		var after int64
		for _, nd := range nodes {
			after += nd.dht.Stats().Sent
		}
		links := 0
		for _, nd := range nodes {
			links += len(nd.set.Links())
		}
		links /= 2 // each counted at both ends
		perMin := float64(after-before) / n / every.Minutes()
		perLink := 2 * float64(after-before) / float64(links) / every.Minutes() // a request and its answer
		perRound = append(perRound, perMin)
		perLinkRound = append(perLinkRound, perLink)
		t.Logf("round %d: %.2f RPCs per node per minute; %d links, %.3f messages per link per minute", round, perMin, links, perLink)
	}
	// Refreshes alternate: a round's lookups freshen the buckets the next
	// one would refresh. Bound the mean of the rounds.
	require.Less(t, mean(perRound), 10.0)
	require.Less(t, mean(perLinkRound), 1.0)
}
