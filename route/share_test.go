package route

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/peer"
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// flood has the victim handle n unsigned requests for random addresses
// from l, as its control reader would (the rate limit included), with
// the given hop limit.
func flood(t testing.TB, victim *Router, l *peer.Link, n int, hops uint8) {
	base, _, err := newRequest([20]byte{}, hops, 0, 0, time.Now(), nil)
	require.NoError(t, err)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < n; i++ {
		req := *base
		binary.BigEndian.PutUint64(req.Target[:], rnd.Uint64())
		binary.BigEndian.PutUint64(req.Nonce[:], uint64(i))
		victim.handleRequest(l, &req)
	}
}

func TestOnePeerFloodingTheSeenTableLeavesEveryoneElsesRequestsFlowing(t *testing.T) {
	// 0 is an authenticated peer of the victim 1 that sends it 100,000
	// requests for random addresses; 2 dials through 1 to 3, and to a
	// listener of 1's own; 0 itself can still reach that listener. The
	// victim's rate limit is lifted, so only its table shares stand in
	// the way. The flood asks for no forwarding (hop limit 0), so it
	// fills the victim's table and no other node's.
	const maxSeen = 4096
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {2, 1}, {1, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		if i == 1 {
			c.RequestRate, c.RequestBurst, c.MaxSeen = 1e9, 1<<30, maxSeen
		}
	}, nil)
	victim := nodes[1].r
	far := echo(t, nodes[3])
	own := echo(t, nodes[1])

	before := time.Now()
	s, err := dial(t, nodes[2], far.Addr(), 5*time.Second)
	require.NoError(t, err)
	calm := time.Since(before)
	roundTrip(t, s, "before")
	s.Close()

	heap0, g0 := heapInUse(), runtime.NumGoroutine()
	flood(t, victim, linkTo(t, nodes[1], nodes[0]), 100_000, 0)
	st := victim.Stats()
	victim.mu.Lock()
	seen := len(victim.seen)
	victim.mu.Unlock()
	require.LessOrEqual(t, seen, maxSeen)
	require.Greater(t, st.RequestsOverShare, int64(90_000), "the flood is dropped once the peer has its share")

	for _, tc := range []struct {
		name   string
		from   *node
		target *Listener
	}{{"through the victim", nodes[2], far}, {"to the victim", nodes[2], own}, {"from the flooder to the victim", nodes[0], own}} {
		before := time.Now()
		s, err := dial(t, tc.from, tc.target.Addr(), 5*time.Second)
		require.NoError(t, err, tc.name)
		t.Logf("dial %s during the flood: %v (before it: %v)", tc.name, time.Since(before), calm)
		roundTrip(t, s, tc.name)
		s.Close()
	}
	heap1, g1 := heapInUse(), runtime.NumGoroutine()
	t.Logf("victim: %d seen entries, heap %+d KiB, goroutines %+d; %+v", seen, (int64(heap1)-int64(heap0))>>10, g1-g0, victim.Stats())
	// An entry costs a few hundred bytes: the table's budget is about
	// 2 MiB here. The bound is loose; an unbounded table would be ~50 MiB.
	require.Less(t, int64(heap1)-int64(heap0), int64(8<<20), "heap within the table's budget")
	require.Less(t, g1-g0, 20, "the flood costs no goroutines")
}

func TestANewPeerGetsRoomInASeenTableFilledByOthers(t *testing.T) {
	// 1 links to 0, 2 and 3, so each may hold 1024/3 = 341 entries. 0 and
	// 2 fill their shares, and more is refused. Then the table shrinks
	// under them (as shares do when peers join): it is full, 0 and 2 are
	// over their new shares, and 3 has none yet. 3 still gets in, at the
	// cost of the largest share's oldest entry; 0 does not.
	sn := simnet.New(4, simnet.Custom([][2]int{{1, 0}, {1, 2}, {1, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		if i == 1 {
			c.RequestRate, c.RequestBurst, c.MaxSeen = 1e9, 1<<30, 1024
		}
	}, nil)
	victim := nodes[1].r
	from := func(i int) *peer.Link { return linkTo(t, nodes[1], nodes[i]) }
	flood(t, victim, from(0), 400, 0)
	flood(t, victim, from(2), 400, 0)
	require.EqualValues(t, 2*(400-341), victim.Stats().RequestsOverShare)
	victim.mu.Lock()
	require.Len(t, victim.seen, 2*341)
	victim.cfg.MaxSeen = 2 * 341 // shares: 256 each
	victim.mu.Unlock()

	one := func(i int, target byte) {
		req, _, err := newRequest([20]byte{target}, 0, 0, 0, time.Now(), nil)
		require.NoError(t, err)
		victim.handleRequest(from(i), req)
	}
	one(3, 1)
	st := victim.Stats()
	require.EqualValues(t, 1, st.SeenEvicted, "room made for the newcomer")
	require.EqualValues(t, 2*(400-341), st.RequestsOverShare, "the newcomer was let in")
	one(0, 2)
	require.EqualValues(t, 2*(400-341)+1, victim.Stats().RequestsOverShare, "0 is over its share")
	victim.mu.Lock()
	require.Len(t, victim.seen, 2*341)
	victim.mu.Unlock()

	// Entries expire in order, share by share, and the shares go with
	// them.
	victim.expire(time.Now().Add(3 * victim.cfg.MaxClockSkew))
	victim.mu.Lock()
	defer victim.mu.Unlock()
	require.Empty(t, victim.seen)
	require.Empty(t, victim.seenOwners)
}

func TestANextHopLeadsToNoMoreThanItsShareOfTheRouteTable(t *testing.T) {
	tab := newTable(time.Minute, 256)
	greedy, other := new(peer.Link), new(peer.Link)
	now := time.Now()
	learned := 0
	for i := 0; i < 300; i++ {
		if tab.learn([20]byte{byte(i), byte(i >> 8)}, greedy, 2, time.Millisecond, 0, now, 2) {
			learned++
		}
	}
	require.Equal(t, 128, learned, "half the table for each of two peers")
	require.True(t, tab.learn([20]byte{1}, greedy, 3, time.Millisecond, 0, now, 2), "known candidates are still confirmed")
	for i := 0; i < 128; i++ {
		require.True(t, tab.learn([20]byte{byte(i), byte(i >> 8), 1}, other, 2, time.Millisecond, 0, now, 2))
	}
	require.Len(t, tab.targets, 256)
	tab.expire(now.Add(2 * time.Minute))
	require.Empty(t, tab.targets)
	require.Empty(t, tab.perLink)
}
