package route

import (
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Target kinds. A connect request names its target by a 20-byte hash and
// a kind (wire.ConnectRequest.Kind); relays route every kind alike, by the
// hash (TargetStealthAdvert alone by the fingerprint in its nonce: see
// stealth.go and advert.go). The kind tells the node that holds the key
// how to recognise the request as its own:
//
//	kind             the hash is               found by
//	TargetAddr (0)   HASH160 of the listened   a map lookup (Listen)
//	                 key
//	TargetStealth,   HASH160 of a one-time     a StealthMatcher's scan: one
//	..Advert (1, 2)  key (stealth.go)          ECDH and a hash per request
//	other kinds      whatever the kind says    asking each Matcher of that
//	                                           kind (ListenMatcher)
//
// Whatever the kind, the key a Matcher returns answers the request as a
// listened key does: it signs the ack, the dialler checks that it hashes
// to the request's target, and the end-to-end secret is bound to it.

// Matcher recognises the connect requests of one target kind that a
// listener answers, and gives the key that answers each.
type Matcher interface {
	// Kind is the request kind the matcher recognises (not TargetAddr).
	Kind() uint8
	// Match returns the private key that answers req, whose public key
	// hashes to req.Target, or nil when req is not for this listener. It
	// runs on a peer link's control reader for every request of its kind
	// the node sees, so it must be quick and must not block.
	Match(req *wire.ConnectRequest) *btcec.PrivateKey
}

// KindsMatcher is a Matcher that recognises requests of several kinds
// (a stealth address's, with and without its advertised fingerprint).
// Kind is one of Kinds.
type KindsMatcher interface {
	Matcher
	// Kinds are the request kinds the matcher recognises.
	Kinds() []uint8
}

// matchesKind reports whether m recognises requests of kind k.
func matchesKind(m Matcher, k uint8) bool {
	if km, ok := m.(KindsMatcher); ok {
		return slices.Contains(km.Kinds(), k)
	}
	return m.Kind() == k
}

// ListenMatcher starts accepting connections whose requests m recognises.
// The listener's Addr is zero and its Key nil: each connection is
// answered by the key m gives for it (Session.LocalKey).
func (r *Router) ListenMatcher(m Matcher) (*Listener, error) {
	if m == nil || matchesKind(m, wire.TargetAddr) {
		return nil, fmt.Errorf("%w: a Matcher needs a kind of its own (not TargetAddr)", ErrBadConfig)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	l := newListener(r, nil, m)
	r.matchers[l] = struct{}{}
	return l, nil
}

// listenerFor finds the listener that answers req and the key it answers
// with, or nil. A key listener is a map lookup; other kinds ask each
// matcher of the request's kind, outside the router's lock.
func (r *Router) listenerFor(req *wire.ConnectRequest) (*Listener, *keyPair) {
	r.mu.Lock()
	if req.Kind == wire.TargetAddr {
		defer r.mu.Unlock()
		if lst := r.listeners[req.Target]; lst != nil {
			return lst, lst.key
		}
		return nil, nil
	}
	var cands []*Listener
	for l := range r.matchers {
		if matchesKind(l.match, req.Kind) {
			cands = append(cands, l)
		}
	}
	r.mu.Unlock()
	for _, l := range cands {
		if k := l.match.Match(req); k != nil {
			kp := newKeyPair(k)
			if addr.FromPubKey(kp.pub).Hash160() != req.Target {
				continue // a matcher's mistake must not answer for another key
			}
			return l, kp
		}
	}
	return nil, nil
}
