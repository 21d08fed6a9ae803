package session

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChunkQueueMatchesASlice compares the chunk queue with the obvious
// reference, a byte slice, under random appends, reads and drops.
func TestChunkQueueMatchesASlice(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var q chunkQueue
	var ref []byte
	const limit = 5*chunkSize + 123
	next := byte(0)
	for step := 0; step < 20000; step++ {
		switch rng.Intn(3) {
		case 0:
			p := make([]byte, rng.Intn(3*chunkSize))
			for i := range p {
				p[i] = next
				next++
			}
			n := q.append(p, limit)
			want := min(len(p), limit-len(ref))
			require.Equal(t, want, n)
			ref = append(ref, p[:n]...)
		case 1:
			if len(ref) == 0 {
				continue
			}
			off := rng.Intn(len(ref))
			s := q.slice(off, 1+rng.Intn(2*chunkSize))
			require.NotEmpty(t, s)
			require.True(t, bytes.Equal(ref[off:off+len(s)], s), "step %d", step)
		case 2:
			n := rng.Intn(len(ref) + 1)
			q.drop(n)
			ref = ref[n:]
		}
		require.Equal(t, len(ref), q.size)
	}
	q.drop(q.size)
	require.Nil(t, q.chunks, "an empty queue holds no chunk")
}

func TestSliceStopsAtChunkBoundaries(t *testing.T) {
	var q chunkQueue
	q.append(make([]byte, 3*chunkSize), 1<<30)
	require.Len(t, q.slice(10, 1<<20), chunkSize-10)
	require.Len(t, q.slice(chunkSize, 1<<20), chunkSize)
	q.reset()
	require.Zero(t, q.size)
}
