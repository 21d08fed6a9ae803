package route

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// TestDialWithinKeepsTheFloodNear: on a line of five nodes, a dial whose
// requests have hop limit 2 (forwarded twice, so seen 3 links away at
// most) does not reach a listener 4 links away (its node never sees the
// request) and ends with its context; the same target by Dial, with the
// node's hop limit, answers.
func TestDialWithinKeepsTheFloodNear(t *testing.T) {
	sn := simnet.New(5, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[4])
	target := l.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := nodes[0].r.DialWithin(ctx, nil, target, 2)
	require.ErrorIs(t, err, context.DeadlineExceeded, "nobody within 2 hops listens")
	require.Positive(t, nodes[3].r.Stats().RequestsSeen, "seen 3 links away, not forwarded")
	require.Zero(t, nodes[4].r.Stats().RequestsSeen, "never 4 links away")

	s, err := dial(t, nodes[0], target, 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "near enough")
}
