package route

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/cputime"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// capture is a relay's handler that records every connect request it is
// handed before the router sees it.
type capture struct {
	*Router
	mu   sync.Mutex
	reqs []*wire.ConnectRequest
}

func (c *capture) HandleMessage(l *peer.Link, m wire.Message) {
	if req, ok := m.(*wire.ConnectRequest); ok {
		cp := *req
		c.mu.Lock()
		c.reqs = append(c.reqs, &cp)
		c.mu.Unlock()
	}
	c.Router.HandleMessage(l, m)
}

func (c *capture) requests() []*wire.ConnectRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*wire.ConnectRequest(nil), c.reqs...)
}

func newStealthKeys(t testing.TB) *stealth.Keys {
	k, err := stealth.GenerateKeys()
	require.NoError(t, err)
	return k
}

// stealthEcho listens on keys' address at n and echoes every connection.
func stealthEcho(t testing.TB, n *node, keys *stealth.Keys, opts StealthOptions) (*Listener, *StealthMatcher) {
	l, m, err := n.r.ListenStealth(keys, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go serveEcho(l)
	return l, m
}

func dialStealth(n *node, a stealth.Address, timeout time.Duration) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return n.r.DialStealth(ctx, nil, a)
}

// commonRun returns a run of at least n bytes that a and b share, or nil.
func commonRun(a, b []byte, n int) []byte {
	for i := 0; i+n <= len(a); i++ {
		if bytes.Contains(b, a[i:i+n]) {
			return a[i : i+n]
		}
	}
	return nil
}

func TestStealthConnectionsThroughTwoRelaysShareNothing(t *testing.T) {
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	var relay *capture
	nodes := startNodes(t, sn, nil, func(i int, r *Router) peer.Handler {
		if i == 1 {
			relay = &capture{Router: r}
			return relay
		}
		return nil
	})
	keys := newStealthKeys(t)
	l, m := stealthEcho(t, nodes[3], keys, StealthOptions{})
	require.Zero(t, l.Addr())

	var sessions []*Session
	for range 2 {
		s, err := dialStealth(nodes[0], keys.Address(), 10*time.Second)
		require.NoError(t, err)
		defer s.Close()
		roundTrip(t, s, "hello, stealth")
		require.Len(t, s.Path(), 2)
		sessions = append(sessions, s)
	}
	require.EqualValues(t, 2, m.Matched())
	require.Zero(t, m.Unanswered())
	// Each connection was answered by a one-time key: not the spend key,
	// and not the other's.
	k0, k1 := sessions[0].RemoteKey(), sessions[1].RemoteKey()
	require.False(t, k0.IsEqual(k1))
	require.False(t, k0.IsEqual(keys.SpendKey().PubKey()))
	require.NotEqual(t, sessions[0].ID(), sessions[1].ID())

	// What the relay saw: one request per connection (the first ack
	// came back; nothing was resent), of the plain stealth kind.
	reqs := relay.requests()
	require.Len(t, reqs, 2)
	a, b := reqs[0], reqs[1]
	require.Equal(t, TargetStealth, a.Kind)
	require.Equal(t, TargetStealth, b.Kind)
	require.NotEqual(t, a.ID(), b.ID())
	require.NotEqual(t, a.Target, b.Target)
	require.NotEqual(t, a.Ephemeral, b.Ephemeral)
	require.NotEqual(t, a.Nonce, b.Nonce)
	// Byte-wise: beyond the fixed header (hop limit, kind, flags) and the
	// clock and price fields, the two requests share no 8-byte run, and
	// neither contains any 8 bytes of the address.
	variable := func(r *wire.ConnectRequest) []byte {
		v := append([]byte(nil), r.Target[:]...)
		v = append(v, r.Ephemeral[1:]...) // [0] is the parity byte, 02 or 03
		v = append(v, r.Nonce[:]...)
		return append(v, r.Sig[:]...)
	}
	require.Nil(t, commonRun(variable(a), variable(b), 8))
	addrBytes := append(keys.Address().Scan.SerializeCompressed(), keys.Address().Spend.SerializeCompressed()...)
	fp := keys.Address().Fingerprint()
	for _, r := range reqs {
		body := r.AppendBody(nil)
		require.Nil(t, commonRun(body, addrBytes, 8))
		require.False(t, bytes.Contains(body, fp[:]), "an unadvertised request carries no fingerprint")
	}
}

