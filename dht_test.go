package foxtrot_test

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// dhtNet is a 30-node random network (degree 3) and a newcomer started
// with only Config.Bootstrap (node 0), the DHT on or off everywhere.
type dhtNet struct {
	fn        *foxtrottest.Net
	newcomer  *foxtrot.Node
	listener  int // the node that listens, far from node 0
	listenKey foxtrot.Addr
}

const dhtNetSize = 30

func newDHTNet(t *testing.T, on bool, opts foxtrot.ListenOptions) *dhtNet {
	fn := foxtrottest.New(t, dhtNetSize, foxtrottest.Random(3), foxtrottest.Options{Seed: 7, DHT: on})
	dn := &dhtNet{fn: fn, listener: fn.Sim.Farthest(0)}
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[dn.listener].ListenWith(key, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	dn.listenKey = l.Addr().(foxtrot.Addr)
	go foxtrottest.ServeEcho(l)
	n, err := foxtrot.NewNode(foxtrot.Config{
		ListenAddrs: []string{"/mem/1000"},
		Bootstrap:   []string{fn.Sim.Addr(0)},
		Transports:  fn.Sim.Transports(),
		// Time enough for the lookup on a loaded machine under -race (by
		// default it gets a quarter of the dial's 10 s, then floods): the
		// test is about what the lookup finds, not how fast.
		DialTimeout: time.Minute,
		TargetPeers: -1,
		// The listener is far from node 0: when its record is not found
		// (Unpublished) the flood gets the node's whole hop limit.
		DHT: foxtrot.DHTConfig{On: on, Off: !on, LookupTimeout: 30 * time.Second, RPCTimeout: 10 * time.Second,
			FloodRadius: 8},
	})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })
	dn.newcomer = n
	return dn
}

// waitFor polls cond until it holds, failing after foxtrottest.WaitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(foxtrottest.WaitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// requestsSeen sums the connect requests every node (the newcomer too)
// took in: the flood's cost.
func (dn *dhtNet) requestsSeen() (seen, dhtQueries int64) {
	for _, n := range append(slices.Clone(dn.fn.Nodes), dn.newcomer) {
		s := n.Stats()
		seen += s.RequestsSeen + s.RequestsDuplicate
		dhtQueries += s.DHTQueries
	}
	return seen, dhtQueries
}

// dialEcho dials the listener from the newcomer and checks the bytes come
// back.
func (dn *dhtNet) dialEcho(t *testing.T) {
	t.Helper()
	// The newcomer's DialTimeout: a lookup that finds nothing may take its
	// whole LookupTimeout on a loaded machine, and the flood comes after.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := dn.newcomer.DialContext(ctx, "foxtrot", dn.listenKey.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
}

func (dn *dhtNet) linkedToListener() bool {
	return slices.Contains(dn.newcomer.Peers(), dn.fn.Identity(dn.listener))
}

// TestBootstrapOnlyNodeDialsThroughDHT: a node that knows only one
// bootstrap node finds a listener elsewhere in a 30-node network through
// its listener record, links to the listener's node and reaches it in
// one hop; the same dial with the DHT off floods. The control messages of
// both (connect requests seen by all nodes, and DHT requests answered)
// are logged.
func TestBootstrapOnlyNodeDialsThroughDHT(t *testing.T) {
	type cost struct{ seen, dhtQueries int64 }
	run := func(t *testing.T, on bool) cost {
		dn := newDHTNet(t, on, foxtrot.ListenOptions{})
		waitFor(t, "the newcomer to link to its bootstrap node", func() bool { return len(dn.newcomer.Peers()) > 0 })
		if on {
			waitFor(t, "the listener's record to be published", func() bool {
				return dn.fn.Nodes[dn.listener].Stats().DHT.Published > 0
			})
			waitFor(t, "the newcomer's bootstrap lookup", func() bool { return dn.newcomer.Stats().DHTLookups > 0 && dn.newcomer.Stats().DHT.Contacts > 1 })
		}
		if dn.linkedToListener() {
			// In a network this small the bootstrap lookup links to most
			// nodes: drop that link (the DHT's, not kept) so the dial has
			// to find the listener's node again.
			require.NoError(t, dn.newcomer.Disconnect(dn.fn.Identity(dn.listener)))
			waitFor(t, "the link to the listener's node to go", func() bool { return !dn.linkedToListener() })
		}
		seen0, q0 := dn.requestsSeen()
		if on {
			require.Positive(t, q0, "Stats.DHTQueries: nodes answered the bootstrap and publish lookups")
		} else {
			require.Zero(t, q0)
		}
		lookups0 := dn.newcomer.Stats().DHTLookups
		dn.dialEcho(t)
		seen1, q1 := dn.requestsSeen()
		s := dn.newcomer.Stats()
		if on {
			require.True(t, dn.linkedToListener(), "the dial linked to the listener's node")
			require.EqualValues(t, 1, s.DHT.DialsFound)
			// The record came from a lookup or, when the newcomer is one of
			// the K nodes closest to its locator, from its own store.
			require.True(t, s.DHTLookups > lookups0 || s.DHT.Records > 0, "the record was looked up")
			routes := dn.newcomer.Routes()
			i := slices.IndexFunc(routes, func(r foxtrot.Route) bool { return r.Target == dn.listenKey })
			require.GreaterOrEqual(t, i, 0, "a route to the listener is cached")
			require.Equal(t, dn.fn.Identity(dn.listener), routes[i].NextHop)
			require.Equal(t, 1, routes[i].Hops)
		} else {
			require.Zero(t, s.DHTLookups)
		}
		return cost{seen1 - seen0, q1 - q0}
	}
	var dhtCost, floodCost cost
	t.Run("dht", func(t *testing.T) { dhtCost = run(t, true) })
	t.Run("flood", func(t *testing.T) { floodCost = run(t, false) })
	t.Logf("first dial from a bootstrap-only node, %d nodes: DHT: %d connect requests seen + %d DHT requests answered; flood: %d connect requests seen",
		dhtNetSize+1, dhtCost.seen, dhtCost.dhtQueries, floodCost.seen)
	if !t.Failed() {
		require.Less(t, dhtCost.seen, floodCost.seen, "the directed request reaches fewer nodes than the flood")
	}
}

// TestUnpublishedListenerHasNoRecord: a listener opted out of the DHT
// has no record to find, and a dial to it still succeeds by flooding.
func TestUnpublishedListenerHasNoRecord(t *testing.T) {
	dn := newDHTNet(t, true, foxtrot.ListenOptions{Unpublished: true})
	waitFor(t, "the newcomer's bootstrap lookup", func() bool { return dn.newcomer.Stats().DHTLookups > 0 })
	require.Zero(t, dn.fn.Nodes[dn.listener].Stats().DHT.Published)
	dn.dialEcho(t)
	s := dn.newcomer.Stats()
	require.Zero(t, s.DHT.DialsFound)
	require.EqualValues(t, 1, s.DHT.DialsMissed, "the lookup found nothing and the dial flooded")
}
