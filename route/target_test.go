package route

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// testKind is a target kind of the test's own: the request names HASH160
// of one of the matcher's keys, which it recognises by looking it up.
const testKind = 0x7f

type keyMatcher struct {
	keys  map[[20]byte]*btcec.PrivateKey
	calls chan *wire.ConnectRequest // every request it was asked about
	lie   *btcec.PrivateKey         // if set, answered for every request
}

func (m *keyMatcher) Kind() uint8 { return testKind }

func (m *keyMatcher) Match(req *wire.ConnectRequest) *btcec.PrivateKey {
	select {
	case m.calls <- req:
	default:
	}
	if m.lie != nil {
		return m.lie
	}
	return m.keys[req.Target]
}

func newKeyMatcher(keys ...*btcec.PrivateKey) *keyMatcher {
	m := &keyMatcher{keys: make(map[[20]byte]*btcec.PrivateKey), calls: make(chan *wire.ConnectRequest, 64)}
	for _, k := range keys {
		m.keys[addr.FromPubKey(k.PubKey()).Hash160()] = k
	}
	return m
}

func TestATargetKindPlugsInThroughAMatcher(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	k1, k2 := newTestKey(t), newTestKey(t)
	l, err := nodes[2].r.ListenMatcher(newKeyMatcher(k1, k2))
	require.NoError(t, err)
	defer l.Close()
	require.Nil(t, l.Key())
	go serveEcho(l)

	// Each key the matcher knows answers through the relay, and the
	// session's local key at the target is the one that matched.
	for _, k := range []*btcec.PrivateKey{k1, k2} {
		s, err := nodes[0].r.DialKind(t.Context(), nil, testKind, addr.FromPubKey(k.PubKey()).Hash160())
		require.NoError(t, err)
		require.Len(t, s.Path(), 1)
		require.True(t, s.RemoteKey().IsEqual(k.PubKey()))
		roundTrip(t, s, "hello, kind")
		require.NoError(t, s.Close())
	}

	// A key listener is not asked about other kinds, and a request of the
	// key kind for a matcher's key finds nobody.
	_, err = dialKind(nodes[0].r, wire.TargetAddr, addr.FromPubKey(k1.PubKey()).Hash160(), 300*time.Millisecond)
	require.Error(t, err)
}

func TestAMatcherCannotAnswerForAKeyTheRequestDidNotName(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	m := newKeyMatcher()
	m.lie = newTestKey(t) // answers everything with a key of its own
	l, err := nodes[1].r.ListenMatcher(m)
	require.NoError(t, err)
	defer l.Close()
	target := addr.FromPubKey(newTestKey(t).PubKey()).Hash160()
	_, err = dialKind(nodes[0].r, testKind, target, 500*time.Millisecond)
	require.Error(t, err)
	select {
	case req := <-m.calls:
		require.Equal(t, target, req.Target) // it was asked, and its answer was not used
	case <-time.After(10 * time.Second):
		t.Fatal("the matcher was never asked")
	}
	require.Zero(t, nodes[1].r.Stats().AcksSent)
}

func TestListenMatcherRefusesTheKeyKind(t *testing.T) {
	sn := simnet.New(1, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	m := &kindOnly{wire.TargetAddr}
	_, err := nodes[0].r.ListenMatcher(m)
	require.True(t, errors.Is(err, ErrBadConfig), "%v", err)
}

type kindOnly struct{ k uint8 }

func (m *kindOnly) Kind() uint8                                  { return m.k }
func (m *kindOnly) Match(*wire.ConnectRequest) *btcec.PrivateKey { return nil }

func dialKind(r *Router, kind uint8, target [20]byte, timeout time.Duration) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return r.DialKind(ctx, nil, kind, target)
}

func TestCopiesArrivingWhileTheFirstIsCheckedAreAnsweredToo(t *testing.T) {
	// 0 reaches 3 through 1 and through 2: two copies of each request.
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[3])
	// The target holds the first copy's check until the second copy has
	// arrived (and been counted as a duplicate).
	target := nodes[3].r
	var once sync.Once
	target.beforeVerify = func() {
		once.Do(func() {
			// Not require: this runs on a link's goroutine. If the copy
			// never comes, the assertion below fails.
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for giveUp := time.After(10 * time.Second); target.Stats().RequestsDuplicate < 1; {
				select {
				case <-tick.C:
				case <-giveUp:
					return
				}
			}
		})
	}
	s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "both ways")
	// Both arrivals were answered: the dialler has a backup path.
	require.Eventually(t, func() bool { return target.Stats().AcksSent == 2 }, 10*time.Second, time.Millisecond)
}
