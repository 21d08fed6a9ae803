//go:build sim

package foxtrot

// Simulations of many nodes in one process, not run in CI:
//
//	go test -tags sim -run TestScale -v -timeout 30m .
//	FOXTROT_SIM_SIZES=100,1000 go test -tags sim -run TestScale -v .

import (
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// TestScale measures connection setup in random networks of growing
// size: the control messages (requests, acks, refusals sent by every node)
// and the time a connect costs, for a first contact and for repeats.
func TestScale(t *testing.T) {
	sizes := []int{100, 200, 1000}
	if s := os.Getenv("FOXTROT_SIM_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			sizes = append(sizes, n)
		}
	}
	var rows []string
	for _, n := range sizes {
		rows = append(rows, scaleRun(t, n))
	}
	t.Log("\n" + strings.Join(append([]string{
		"| nodes | links | hops | first: messages | first: time | repeat: messages (median) | repeat: time (median) | repeat/first messages | other dialler, first |",
		"|---|---|---|---|---|---|---|---|---|",
	}, rows...), "\n"))
}

func scaleRun(t *testing.T, n int) string {
	sn := simnet.New(n, simnet.Random(4), simnet.Options{Seed: int64(n)})
	start := time.Now()
	nodes := startNet(t, sn, func(_ int, c *Config) { c.HopLimit = 12 })
	t.Logf("%d nodes, %d links up in %v", n, len(sn.Edges), time.Since(start).Round(time.Millisecond))

	// A target a typical distance away.
	rng := rand.New(rand.NewSource(1))
	target := rng.Intn(n)
	for sn.Distance(0, target) < 4 {
		target = rng.Intn(n)
	}
	l := echoListener(t, nodes[target])
	total := func() int64 {
		var m int64
		for _, nd := range nodes {
			m += nd.router.Stats().ControlMessages()
		}
		return m
	}
	connect := func(from int) (int64, time.Duration) {
		before := total()
		begin := time.Now()
		c := dialT(t, nodes[from], l.Addr())
		took := time.Since(begin)
		c.Close()
		// Count the other answers and the flood's last copies too.
		waitSettled(t, nodes)
		return total() - before, took
	}
	firstMsgs, firstTime := connect(0)
	var repMsgs []int64
	var repTimes []time.Duration
	for i := 0; i < 5; i++ {
		m, d := connect(0)
		repMsgs = append(repMsgs, m)
		repTimes = append(repTimes, d)
	}
	slices.Sort(repMsgs)
	slices.Sort(repTimes)
	// A different dialler far from 0 connects to the same target for the
	// first time: relays near the target already know it.
	other := sn.Farthest(0)
	otherMsgs, _ := connect(other)
	return fmt.Sprintf("| %d | %d | %d | %d | %v | %d | %v | %.1f%% | %d |",
		n, len(sn.Edges), sn.Distance(0, target), firstMsgs, firstTime.Round(10*time.Microsecond),
		repMsgs[2], repTimes[2].Round(10*time.Microsecond), 100*float64(repMsgs[2])/float64(firstMsgs), otherMsgs)
}
