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

	// counted is what the keeper counts: links up but the DHT's own.
	counted := func() int { return len(n.Peers()) - n.Stats().DHT.Links }
	waitFor(t, "the node to reach its target", func() bool {
		return counted() >= target && len(foxtrot.KeptPeers(n)) > 0
	})
	self := dht.NodeID(key.PubKey())
	index := make(map[foxtrot.Addr]int, size)
	for i := range size {
		index[fn.Identity(i)] = i
	}
	buckets := map[int]bool{}
	for _, a := range foxtrot.KeptPeers(n) {
		i, ok := index[a]
		require.True(t, ok, "a kept peer is a node of the network")
		buckets[dht.CommonPrefixLen(self, dht.NodeID(fn.Sim.Keys[i].PubKey()))] = true
	}
	kept := foxtrot.KeptPeers(n)
	t.Logf("%d links counted, %d kept by the keeper, over buckets %v; %d peer exchanges",
		counted(), len(kept), buckets, n.Stats().DHT.PeerExchanges)
	if len(kept) >= 3 {
		require.GreaterOrEqual(t, len(buckets), 2, "kept links spread over several buckets")
	}

	// Kill up to two nodes the keeper holds links to (never the bootstrap
	// node): the keeper replaces them.
	var dead []foxtrot.Addr
	for _, a := range kept {
		if i := index[a]; i != 0 && len(dead) < 2 {
			fn.CloseNode(i)
			dead = append(dead, a)
		}
	}
	require.NotEmpty(t, dead)
	waitFor(t, "the dead links to go and the target to be met again", func() bool {
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
}