func TestARelayHoldingOnlyTheScanKeyCannotCompleteAConnection(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	keys := newStealthKeys(t)
	scanner, err := stealth.NewScanner(keys.ScanKey(), keys.SpendKey().PubKey())
	require.NoError(t, err)
	// The relay recognises the owner's requests: a scan-only matcher, and
	// a dishonest one that answers them with the best key it has.
	scanOnly := NewScanMatcher(scanner)
	ls, err := nodes[1].r.ListenMatcher(scanOnly)
	require.NoError(t, err)
	defer ls.Close()
	liar := &lyingMatcher{scanner: scanner, key: keys.ScanKey()}
	ll, err := nodes[1].r.ListenMatcher(liar)
	require.NoError(t, err)
	defer ll.Close()

	// With nobody holding the spend key, no connection completes.
	_, err = dialStealth(nodes[0], keys.Address(), 500*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Positive(t, scanOnly.Matched(), "the relay recognised the request")
	require.Equal(t, scanOnly.Matched(), scanOnly.Unanswered())
	require.Positive(t, liar.matched.Load())

	// With the owner behind the relay, the connection is the owner's.
	_, owner := stealthEcho(t, nodes[2], keys, StealthOptions{})
	s, err := dialStealth(nodes[0], keys.Address(), 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "only the spend key answers")
	require.EqualValues(t, 1, owner.Matched())
	require.Equal(t, []addr.NodeID{addr.NodeIDFromPubKey(sn.Keys[1].PubKey())}, s.Path())
}

// lyingMatcher answers every request its scanner recognises with key,
// which is not the one-time key (without the spend key there is none to
// give): the router must not let it answer.
type lyingMatcher struct {
	scanner *stealth.Scanner
	key     *btcec.PrivateKey
	matched atomic.Int64
}

func (m *lyingMatcher) Kind() uint8 { return TargetStealth }

func (m *lyingMatcher) Match(req *wire.ConnectRequest) *btcec.PrivateKey {
	sr, err := stealth.ParseRequest(req.Ephemeral[:], req.Nonce[:], req.Target[:])
	if err != nil {
		return nil
	}
	if _, ok := m.scanner.MatchRequest(sr); !ok {
		return nil
	}
	m.matched.Add(1)
	return m.key
}

func TestAStealthConnectionFailsOverToAFreshRequestForTheSameOneTimeKey(t *testing.T) {
	// Two ways from 0 to 3; the target answers one arrival only, so the
	// failover has no backup and must ask the network again.
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {1, 3}, {0, 2}, {2, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) { c.MaxAcks = 1 }, nil)
	keys := newStealthKeys(t)
	_, m := stealthEcho(t, nodes[3], keys, StealthOptions{})
	s, err := dialStealth(nodes[0], keys.Address(), 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "before")
	require.Len(t, s.Path(), 1)
	relay := 1
	if s.Path()[0] == addr.NodeIDFromPubKey(sn.Keys[2].PubKey()) {
		relay = 2
	}
	nodes[relay].r.Close()
	nodes[relay].set.Close()
	roundTrip(t, s, "after")
	require.NotEqual(t, s.Path()[0], addr.NodeIDFromPubKey(sn.Keys[relay].PubKey()))
	require.EqualValues(t, 1, nodes[0].r.Stats().Failovers)
	// The fresh requests (directed, then flooded: each a new ID) were
	// recognised as for the same one-time key: the finder takes only an
	// ack signed by the session's key (finder.openPath).
	require.GreaterOrEqual(t, m.Matched(), int64(2))
	require.Zero(t, m.Unanswered())
}

