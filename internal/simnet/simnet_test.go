package simnet

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func connected(sn *Net) bool {
	for b := range sn.Keys {
		if sn.Distance(0, b) < 0 {
			return false
		}
	}
	return true
}

func TestTopologiesAreConnectedAndShaped(t *testing.T) {
	for _, tc := range []struct {
		topo  Topology
		n     int
		edges int
	}{
		{Line, 10, 9},
		{Ring, 10, 10},
		{Grid(4), 16, 24},
		{Random(4), 200, 400},
		{ScaleFree(2), 100, 197},
	} {
		sn := New(tc.n, tc.topo, Options{Seed: 7})
		require.True(t, connected(sn), tc.topo.Name)
		require.Len(t, sn.Edges, tc.edges, tc.topo.Name)
	}
}

func TestLineDistances(t *testing.T) {
	sn := New(5, Line, Options{})
	require.Equal(t, 4, sn.Distance(0, 4))
	require.Equal(t, 4, sn.Farthest(0))
	require.Equal(t, 2, New(6, Ring, Options{}).Distance(0, 4))
}

func TestEachLinkIsDialledOnceWithIdentity(t *testing.T) {
	sn := New(50, Random(3), Options{Seed: 1})
	dials := 0
	for i := range sn.Keys {
		for _, p := range sn.Peers(i) {
			_, err := ma.NewMultiaddr(p)
			require.NoError(t, err)
			dials++
		}
	}
	require.Equal(t, len(sn.Edges), dials)
}

// Started in order, a node dials only nodes started before it.
func TestANodeDialsOnlyLowerNumberedNodes(t *testing.T) {
	sn := New(50, Random(3), Options{Seed: 1})
	index := map[string]int{}
	for i := range sn.Keys {
		index[sn.Addr(i)] = i
	}
	for i := range sn.Keys {
		for _, p := range sn.Peers(i) {
			j, ok := index[p]
			require.True(t, ok, p)
			require.Less(t, j, i)
		}
	}
}

func TestSeedsReproduce(t *testing.T) {
	a, b := New(30, Random(3), Options{Seed: 9}), New(30, Random(3), Options{Seed: 9})
	require.Equal(t, a.Edges, b.Edges)
	require.True(t, a.Keys[5].PubKey().IsEqual(b.Keys[5].PubKey()))
}
