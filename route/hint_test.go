package route

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// TestHintDirectsTheFirstRequest: a hint that the target is behind one
// neighbour sends the dial's request there only; the other neighbour
// sees nothing.
func TestHintDirectsTheFirstRequest(t *testing.T) {
	sn := simnet.New(3, simnet.Custom([][2]int{{0, 1}, {0, 2}}), simnet.Options{Seed: 3})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[2])
	target := l.addr
	require.False(t, nodes[0].r.HasRoute(target))
	require.True(t, nodes[0].r.Hint(target, linkTo(t, nodes[0], nodes[2])))
	require.True(t, nodes[0].r.HasRoute(target))
	s, err := dial(t, nodes[0], target, 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "hinted")
	require.Zero(t, nodes[1].r.Stats().RequestsSeen, "the request went to the hinted neighbour only")
	require.EqualValues(t, 1, nodes[2].r.Stats().RequestsSeen)
}

// TestWrongHintFallsBackToFlood: a hint through a neighbour that does
// not lead to the target costs the directed wait; the flood finds it.
func TestWrongHintFallsBackToFlood(t *testing.T) {
	sn := simnet.New(3, simnet.Custom([][2]int{{0, 1}, {0, 2}}), simnet.Options{Seed: 3})
	nodes := startNodes(t, sn, func(i int, c *Config) { c.MinDirectedWait = 20 * time.Millisecond }, nil)
	l := echo(t, nodes[2])
	target := l.addr
	require.True(t, nodes[0].r.Hint(target, linkTo(t, nodes[0], nodes[1])))
	s, err := dial(t, nodes[0], target, 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "flooded")
	require.EqualValues(t, 1, nodes[0].r.Stats().DirectedTimeouts)
}