func TestAStealthDialRepeatsItsFixedFields(t *testing.T) {
	sn := simnet.New(1, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	keys := newStealthKeys(t)
	d, err := nodes[0].r.newStealthDial(keys.Address())
	require.NoError(t, err)
	a, ea, err := d.newRequest(nodes[0].r, 0)
	require.NoError(t, err)
	b, eb, err := d.newRequest(nodes[0].r, wire.FlagFlood)
	require.NoError(t, err)
	require.Same(t, ea, eb)
	require.Equal(t, a.Target, b.Target)
	require.Equal(t, a.Ephemeral, b.Ephemeral)
	require.Equal(t, a.Nonce, b.Nonce)
	require.NotEqual(t, a.ID(), b.ID())
	// Both are for the address: its keys derive the one-time key that
	// hashes to the target.
	for _, req := range []*wire.ConnectRequest{a, b} {
		_, err := checkRequest(req, nodes[0].r.now(), time.Minute)
		require.NoError(t, err)
		e, err := btcec.ParsePubKey(req.Ephemeral[:])
		require.NoError(t, err)
		p, err := keys.Derive(e, req.Nonce[:])
		require.NoError(t, err)
		require.Equal(t, req.Target, stealth.Target(p.PubKey()))
	}
	// A second dial shares none of it.
	d2, err := nodes[0].r.newStealthDial(keys.Address())
	require.NoError(t, err)
	require.NotEqual(t, d.target, d2.target)
	require.NotEqual(t, d.fixed.nonce, d2.fixed.nonce)
	require.NotEqual(t, d.fixed.eph.ser, d2.fixed.eph.ser)
}

func TestDialStealthFindsAListenerOnItsOwnNode(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	keys := newStealthKeys(t)
	_, m := stealthEcho(t, nodes[0], keys, StealthOptions{})
	s, err := dialStealth(nodes[0], keys.Address(), 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	roundTrip(t, s, "same node")
	require.EqualValues(t, 1, m.Matched())
	require.Zero(t, nodes[0].r.Stats().RequestsSent)
}

// FuzzStealthRequest decodes arbitrary control payloads and scans every
// connect request found, as a stealth listener does with what a peer
// sends. Nothing may panic, and a key comes back only for a request whose
// target it hashes to.
func FuzzStealthRequest(f *testing.F) {
	keys, err := stealth.NewKeys(fixedKey(11), fixedKey(12))
	if err != nil {
		f.Fatal(err)
	}
	m, err := NewStealthMatcher(keys)
	if err != nil {
		f.Fatal(err)
	}
	a := keys.Address()
	for _, kind := range []uint8{TargetStealth, TargetStealthAdvert} {
		var nonce [16]byte
		nonce[15] = kind
		if kind == TargetStealthAdvert {
			fp := a.Fingerprint()
			copy(nonce[:], fp[:])
		}
		eph := newKeyPair(fixedKey(kind + 20))
		p, err := a.OneTimeKey(eph.priv, nonce[:])
		if err != nil {
			f.Fatal(err)
		}
		req := newRequestWith(kind, stealth.Target(p), 8, 0, 0, fuzzNow, eph, nonce)
		if m.Match(req) == nil {
			f.Fatalf("the kind %d seed does not match", kind)
		}
		frame, _ := wire.Append(nil, req)
		f.Add(frame[4:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		msg, err := wire.Decode(payload)
		if err != nil {
			return
		}
		req, ok := msg.(*wire.ConnectRequest)
		if !ok {
			return
		}
		k := m.Match(req)
		if k == nil {
			return
		}
		if addr.FromPubKey(k.PubKey()).Hash160() != req.Target {
			t.Fatalf("matched a key that does not hash to the target")
		}
	})
}

// BenchmarkStealthMatch is what a stealth listener spends on a request
// that is not for it, as it comes off the wire: parsing E, one ECDH, a
// base-point multiplication and a hash. checks/cpu-s is per second of CPU
// the process used: on shared cores, what one core does.
//
//	go test -run XXX -bench StealthMatch ./route
func BenchmarkStealthMatch(b *testing.B) {
	keys := newStealthKeys(b)
	m, err := NewStealthMatcher(keys)
	require.NoError(b, err)
	other := newStealthKeys(b).Address()
	eph := newKeyPair(newTestKey(b))
	var nonce [16]byte
	p, err := other.OneTimeKey(eph.priv, nonce[:])
	require.NoError(b, err)
	req := newRequestWith(TargetStealth, stealth.Target(p), 8, 0, 0, time.Now(), eph, nonce)
	b.ReportAllocs()
	n := 0
	cpu0, cpuOK := cputime.Process()
	for b.Loop() {
		if m.Match(req) != nil {
			b.Fatal("matched another address's request")
		}
		n++
	}
	cpu1, _ := cputime.Process()
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "checks/s")
	if cpuOK && cpu1 > cpu0 {
		b.ReportMetric(float64(n)/(cpu1-cpu0).Seconds(), "checks/cpu-s")
	}
}
