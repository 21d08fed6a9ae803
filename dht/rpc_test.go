package dht

import (
	"context"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// fakeClock fires timers only when advanced; armed signals each new timer.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	armed  chan time.Duration
}

type fakeTimer struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1e9, 0), armed: make(chan time.Duration, 10000)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{at: f.now.Add(d), c: make(chan time.Time, 1)}
	f.timers = append(f.timers, t)
	f.armed <- d
	return t
}

// waitTimer waits until a timer of duration d is armed.
func (f *fakeClock) waitTimer(d time.Duration) {
	for got := range f.armed {
		if got == d {
			return
		}
	}
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	kept := f.timers[:0]
	for _, t := range f.timers {
		if !t.at.After(f.now) {
			t.c <- f.now
		} else {
			kept = append(kept, t)
		}
	}
	f.timers = kept
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Stop() bool          { return true }

// silentPair links a DHT node to a peer that runs no DHT (so it ignores
// the optional request types and never answers).
func silentPair(t *testing.T, cfg Config) (*DHT, Contact, *peer.Link) {
	sn := simnet.New(2, simnet.Line, simnet.Options{Seed: 9})
	var sets []*peer.Set
	for i := range 2 {
		s, err := peer.NewSet(peer.Config{Identity: sn.Keys[i], Transports: transport.Set(sn.Transports())})
		require.NoError(t, err)
		_, err = s.Listen(ma.StringCast(sn.Listen(i)))
		require.NoError(t, err)
		sets = append(sets, s)
	}
	// Linked before the DHT registers: it does not ping the link coming
	// up, so the tests' RPCs are the only ones.
	l, err := sets[0].Connect(context.Background(), ma.StringCast(sn.Addr(1)))
	require.NoError(t, err)
	cfg.Set, cfg.Key = sets[0], sn.Keys[0].PubKey()
	d, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		d.Close()
		sets[0].Close()
		sets[1].Close()
	})
	return d, NewContact(sn.Keys[1].PubKey(), []ma.Multiaddr{ma.StringCast(sn.Listen(1))}), l
}

func TestRPCTimesOutOnTheClock(t *testing.T) {
	clk := newFakeClock()
	d, c, _ := silentPair(t, Config{Clock: clk, RPCTimeout: time.Second})
	errc := make(chan error, 1)
	go func() {
		_, err := d.rpc(context.Background(), c, &Request{Op: OpPing})
		errc <- err
	}()
	<-clk.armed
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("returned before its timeout: %v", err)
	default:
	}
	clk.Advance(time.Millisecond)
	require.ErrorIs(t, <-errc, ErrTimeout)
	require.Equal(t, int64(1), d.Stats().Timeouts)
}

func TestPendingRPCsPerPeerAreBounded(t *testing.T) {
	clk := newFakeClock()
	d, c, _ := silentPair(t, Config{Clock: clk, MaxPendingPerPeer: 2})
	errc := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := d.rpc(context.Background(), c, &Request{Op: OpPing})
			errc <- err
		}()
	}
	<-clk.armed
	<-clk.armed
	_, err := d.rpc(context.Background(), c, &Request{Op: OpPing})
	require.ErrorIs(t, err, ErrBusy)
	// Close unblocks the two waiting.
	require.NoError(t, d.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, d.Close(), "Close is idempotent")
}

// TestLookupEndsWhenEveryContactTimesOut: a lookup whose contacts never
// answer ends once their RPCs time out, with nothing found.
func TestLookupEndsWhenEveryContactTimesOut(t *testing.T) {
	clk := newFakeClock()
	d, c, _ := silentPair(t, Config{Clock: clk})
	d.mu.Lock()
	d.table.Add(c)
	d.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, _, err := d.Get(context.Background(), ID{1}, nil)
		errc <- err
	}()
	<-clk.armed
	clk.Advance(d.cfg.RPCTimeout)
	require.ErrorIs(t, <-errc, ErrNotFound)
	require.Zero(t, d.Stats().Contacts, "the silent contact left the table")
}

// TestRequestsNamingAnotherKeyAreDropped: the contact in a request must
// be the link's own.
func TestRequestsNamingAnotherKeyAreDropped(t *testing.T) {
	nodes := buildNet(t, 2, 1, 5, Config{})
	l := nodes[0].set.Links()[0]
	lie := &Request{ID: 1, Op: OpPing, From: testContact(t, 99)}
	before := nodes[1].dht.Stats().Dropped
	require.NoError(t, l.Send(lie))
	// A genuine request after it is answered, so the lie was handled.
	c := nodes[1].dht.Self()
	_, err := nodes[0].dht.rpc(context.Background(), c, &Request{Op: OpPing})
	require.NoError(t, err)
	require.Equal(t, before+1, nodes[1].dht.Stats().Dropped)
}
