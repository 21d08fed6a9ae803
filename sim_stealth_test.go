//go:build sim

package foxtrot

// The cost of finding a stealth listener in a large network, with and
// without scan-key adverts (not run in CI):
//
//	go test -tags sim -run TestStealthAdvertScale -v -timeout 30m .
//	FOXTROT_SIM_STEALTH=200,20 go test -tags sim -run TestStealthAdvertScale -v .  (nodes, diallers)

import (
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// TestStealthAdvertScale runs, in one 1,000-node random network (degree
// 4), first contacts from random diallers to a stealth listener twice:
// once to a listener that does not advertise (every request floods: a
// stealth request names a target nobody has learned), once to one that
// does (the requests follow the advertised routes). It counts the control
// messages of each: connect requests sent and forwarded, acks and
// refusals, and, for the second, every advert sent, summed over all
// nodes. The adverts are a one-off cost (until they expire), spread over
// the diallers; the test says how many diallers it takes to repay them.
func TestStealthAdvertScale(t *testing.T) {
	n, diallers := 1000, 50
	if s := os.Getenv("FOXTROT_SIM_STEALTH"); s != "" {
		f := strings.Split(s, ",")
		var err error
		n, err = strconv.Atoi(f[0])
		require.NoError(t, err)
		if len(f) > 1 {
			diallers, err = strconv.Atoi(f[1])
			require.NoError(t, err)
		}
	}
	sn := simnet.New(n, simnet.Random(4), simnet.Options{Seed: int64(n)})
	start := time.Now()
	// The radius covers the network, so every dialler hears the advert;
	// a dialler beyond the radius would flood as without adverts.
	nodes := startNet(t, sn, func(_ int, c *Config) { c.HopLimit = 16; c.AdvertRadius = 16 })
	t.Logf("%d nodes, %d links up in %v", n, len(sn.Edges), time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewSource(7))
	target := rng.Intn(n)
	from := make([]int, diallers)
	var dist int
	for i := range from {
		for from[i] = rng.Intn(n); from[i] == target; from[i] = rng.Intn(n) {
		}
		dist += sn.Distance(from[i], target)
	}
	requests := func() (req, ack, adv int64) {
		for _, nd := range nodes {
			s := nd.router.Stats()
			req += s.RequestsSent + s.RequestsForwarded
			ack += s.AcksSent + s.AcksRelayed
			adv += nd.router.AdvertStats().Sent
		}
		return req, ack, adv
	}
	advertsSettled := func() bool {
		var sent, got int64
		for _, nd := range nodes {
			a := nd.router.AdvertStats()
			if a.Pending > 0 {
				return false
			}
			sent += a.Sent
			got += a.Received
		}
		return sent == got
	}
	round := func(advertise bool) (req, ack, adv int64, directed int) {
		keys := newStealthKeys(t)
		r0, a0, v0 := requests()
		l, err := nodes[target].ListenStealthWith(keys, StealthOptions{Advertise: advertise})
		require.NoError(t, err)
		defer l.Close()
		go serveEcho(l)
		if advertise {
			require.Eventually(t, func() bool {
				return advertsSettled() && nodes[from[0]].router.AdvertStats().Known > 0
			}, time.Minute, 10*time.Millisecond)
		}
		for _, i := range from {
			timeouts := nodes[i].router.Stats().DirectedTimeouts
			c := dialT(t, nodes[i], l.Addr())
			c.Close()
			waitSettled(t, nodes)
			if advertise && nodes[i].router.Stats().DirectedTimeouts == timeouts {
				directed++
			}
		}
		r1, a1, v1 := requests()
		return r1 - r0, a1 - a0, v1 - v0, directed
	}
	fReq, fAck, _, _ := round(false)
	aReq, aAck, aAdv, directed := round(true)
	flood := fReq + fAck
	withAdverts := aReq + aAck + aAdv
	perFlood := float64(flood) / float64(diallers)
	perDirected := float64(aReq+aAck) / float64(diallers)
	t.Logf("%d nodes, %d links, %d diallers (mean distance %.1f hops) to one stealth listener", n, len(sn.Edges), diallers,
		float64(dist)/float64(diallers))
	t.Logf("flood (no adverts): %d requests + %d acks = %d control messages, %.0f per first contact", fReq, fAck, flood, perFlood)
	t.Logf("adverts: %d adverts once + %d requests + %d acks = %d control messages (%.1f%% of the flood's); %.1f per first contact without the adverts (%.2f%%), %d of %d dials directed",
		aAdv, aReq, aAck, withAdverts, 100*float64(withAdverts)/float64(flood), perDirected, 100*perDirected/perFlood, directed, diallers)
	t.Logf("the adverts cost as much as %.1f flooded first contacts", float64(aAdv)/(perFlood-perDirected))
	require.Equal(t, diallers, directed, "every dialler heard the advert and found the listener without a flood")
	require.LessOrEqual(t, 20*withAdverts, flood, "adverts and directed first contacts cost at most 5%% of the flood")
}
