package bufpool

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetReturnsRequestedLength(t *testing.T) {
	for _, n := range []int{0, 1, 2048, 2049, 70000, 288 << 10, 1 << 20} {
		b := Get(n)
		require.Len(t, *b, n)
		Put(b)
	}
	Put(nil)
}

func TestPutRecyclesPooledClasses(t *testing.T) {
	b := Get(100)
	(*b)[0] = 7
	Put(b)
	allocs := testing.AllocsPerRun(100, func() { Put(Get(60 << 10)) })
	require.Less(t, allocs, 1.0)
}
