package budget

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const streams Kind = "stream"

func TestPerKeyLimitNamesItself(t *testing.T) {
	b := New(map[Kind]Limit{streams: {Total: 10, PerKey: 2, Scope: "per-peer"}})
	r1, err := b.Reserve(streams, "a")
	require.NoError(t, err)
	_, err = b.Reserve(streams, "a")
	require.NoError(t, err)
	_, err = b.Reserve(streams, "a")
	require.ErrorIs(t, err, ErrLimit)
	require.EqualError(t, err, "budget: per-peer stream limit (2) reached")
	var le *LimitError
	require.True(t, errors.As(err, &le))
	require.Equal(t, 2, le.Limit)
	// Another key is unaffected.
	_, err = b.Reserve(streams, "b")
	require.NoError(t, err)
	// Releasing gives the unit back, once only.
	r1()
	r1()
	require.Equal(t, 1, b.InUseBy(streams, "a"))
	_, err = b.Reserve(streams, "a")
	require.NoError(t, err)
	require.Equal(t, uint64(1), b.Refused(streams))
}

func TestSystemLimit(t *testing.T) {
	b := New(map[Kind]Limit{streams: {Total: 3}})
	var rel []func()
	for i := 0; i < 3; i++ {
		r, err := b.Reserve(streams, fmt.Sprint(i))
		require.NoError(t, err)
		rel = append(rel, r)
	}
	require.True(t, b.Scarce(streams))
	_, err := b.Reserve(streams, "x")
	require.EqualError(t, err, "budget: system-wide stream limit (3) reached")
	for _, r := range rel {
		r()
	}
	u := b.Usage(streams)
	require.Equal(t, 0, u.InUse)
	require.Equal(t, 0, u.Keys, "keys holding nothing are forgotten")
	require.False(t, b.Scarce(streams))
}

func TestReserveN(t *testing.T) {
	b := New(map[Kind]Limit{"byte": {Total: 100, PerKey: 60, Scope: "per-circuit"}})
	r, err := b.ReserveN("byte", "c", 50)
	require.NoError(t, err)
	_, err = b.ReserveN("byte", "c", 11)
	require.EqualError(t, err, "budget: per-circuit byte limit (60) reached")
	_, err = b.ReserveN("byte", "d", 51)
	require.EqualError(t, err, "budget: system-wide byte limit (100) reached")
	r()
	_, err = b.ReserveN("byte", "d", 60)
	require.NoError(t, err)
}

func TestUnknownKindIsUnboundedAndNilGrantsAll(t *testing.T) {
	b := New(nil)
	for i := 0; i < 1000; i++ {
		_, err := b.Reserve("thing", "k")
		require.NoError(t, err)
	}
	require.Equal(t, 1000, b.Usage("thing").InUse)
	var nb *Budget
	r, err := nb.Reserve(streams, "k")
	require.NoError(t, err)
	r()
	nb.Refuse(streams)
	require.Zero(t, nb.Refused(streams))
	b.Refuse("thing")
	require.Equal(t, uint64(1), b.Refused("thing"))
}

// TestConcurrentNeverExceeds races many reservers against one limit and
// checks against a slow reference: the count held never passes the limit.
func TestConcurrentNeverExceeds(t *testing.T) {
	b := New(map[Kind]Limit{streams: {Total: 50, PerKey: 7}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	held, maxHeld := map[string]int{}, 0
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			key := fmt.Sprint(g % 4)
			for i := 0; i < 500; i++ {
				r, err := b.Reserve(streams, key)
				if err != nil {
					continue
				}
				mu.Lock()
				held[key]++
				total := 0
				for _, v := range held {
					total += v
				}
				if total > maxHeld {
					maxHeld = total
				}
				assert.LessOrEqual(t, held[key], 7)
				held[key]--
				mu.Unlock()
				r()
			}
		}(g)
	}
	wg.Wait()
	require.LessOrEqual(t, maxHeld, 28) // 4 keys x 7
	require.Equal(t, 0, b.Usage(streams).InUse)
}
