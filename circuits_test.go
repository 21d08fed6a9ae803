package foxtrot_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// A relay lists the circuits it carries: one row per circuit, with its
// two neighbours and the bytes each way, and a bounded list keeps the
// total.
func TestARelayListsTheCircuitsItCarries(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{Logs: true})
	relay := fn.Nodes[1]
	l := foxtrottest.Echo(t, fn.Nodes[2])
	sizes := []int{1000, 5000}
	var conns []*foxtrot.Conn
	for _, n := range sizes {
		c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
		t.Cleanup(func() { c.Close() })
		_, err := c.Write(make([]byte, n))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, n))
		require.NoError(t, err)
		conns = append(conns, c)
	}
	// Both circuits carried their bytes both ways (plus the records'
	// framing); a chunk is counted just after it is written.
	require.Eventually(t, func() bool {
		cs, _ := relay.Circuits(0)
		return len(cs) == 2 && cs[0].Received >= int64(sizes[0]) && cs[1].Received >= int64(sizes[1])
	}, 10*time.Second, time.Millisecond)
	cs, total := relay.Circuits(0)
	require.Equal(t, 2, total)
	require.NotEqual(t, cs[0].ID, cs[1].ID, "one row per circuit")
	for i, c := range cs {
		require.Equal(t, fn.Identity(0), c.From, "toward the dialler")
		require.Equal(t, fn.Identity(2), c.To, "toward the target")
		require.GreaterOrEqual(t, c.Sent, int64(sizes[i]))
		require.Less(t, c.Sent, int64(sizes[i]+4096), "its own bytes, not the other circuit's")
		require.Positive(t, c.Age)
		require.False(t, c.Billed, "billing is off")
		require.Zero(t, c.Price)
	}
	require.GreaterOrEqual(t, cs[0].Age, cs[1].Age, "oldest first")

	one, total := relay.Circuits(1)
	require.Len(t, one, 1)
	require.Equal(t, 2, total)
	require.Equal(t, cs[0].ID, one[0].ID)

	ends, _ := fn.Nodes[0].Circuits(0)
	require.Empty(t, ends, "a connection's end relays nothing")

	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { cs, total := relay.Circuits(0); return len(cs) == 0 && total == 0 },
		10*time.Second, time.Millisecond, "closed connections' circuits end")
}
