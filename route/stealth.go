package route

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// Stealth target kinds (wire.ConnectRequest.Kind). Both name HASH160 of a
// one-time key derived from a stealth address with the request's
// ephemeral key and nonce (SPEC.md, "Stealth targets"); the listener finds
// its requests by scanning them with its scan key.
const (
	// TargetStealth: the nonce is 16 random bytes. A relay cannot tell
	// which address the request is for; it routes by the target, which
	// nobody has learned, so the request floods.
	TargetStealth uint8 = 1
	// TargetStealthAdvert: the nonce is the address's scan-key
	// fingerprint (8 bytes, stealth.Fingerprint) followed by 8 random
	// bytes. Relays route it toward the nodes that advertised the
	// fingerprint (see advert.go). A dialler uses it only for an address
	// whose listener advertises: the fingerprint is public already.
	TargetStealthAdvert uint8 = 2
)

// A fixedRequest is what every request of one connection to a stealth
// address repeats: the ephemeral key and nonce the one-time target is
// derived from, and the key the route table knows the target by.
type fixedRequest struct {
	eph   *keyPair
	nonce [16]byte
	route [20]byte
}

// newRequest makes the next request of d: a fresh one, or for a stealth
// dial one that repeats its ephemeral key and nonce (with a new time, so
// a new ID).
func (d *dialState) newRequest(r *Router, flags uint8) (*wire.ConnectRequest, *keyPair, error) {
	if d.fixed == nil {
		return newRequestKind(d.kind, d.target, d.hops(r), flags, r.maxPrice(), r.now(), r.cfg.Rand)
	}
	f := d.fixed
	return newRequestWith(d.kind, d.target, d.hops(r), flags, r.maxPrice(), r.now(), f.eph, f.nonce), f.eph, nil
}

// routeKey is what the route table knows d's target by.
func (d *dialState) routeKey() [20]byte {
	if d.fixed != nil {
		return d.fixed.route
	}
	return d.target
}

// requestRouteKey is what a relay looks a request up by in its route
// table: the advertised fingerprint's key for TargetStealthAdvert, the
// target for every other kind.
func requestRouteKey(req *wire.ConnectRequest) [20]byte {
	if req.Kind == TargetStealthAdvert {
		var fp stealth.Fingerprint
		copy(fp[:], req.Nonce[:stealth.FingerprintSize])
		return advertRouteKey(fp)
	}
	return req.Target
}

// advertRouteKey is the route table's key for the advertisers of a
// fingerprint: a hash of it, so it cannot collide with a key's HASH160
// but by chance (2^-160).
func advertRouteKey(fp stealth.Fingerprint) [20]byte {
	h := sha256.Sum256(append([]byte("foxtrot/advert-route"), fp[:]...))
	var k [20]byte
	copy(k[:], h[:])
	return k
}

// localListener is the listener of this very node that would answer d's
// requests, and its key, or nil.
func (r *Router) localListener(d *dialState) (*Listener, *keyPair) {
	if d.kind == wire.TargetAddr {
		r.mu.Lock()
		defer r.mu.Unlock()
		if lst := r.listeners[d.target]; lst != nil {
			return lst, lst.key
		}
		return nil, nil
	}
	if d.fixed == nil {
		return nil, nil
	}
	return r.listenerFor(&wire.ConnectRequest{Kind: d.kind, Target: d.target, Ephemeral: d.fixed.eph.ser, Nonce: d.fixed.nonce})
}

// DialStealth connects to a stealth address, proving identityKey (the
// node's identity when nil) to the listener. It draws a fresh ephemeral
// key and nonce, derives the one-time target key from them, and dials it
// as Dial dials a key; every request of the connection (its backups and
// the fresh paths of a failover) repeats them, so each reaches the same
// one-time key. When the route table knows advertisers of the address's
// fingerprint, the requests carry it (TargetStealthAdvert) and go toward
// them; otherwise they carry nothing of the address (TargetStealth) and
// flood. Errors are Dial's.
func (r *Router) DialStealth(ctx context.Context, identityKey *btcec.PrivateKey, a stealth.Address) (*Session, error) {
	if a.Scan == nil || a.Spend == nil {
		return nil, fmt.Errorf("%w: a stealth address needs both keys", ErrBadConfig)
	}
	d, err := r.newStealthDial(a)
	if err != nil {
		return nil, err
	}
	return r.dial(ctx, identityKey, d)
}

