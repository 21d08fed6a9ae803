package foxtrot

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/dht"
)

// TestChooseKeptSpreadsAcrossTheIDSpace: the keeper's choice covers the
// buckets no link covers first, farthest first, then doubles up; it skips
// linked, resting and own contacts and prefers the most recently seen.
func TestChooseKeptSpreadsAcrossTheIDSpace(t *testing.T) {
	var self dht.ID
	self[0] = 0x5a
	t0 := time.Unix(1_700_000_000, 0)
	in := func(b int, seen time.Duration) dht.Contact {
		return dht.Contact{ID: dht.RandomInBucket(self, b), Seen: t0.Add(seen)}
	}
	b0old, b0new, b0linked := in(0, 1), in(0, 5), in(0, 0)
	b1a, b1resting := in(1, 0), in(1, 9)
	b2, b5 := in(2, 0), in(5, 0)
	contacts := []dht.Contact{b0old, b0new, b0linked, b1a, b1resting, b2, b5, {ID: self}}
	linked := map[dht.ID]bool{b0linked.ID: true}
	resting := func(id dht.ID) bool { return id == b1resting.ID }
	ids := func(cs []dht.Contact) []dht.ID {
		var out []dht.ID
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}

	got := chooseKept(self, contacts, linked, resting, 4)
	require.Equal(t, ids([]dht.Contact{b1a, b2, b5, b0new}), ids(got),
		"the uncovered buckets first (farthest first), then bucket 0's most recently seen")
	require.Len(t, chooseKept(self, contacts, linked, resting, 10), 5, "every candidate, no more")
	require.Empty(t, chooseKept(self, contacts, linked, resting, 0))
	require.Empty(t, chooseKept(self, nil, nil, resting, 3))
}
