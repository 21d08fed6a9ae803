//go:build sim

package dht

import (
	"context"
	"fmt"
	mrand "math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// simSizes returns the sizes in DHT_SIM_SIZES, or def.
func simSizes(t *testing.T, def ...int) []int {
	s := os.Getenv("DHT_SIM_SIZES")
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// TestDHTScale runs the first-contact experiment (runScale, scale_test.go)
// on the simulated network at the sizes in DHT_SIM_SIZES (default
// 1000,5000,10000): every node joins from the first 3, every node
// publishes a listener record, 200 random (dialler, listener) pairs look
// each other up, then 200 other pairs after 20% of the rest died. Messages
// take 50 ms one way on virtual time; RPCs time out after 2 s (the
// default). DHT_SIM_WIRE=1 encodes and decodes every message. Run:
//
//	DHT_SIM_SIZES=1000,5000,10000 go test -tags sim -run TestDHTScale -v -timeout 60m ./dht
func TestDHTScale(t *testing.T) {
	var rows []string
	for _, n := range simSizes(t, 1000, 5000, 10000) {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := runScale(t, scaleConfig{N: n, Boot: 3, Pairs: 200, Kill: 0.2, Latency: 50 * time.Millisecond,
					Wire: os.Getenv("DHT_SIM_WIRE") == "1", Seed: int64(n)})
				logScale(t, r)
				rows = append(rows, r.row())
				require.GreaterOrEqual(t, r.Before.Found, 198, "first contacts found, of 200")
				require.GreaterOrEqual(t, r.AfterKills.Found, 198, "first contacts found after kills, of 200")
				require.LessOrEqual(t, pct(r.Before.Hops, 50), 4, "hops p50")
			})
		})
	}
	t.Log("\n" + scaleHeader + "\n" + strings.Join(rows, "\n"))
}

// TestMaintenanceAtRestScale measures a quiet network's maintenance
// traffic (restCost, scale_test.go) at the sizes in DHT_SIM_REST (default
// 1000):
//
//	DHT_SIM_REST=1000,5000 go test -tags sim -run TestMaintenanceAtRestScale -v -timeout 60m ./dht
func TestMaintenanceAtRestScale(t *testing.T) {
	sizes := []int{1000}
	if s := os.Getenv("DHT_SIM_REST"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(t, err)
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				msgs, pairs, minutes := restCost(t, n)
				_, perLink := logRest(t, n, msgs, pairs, minutes)
				require.Less(t, perLink, 1.0, "messages per link per minute")
			})
		})
	}
}

// TestLookupScale measures Get lookups over peer links (Noise and yamux
// on simnet's mem transport) between random pairs in networks of the
// sizes in DHT_SIM_SIZES (default "100,500"): hops and RPCs per
// lookup, after every node bootstrapped from its simnet links and
// refreshed its buckets. Run: go test -tags sim -run TestLookupScale -v.
func TestLookupScale(t *testing.T) {
	for _, n := range simSizes(t, 100, 500) {
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
