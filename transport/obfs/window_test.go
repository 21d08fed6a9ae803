package obfs

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// refWindow is the obvious replay window: every number ever accepted, and
// the newest.
type refWindow struct {
	top  uint64
	seen map[uint64]bool
}

func (r *refWindow) accept(seq uint64) bool {
	if len(r.seen) > 0 && seq < r.top && r.top-seq >= windowBits {
		return false
	}
	if r.seen[seq] {
		return false
	}
	if len(r.seen) == 0 || seq > r.top {
		r.top = seq
	}
	r.seen[seq] = true
	return true
}

func TestWindowAgreesWithTheObviousOne(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var w window
		ref := refWindow{seen: map[uint64]bool{}}
		base := rng.Uint64() >> 1
		cur := base
		for i := range 20000 {
			var seq uint64
			switch rng.IntN(6) {
			case 0: // a jump ahead, sometimes past the whole window
				cur += uint64(rng.IntN(3 * windowBits))
				seq = cur
			case 1, 2: // in order
				cur++
				seq = cur
			default: // late or repeated, near or beyond the window's edge
				seq = cur - uint64(rng.IntN(windowBits+64))
			}
			require.Equal(t, ref.accept(seq), w.accept(seq), "seed %d step %d seq %d (top %d)", seed, i, seq-base, ref.top-base)
		}
	}
}

func TestWindowRefusesARepeatAndTheFarPast(t *testing.T) {
	var w window
	require.True(t, w.accept(5000))
	require.False(t, w.accept(5000))
	require.True(t, w.accept(4000), "late but within the window")
	require.False(t, w.accept(4000))
	require.False(t, w.accept(5000-windowBits), "just beyond the window")
	require.True(t, w.accept(5000-windowBits+1))
	require.True(t, w.accept(1<<40), "a new epoch")
	require.False(t, w.accept(5001), "the old epoch is gone")
}