// newStealthDial derives a connection's one-time target and the requests'
// fixed fields.
func (r *Router) newStealthDial(a stealth.Address) (*dialState, error) {
	fp := a.Fingerprint()
	rk := advertRouteKey(fp)
	r.mu.Lock()
	advertised := len(r.routes.best(rk, 1, nil, r.now())) > 0
	r.mu.Unlock()
	eph, err := newKey(r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	f := &fixedRequest{eph: eph}
	if _, err := io.ReadFull(r.cfg.Rand, f.nonce[:]); err != nil {
		return nil, err
	}
	kind := TargetStealth
	if advertised {
		kind = TargetStealthAdvert
		copy(f.nonce[:], fp[:])
	}
	p, err := a.OneTimeKey(eph.priv, f.nonce[:])
	if err != nil {
		return nil, err
	}
	target := stealth.Target(p)
	f.route = target
	if advertised {
		f.route = rk
	}
	d := r.newDial(kind, target)
	d.fixed = f
	return d, nil
}

// A StealthMatcher recognises the requests for one stealth address (and
// its labels) by scanning them with the scan key, and answers them with
// the one-time private key, which needs the spend key. Made from a
// Scanner alone it recognises requests but answers none: Match counts
// them and returns nil, as a node that holds only the scan key can
// filter for the owner but not accept for it.
type StealthMatcher struct {
	scanner *stealth.Scanner
	keys    *stealth.Keys // nil: scan only
	fp      stealth.Fingerprint

	matched    atomic.Int64
	unanswered atomic.Int64
}

var _ KindsMatcher = (*StealthMatcher)(nil)

// NewStealthMatcher returns a matcher that answers the requests for keys'
// address and the given labels.
func NewStealthMatcher(keys *stealth.Keys, labels ...uint32) (*StealthMatcher, error) {
	if keys == nil {
		return nil, fmt.Errorf("%w: no stealth keys", ErrBadConfig)
	}
	s, err := keys.Scanner(labels...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &StealthMatcher{scanner: s, keys: keys, fp: s.Address().Fingerprint()}, nil
}

// NewScanMatcher returns a matcher that recognises the requests for the
// scanner's address but cannot answer them (see StealthMatcher).
func NewScanMatcher(s *stealth.Scanner) *StealthMatcher {
	return &StealthMatcher{scanner: s, fp: s.Address().Fingerprint()}
}

// Kind returns TargetStealth.
func (m *StealthMatcher) Kind() uint8 { return TargetStealth }

// Kinds returns TargetStealth and TargetStealthAdvert.
func (m *StealthMatcher) Kinds() []uint8 { return []uint8{TargetStealth, TargetStealthAdvert} }

// Fingerprint returns the fingerprint of the matcher's scan key.
func (m *StealthMatcher) Fingerprint() stealth.Fingerprint { return m.fp }

// Match scans req: one ECDH, a base-point multiplication and a hash (an
// advertised request for another fingerprint costs a comparison). On a
// match it returns the one-time private key, or nil for a scan-only
// matcher.
func (m *StealthMatcher) Match(req *wire.ConnectRequest) *btcec.PrivateKey {
	if req.Kind == TargetStealthAdvert && [stealth.FingerprintSize]byte(req.Nonce[:stealth.FingerprintSize]) != m.fp {
		return nil
	}
	sr, err := stealth.ParseRequest(req.Ephemeral[:], req.Nonce[:], req.Target[:])
	if err != nil {
		return nil
	}
	tw, ok := m.scanner.MatchRequest(sr)
	if !ok {
		return nil
	}
	m.matched.Add(1)
	if m.keys == nil {
		m.unanswered.Add(1)
		return nil
	}
	k, err := m.keys.PrivateKey(tw)
	if err != nil {
		return nil
	}
	return k
}

// Matched returns how many requests the matcher recognised; Unanswered
// how many of them it could not answer (all, for a scan-only matcher).
func (m *StealthMatcher) Matched() int64 { return m.matched.Load() }

// Unanswered returns how many recognised requests got no key.
func (m *StealthMatcher) Unanswered() int64 { return m.unanswered.Load() }

// StealthOptions are the choices of a stealth listener.
type StealthOptions struct {
	// Labels are the BIP-352 labels whose addresses the listener also
	// answers (label 0 is change: do not hand it out).
	Labels []uint32
	// Advertise makes the node advertise the scan key's fingerprint to
	// its peers, which pass it on within Config.AdvertRadius hops, so
	// requests for the address go toward this node instead of flooding.
	// It tells relays near the node that it serves the address, and
	// relays on a request's path which address family it is for.
	Advertise bool
}

// ListenStealth starts accepting connections to a stealth address: every
// request whose one-time target the keys derive. The listener's Addr is
// zero and its Key nil; each session's LocalKey is the one-time key that
// answered it. With opts.Advertise the node advertises the address's
// fingerprint until the listener closes.
func (r *Router) ListenStealth(keys *stealth.Keys, opts StealthOptions) (*Listener, *StealthMatcher, error) {
	m, err := NewStealthMatcher(keys, opts.Labels...)
	if err != nil {
		return nil, nil, err
	}
	l, err := r.ListenMatcher(m)
	if err != nil {
		return nil, nil, err
	}
	if opts.Advertise {
		r.startAdvert(l, m.fp)
	}
	return l, m, nil
}
