package relay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/relay"
)

func circuitKey(i int) relay.Key { return relay.Key{ID: addr.ConnID{byte(i), byte(i >> 8)}, Path: 1} }

func TestCircuitBudgetsRefuseNamingTheLimitAndComeBackWhenCircuitsGo(t *testing.T) {
	const cost = 1000
	for _, tc := range []struct {
		name  string
		cfg   relay.Config
		limit string
		fits  int // circuits from one peer that fit
	}{
		{"per peer", relay.Config{MaxPerLink: 3}, "MaxCircuitsPerPeer", 3},
		{"system", relay.Config{MaxCircuits: 4}, "MaxCircuits", 4},
		{"memory per peer", relay.Config{MemoryPerLink: 2*cost + cost/2}, "CircuitMemoryPerPeer", 2},
		{"memory", relay.Config{Memory: 5 * cost}, "CircuitMemory", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Cost = cost
			tab := relay.New(cfg)
			defer tab.Close()
			greedy, other, down := newLink(1), newLink(2), newLink(3)
			for i := 0; i < tc.fits; i++ {
				require.NoError(t, tab.Add(circuitKey(i), relay.Circuit{Up: greedy, Down: down, Expires: time.Unix(1000, 0)}))
			}
			err := tab.Add(circuitKey(100), relay.Circuit{Up: greedy, Down: down, Expires: time.Unix(2000, 0)})
			require.ErrorIs(t, err, relay.ErrOverBudget)
			require.ErrorContains(t, err, tc.limit, "the error names the limit")
			st := tab.Stats()
			require.EqualValues(t, 1, st.OverBudget)
			require.EqualValues(t, tc.fits*cost, st.Reserved)

			// Expired circuits give their budget back.
			tab.Expire(time.Unix(1001, 0))
			require.Zero(t, tab.Stats().Reserved)
			require.NoError(t, tab.Add(circuitKey(100), relay.Circuit{Up: greedy, Down: other, Expires: time.Unix(2000, 0)}))
			// So do circuits dropped when their downstream goes.
			tab.LinkDown(other)
			require.Zero(t, tab.Stats().Reserved)
			require.Zero(t, tab.Stats().Circuits)
		})
	}
}

func TestOnePeerAtItsCircuitLimitLeavesRoomForOthers(t *testing.T) {
	tab := relay.New(relay.Config{MaxPerLink: 2, MaxCircuits: 10, Cost: relay.CircuitCost(256 << 10)})
	defer tab.Close()
	greedy, honest, down := newLink(1), newLink(2), newLink(3)
	require.NoError(t, tab.Add(circuitKey(1), relay.Circuit{Up: greedy, Down: down}))
	require.NoError(t, tab.Add(circuitKey(2), relay.Circuit{Up: greedy, Down: newLink(4)}))
	require.ErrorIs(t, tab.Add(circuitKey(3), relay.Circuit{Up: greedy, Down: newLink(5)}), relay.ErrOverBudget)
	require.NoError(t, tab.Add(circuitKey(4), relay.Circuit{Up: honest, Down: newLink(6)}), "another peer is not refused")
	// down carries one of greedy's circuits and may carry one more.
	require.NoError(t, tab.Add(circuitKey(5), relay.Circuit{Up: honest, Down: down}))
	require.ErrorIs(t, tab.Add(circuitKey(6), relay.Circuit{Up: newLink(7), Down: down}), relay.ErrOverBudget,
		"a circuit counts against the peer it goes to as well")
	require.EqualValues(t, 4*relay.CircuitCost(256<<10), tab.Stats().Reserved)
}

func TestAnEndedCircuitGivesItsBudgetBack(t *testing.T) {
	h := newHarness(t, nil)
	require.EqualValues(t, 1, h.t.Stats().Circuits)
	client, handled := h.start(h.up)
	far := <-h.down.opened
	<-h.stops
	require.NoError(t, client.CloseWrite())
	require.NoError(t, far.s.CloseWrite())
	require.True(t, <-handled)
	<-h.done
	require.Zero(t, h.t.Stats().Circuits)
	require.Zero(t, h.t.Stats().Reserved)
}
