package route

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// startAdvertNodes is startNodes with the advert protocol registered on
// every node, as foxtrot.Node registers it.
func startAdvertNodes(t testing.TB, sn *simnet.Net, mod func(i int, c *Config), wrap func(i int, r *Router) peer.Handler) []*node {
	nodes := startNodes(t, sn, mod, wrap)
	for _, n := range nodes {
		require.NoError(t, n.set.Register(n.r.AdvertProtocol()))
	}
	return nodes
}

// knowsAdvert reports whether n has a route toward fp's advertisers.
func knowsAdvert(n *node, fp stealth.Fingerprint) bool {
	n.r.mu.Lock()
	defer n.r.mu.Unlock()
	return len(n.r.routes.best(advertRouteKey(fp), 1, nil, n.r.now())) > 0
}

func TestAdvertsTravelTheRadiusAndDirectRequests(t *testing.T) {
	// A line of 10: the listener at 9 advertises; the radius is 4 links.
	sn := simnet.New(10, simnet.Line, simnet.Options{})
	var seen [10]*capture
	// A directed request waits 10 s before it floods: on a loaded machine
	// under -race its answer can take longer than the default 150 ms, and
	// a flood must mean the adverts failed, not the scheduler.
	slow := func(_ int, c *Config) { c.MinDirectedWait = 10 * time.Second }
	nodes := startAdvertNodes(t, sn, slow, func(i int, r *Router) peer.Handler {
		seen[i] = &capture{Router: r}
		return seen[i]
	})
	keys := newStealthKeys(t)
	fp := keys.Address().Fingerprint()
	stealthEcho(t, nodes[9], keys, StealthOptions{Advertise: true})
	require.Eventually(t, func() bool { return knowsAdvert(nodes[5], fp) }, 10*time.Second, time.Millisecond)
	// Nodes 5 to 8 (1 to 4 links away) learned it, with the right
	// distance; node 4, five links away, did not: 5 passed nothing on
	// (checked at the end, when any advert 5 sent would have arrived).
	for i := 5; i <= 8; i++ {
		require.True(t, knowsAdvert(nodes[i], fp), "node %d", i)
		nodes[i].r.mu.Lock()
		c := nodes[i].r.routes.best(advertRouteKey(fp), 1, nil, nodes[i].r.now())[0]
		nodes[i].r.mu.Unlock()
		require.Equal(t, 9-i, c.hops, "node %d", i)
	}

	// A dialler inside the radius names the fingerprint and its request
	// goes straight along the advertised routes: no flood.
	s, err := dialStealth(nodes[6], keys.Address(), 10*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "directed")
	s.Close()
	require.Zero(t, nodes[6].r.Stats().DirectedTimeouts)
	reqs := seen[7].requests()
	require.Len(t, reqs, 1)
	require.Equal(t, TargetStealthAdvert, reqs[0].Kind)
	require.True(t, bytes.HasPrefix(reqs[0].Nonce[:], fp[:]))
	require.Empty(t, seen[5].requests(), "the request went toward the advertiser only")

	// A dialler outside it knows nothing, names nothing, and floods.
	s, err = dialStealth(nodes[0], keys.Address(), 10*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "flooded")
	s.Close()
	reqs = seen[1].requests()
	require.Len(t, reqs, 1)
	require.Equal(t, TargetStealth, reqs[0].Kind)

	require.Zero(t, nodes[5].r.AdvertStats().Sent)
	for i := 0; i <= 4; i++ {
		require.False(t, knowsAdvert(nodes[i], fp), "node %d", i)
		st := nodes[i].r.AdvertStats()
		require.Zero(t, st.Known, "node %d", i)
		require.Zero(t, st.Received, "node %d", i)
	}
}

func TestAdvertTablesAreBoundedPerPeer(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startAdvertNodes(t, sn, func(i int, c *Config) {
		c.MaxAdvertsPerPeer = 5
		c.MaxAdverts = 8
	}, nil)
	// Node 0 sends node 1 twenty fingerprints, bypassing its own budget:
	// node 1 keeps five of them, and room for node 2's.
	l := linkTo(t, nodes[0], nodes[1])
	for i := range 20 {
		require.NoError(t, l.Send(&Advert{Fingerprint: stealth.Fingerprint{byte(i), 1}}))
	}
	require.Eventually(t, func() bool { return nodes[1].r.AdvertStats().Received == 20 }, 10*time.Second, time.Millisecond)
	st := nodes[1].r.AdvertStats()
	require.Equal(t, 5, st.Known)
	require.EqualValues(t, 15, st.Dropped)
	l2 := linkTo(t, nodes[2], nodes[1])
	for i := range 5 {
		require.NoError(t, l2.Send(&Advert{Fingerprint: stealth.Fingerprint{byte(i), 2}}))
	}
	require.Eventually(t, func() bool { return nodes[1].r.AdvertStats().Received == 25 }, 10*time.Second, time.Millisecond)
	require.Equal(t, 8, nodes[1].r.AdvertStats().Known, "the total bound holds too")
}

func TestAdvertsKeepToTheLinkBudget(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	nodes := startAdvertNodes(t, sn, func(i int, c *Config) {
		c.AdvertRate = 1 // a byte a second: no refill during the test
		c.AdvertBurst = 2 * advertFrameSize
	}, nil)
	for range 5 {
		_, _, err := nodes[0].r.ListenStealth(newStealthKeys(t), StealthOptions{Advertise: true})
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return nodes[1].r.AdvertStats().Received == 2 }, 10*time.Second, time.Millisecond)
	st := nodes[0].r.AdvertStats()
	require.EqualValues(t, 2, st.Sent)
	require.EqualValues(t, 3, st.Limited)
}

func TestAdvertsExpire(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	mu := &syncClock{t: time.Now()}
	nodes := startAdvertNodes(t, sn, func(i int, c *Config) { c.Now = mu.now }, nil)
	keys := newStealthKeys(t)
	l, _, err := nodes[0].r.ListenStealth(keys, StealthOptions{Advertise: true})
	require.NoError(t, err)
	fp := keys.Address().Fingerprint()
	require.Eventually(t, func() bool { return knowsAdvert(nodes[1], fp) }, 10*time.Second, time.Millisecond)
	l.Close()
	// The listener is gone: no more adverts; three intervals later node 1
	// forgets the fingerprint and its route.
	nodes[0].r.advertTick(mu.add(time.Second))
	nodes[1].r.advertTick(mu.add(91 * time.Second))
	require.False(t, knowsAdvert(nodes[1], fp))
	require.Zero(t, nodes[1].r.AdvertStats().Known)
}

func FuzzDecodeAdvert(f *testing.F) {
	f.Add((&Advert{Fingerprint: stealth.Fingerprint{1, 2, 3}, Hops: 3, Latency: 12, Price: 7}).AppendBody(nil))
	f.Add([]byte{})
	f.Add(make([]byte, AdvertSize+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeAdvert(body)
		if err != nil {
			require.ErrorIs(t, err, ErrBadAdvert)
			return
		}
		// One encoding per advert.
		require.Equal(t, body, m.(*Advert).AppendBody(nil))
		require.Less(t, int(m.(*Advert).Hops), wire.MaxHops)
	})
}

// syncClock is a settable clock for the routers of a test.
type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *syncClock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func TestAdvertPricesSaturate(t *testing.T) {
	require.Equal(t, ^uint64(0), addPrice(^uint64(0)-1, 5))
	require.Equal(t, uint64(7), addPrice(3, 4))
}
