package foxtrot_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/dht"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// TestNodeKeepsTargetPeersSpreadAndReplacesDeadOnes: a node started with
// one bootstrap address and the DHT on links to Config.TargetPeers nodes,
// spread over the ID space (several buckets of its table), and when nodes
// it keeps links to die it links to others until it has its target again.
func TestNodeKeepsTargetPeersSpreadAndReplacesDeadOnes(t *testing.T) {
	const size, target = 24, 6
	fn := foxtrottest.New(t, size, foxtrottest.Random(3), foxtrottest.Options{Seed: 12, DHT: true})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	n, err := foxtrot.NewNode(foxtrot.Config{
		Identity:    key,
		ListenAddrs: []string{"/mem/1000"},
		Bootstrap:   []string{fn.Sim.Addr(0)},
		Transports:  fn.Sim.Transports(),
		TargetPeers: target,
		DHT:         foxtrot.DHTConfig{On: true, RPCTimeout: 10 * time.Second},
	})
	require.NoError(t, err)
	t.Cleanup(func() { n.Close() })

	counted := func() int { return len(foxtrot.CountedPeers(n)) }
	// Under -race on a busy machine a link handshake and a DHT lookup take
	// a good part of a second each: a minute, not foxtrottest's 30 s.
	waitLong := func(what string, cond func() bool) {
		t.Helper()
		require.Eventually(t, cond, time.Minute, 5*time.Millisecond, what)
	}
	// The target is met by the keeper's links and by others' links to
	// this node (other nodes' lookups link to it too), whichever come.
	waitLong("the node to reach its target", func() bool { return counted() >= target })
	self := dht.NodeID(key.PubKey())
	index := make(map[foxtrot.Addr]int, size)
	for i := range size {
		index[fn.Identity(i)] = i
	}
	kept := foxtrot.KeptPeers(n)
	buckets := map[int]bool{}
	for _, a := range kept {
		i, ok := index[a]
		require.True(t, ok, "a kept peer is a node of the network")
		buckets[dht.CommonPrefixLen(self, dht.NodeID(fn.Sim.Keys[i].PubKey()))] = true
	}
	t.Logf("%d links counted, %d kept by the keeper, over buckets %v; %d peer exchanges",
		counted(), len(kept), buckets, n.Stats().DHT.PeerExchanges)
	if len(kept) >= 3 {
		require.GreaterOrEqual(t, len(buckets), 2, "kept links spread over several buckets")
	}

	// Kill two nodes whose links count (never the bootstrap node): the
	// keeper replaces them by links to others.
	var dead []foxtrot.Addr
	for _, a := range foxtrot.CountedPeers(n) {
		if i := index[a]; i != 0 && len(dead) < 2 {
			fn.CloseNode(i)
			dead = append(dead, a)
		}
	}
	require.Len(t, dead, 2)
	waitLong("the dead links to go and the target to be met again", func() bool {
		peers := n.Peers()
		for _, a := range dead {
			if slices.Contains(peers, a) {
				return false
			}
		}
		return counted() >= target
	})
	for _, a := range foxtrot.KeptPeers(n) {
		require.NotContains(t, dead, a)
	}
	t.Logf("after two deaths: %d links counted, %d kept by the keeper", counted(), len(foxtrot.KeptPeers(n)))
}
