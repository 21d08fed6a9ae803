//go:build sim

package dht

import (
	"context"
	mrand "math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLookupScale measures Get lookups between random pairs in networks
// of the sizes in DHT_SIM_SIZES (default "100,500"): hops and RPCs per
// lookup, after every node bootstrapped from its simnet links and
// refreshed its buckets. Run: go test -tags sim -run TestLookupScale -v.
func TestLookupScale(t *testing.T) {
	sizes := []int{100, 500}
	if s := os.Getenv("DHT_SIM_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		t0 := time.Now()
		nodes := buildNet(t, n, 3, int64(n), Config{MaxLinks: 64})
		built := time.Since(t0)
		var contacts, sent, lookups, timeouts int64
		for _, nd := range nodes {
			s := nd.dht.Stats()
			contacts += int64(s.Contacts)
			sent += s.Sent
			lookups += s.Lookups
			timeouts += s.Timeouts
		}
		hops, msgs := lookupFigures(t, nodes, 50, 5)
		t.Logf("N=%d: built in %v (%d lookups, %d RPCs, %d timeouts, %.1f contacts/node); Get of a record another node put, 50 pairs: hops p50 %d p90 %d max %d mean %.2f; RPCs p50 %d p90 %d max %d mean %.1f",
			n, built.Round(time.Second), lookups, sent, timeouts, float64(contacts)/float64(n),
			hops[len(hops)/2], hops[len(hops)*9/10], hops[len(hops)-1], mean(hops),
			msgs[len(msgs)/2], msgs[len(msgs)*9/10], msgs[len(msgs)-1], mean(msgs))
		// Full FIND_NODE lookups of random targets (no early return).
		rng := mrand.New(mrand.NewSource(int64(n)))
		var fh, fm []int
		for range 20 {
			var target ID
			rng.Read(target[:])
			_, st, err := nodes[rng.Intn(n)].dht.FindNode(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			fh, fm = append(fh, st.Hops), append(fm, st.Messages)
		}
		sort.Ints(fh)
		sort.Ints(fm)
		t.Logf("N=%d: FIND_NODE of 20 random targets: hops p50 %d max %d mean %.2f; RPCs p50 %d max %d mean %.1f",
			n, fh[len(fh)/2], fh[len(fh)-1], mean(fh), fm[len(fm)/2], fm[len(fm)-1], mean(fm))
		for _, nd := range nodes {
			nd.dht.Close()
			nd.set.Close()
		}
	}
}
