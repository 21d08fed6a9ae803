package relay_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/pipe"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/relay"
)

func circuitKey(i int) relay.Key { return relay.Key{ID: addr.ConnID{byte(i), byte(i >> 8)}, Path: 1} }

// activate hands tab the stream of circuit k from up and returns whether
// the circuit became active (its downstream opened on down) or was
// refused (the stream closed); end ends an active one.
func activate(t *testing.T, tab *relay.Table, up, down *pipeLink, k relay.Key) (active bool, end func()) {
	client, upEnd := pipe.New(pipe.Options{})
	handled := make(chan bool, 1)
	go func() {
		handled <- tab.Handle(up, upEnd, wire.StreamHeader{Kind: wire.StreamCircuit, ID: k.ID, Path: k.Path})
	}()
	select {
	case far := <-down.opened:
		return true, func() {
			client.Close()
			far.s.Close()
			<-handled
		}
	case ok := <-handled:
		require.True(t, ok, "the stream was taken")
		_, err := client.Read(make([]byte, 1))
		require.Error(t, err, "and closed")
		return false, nil
	}
}

func TestCircuitCountsRefuseNamingTheLimitAndComeBackWhenCircuitsGo(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   relay.Config
		limit string
		fits  int
	}{
		{"per peer", relay.Config{MaxPerLink: 3}, "MaxCircuitsPerPeer", 3},
		{"system", relay.Config{MaxCircuits: 4}, "MaxCircuits", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := relay.New(tc.cfg)
			defer tab.Close()
			greedy, other, down := newLink(1), newLink(2), newLink(3)
			for i := 0; i < tc.fits; i++ {
				require.NoError(t, tab.Add(circuitKey(i), relay.Circuit{Up: greedy, Down: down, Expires: time.Unix(1000, 0)}))
			}
			err := tab.Add(circuitKey(100), relay.Circuit{Up: greedy, Down: down, Expires: time.Unix(2000, 0)})
			require.ErrorIs(t, err, relay.ErrOverBudget)
			require.ErrorContains(t, err, tc.limit, "the error names the limit")
			require.EqualValues(t, 1, tab.Stats().OverBudget)
			// Expired circuits give their count back; so do circuits
			// dropped when their downstream goes.
			tab.Expire(time.Unix(1001, 0))
			require.NoError(t, tab.Add(circuitKey(100), relay.Circuit{Up: greedy, Down: other, Expires: time.Unix(2000, 0)}))
			tab.LinkDown(other)
			require.Zero(t, tab.Stats().Circuits)
			for i := 0; i < tc.fits; i++ {
				require.NoError(t, tab.Add(circuitKey(i), relay.Circuit{Up: greedy, Down: down}))
			}
		})
	}
}

func TestOnePeerAtItsCircuitLimitLeavesRoomForOthers(t *testing.T) {
	tab := relay.New(relay.Config{MaxPerLink: 2, MaxCircuits: 10})
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
}

func TestActiveCircuitsReserveMemoryWithinTheirBudgets(t *testing.T) {
	const cost = 1000
	for _, tc := range []struct {
		name  string
		cfg   relay.Config
		limit string
		fits  int
	}{
		{"per peer", relay.Config{MemoryPerLink: 2*cost + cost/2}, "CircuitMemoryPerPeer", 2},
		{"system", relay.Config{Memory: 3 * cost}, "CircuitMemory", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Cost = cost
			tab := relay.New(cfg)
			defer tab.Close()
			greedy, down := newLink(1), newLink(3)
			down.opened = make(chan opened, 16)
			for i := 0; i < tc.fits+2; i++ {
				require.NoError(t, tab.Add(circuitKey(i), relay.Circuit{Up: greedy, Down: down, Expires: time.Unix(1000, 0)}),
					"a circuit waiting for its stream reserves no memory")
			}
			require.Zero(t, tab.Stats().Reserved)
			var ends []func()
			for i := 0; i < tc.fits; i++ {
				active, end := activate(t, tab, greedy, down, circuitKey(i))
				require.True(t, active)
				ends = append(ends, end)
			}
			require.EqualValues(t, tc.fits*cost, tab.Stats().Reserved)
			active, _ := activate(t, tab, greedy, down, circuitKey(tc.fits))
			require.False(t, active, "its stream is refused: no memory left")
			require.EqualValues(t, 1, tab.Stats().OverBudget)
			err := tab.Add(circuitKey(100), relay.Circuit{Up: greedy, Down: down})
			require.ErrorIs(t, err, relay.ErrOverBudget, "and new circuits are refused at once")
			require.ErrorContains(t, err, tc.limit)

			// An ended circuit gives its memory back.
			ends[0]()
			require.Eventually(t, func() bool { return tab.Stats().Reserved == int64((tc.fits-1)*cost) }, 5*time.Second, time.Millisecond)
			active, end := activate(t, tab, greedy, down, circuitKey(tc.fits+1))
			require.True(t, active)
			ends = append(ends[1:], end)
			for _, end := range ends {
				end()
			}
			require.Eventually(t, func() bool { return tab.Stats().Reserved == 0 }, 5*time.Second, time.Millisecond)
		})
	}
}
