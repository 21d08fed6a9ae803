package stealth

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// NonceSize is the length of a connect request's nonce.
const NonceSize = 16

// This file derives one-time connection target keys: BIP-352's output
// derivation with a connect request's nonce and ephemeral key in place of
// a transaction's outpoints and input keys (SPEC.md, "Stealth targets"):
//
//	t_req  = hash_foxtrot/stealth/Request(nonce || ser_P(E))
//	S      = (t_req·e)·B_scan = (t_req·b_scan)·E
//	t      = hash_foxtrot/stealth/Target(ser_P(S) || ser32(0))
//	P      = B_m + t·G,   p = b_spend (+ label) + t
//	target = HASH160(ser_P(P))

// OneTimeKey returns the one-time target key P a dialler derives for one
// connection to the address, from its ephemeral key e (whose public half E
// the request carries) and the request's nonce. Dial HASH160(P) (see
// [Target]) as any key; only the holder of the address's keys can answer
// as P. Use a fresh e and nonce for every dial: then two connections to
// one address share nothing a relay can link.
func (a Address) OneTimeKey(ephemeral *btcec.PrivateKey, nonce []byte) (*btcec.PublicKey, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if ephemeral == nil || ephemeral.Key.IsZero() {
		return nil, fmt.Errorf("%w: no ephemeral key", ErrBadKey)
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("%w: nonce of %d bytes, want %d", ErrBadRequest, len(nonce), NonceSize)
	}
	var e btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&ephemeral.Key, &e)
	e.ToAffine()
	treq, err := requestScalar(nonce, &e)
	if err != nil {
		return nil, err
	}
	treq.Mul(&ephemeral.Key)
	bscan := jacobian(a.Scan)
	var s btcec.JacobianPoint
	scalarMult(&treq, &bscan, &s)
	toAffine(&s)
	t, err := targetScalar(&s)
	if err != nil {
		return nil, err
	}
	var tg, p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&t, &tg)
	bm := jacobian(a.Spend)
	btcec.AddNonConst(&bm, &tg, &p)
	if isInfinity(&p) {
		return nil, fmt.Errorf("%w: one-time key is the point at infinity", ErrInvalidScalar)
	}
	toAffine(&p)
	return pubKey(&p), nil
}

// Target returns HASH160 of a key's compressed form: what a connect
// request names as its target (for a stealth dial, of the one-time key).
func Target(pub *btcec.PublicKey) [20]byte {
	return hash160(pub.SerializeCompressed())
}

// requestScalar is t_req = hash_foxtrot/stealth/Request(nonce || ser_P(E)).
func requestScalar(nonce []byte, e *btcec.JacobianPoint) (btcec.ModNScalar, error) {
	serE := serP(e)
	t, ok := tRequest.scalar(nonce, serE[:])
	if !ok {
		return t, fmt.Errorf("%w: t_req", ErrInvalidScalar)
	}
	return t, nil
}

// targetScalar is t = hash_foxtrot/stealth/Target(ser_P(S) || ser32(0)).
func targetScalar(s *btcec.JacobianPoint) (btcec.ModNScalar, error) {
	serS := serP(s)
	t, ok := tTarget.scalar(serS[:], ser32(0))
	if !ok {
		return t, fmt.Errorf("%w: t", ErrInvalidScalar)
	}
	return t, nil
}

// A Request holds the fields of a connect request that a stealth target
// is derived from: the dialler's ephemeral key E, the nonce, and the
// target (HASH160 of the one-time key).
type Request struct {
	Ephemeral *btcec.PublicKey
	Nonce     [NonceSize]byte
	Target    [20]byte
}

// ParseRequest parses the stealth fields of a connect request as they
// come off the wire: a 33-byte compressed ephemeral key, a NonceSize-byte
// nonce and a 20-byte target. Errors wrap ErrBadRequest.
func ParseRequest(ephemeral, nonce, target []byte) (Request, error) {
	var r Request
	if len(nonce) != NonceSize || len(target) != len(r.Target) {
		return Request{}, fmt.Errorf("%w: nonce of %d bytes and target of %d", ErrBadRequest, len(nonce), len(target))
	}
	e, err := parseCompressed(ephemeral)
	if err != nil {
		return Request{}, fmt.Errorf("%w: ephemeral key: %v", ErrBadRequest, err)
	}
	r.Ephemeral = e
	copy(r.Nonce[:], nonce)
	copy(r.Target[:], target)
	return r, nil
}

// NewRequest derives a request's stealth fields for a dial to a: the
// ephemeral key's public half, the nonce, and the target of the one-time
// key, which it also returns.
func (a Address) NewRequest(ephemeral *btcec.PrivateKey, nonce [NonceSize]byte) (Request, *btcec.PublicKey, error) {
	p, err := a.OneTimeKey(ephemeral, nonce[:])
	if err != nil {
		return Request{}, nil, err
	}
	return Request{Ephemeral: ephemeral.PubKey(), Nonce: nonce, Target: Target(p)}, p, nil
}

// Match reports whether a connect request (the dialler's ephemeral key E,
// its nonce and its target) is for this scanner's address, or one of its
// labels: one ECDH, a base-point multiplication and a hash per request.
// On a match it returns the tweak that [Keys.PrivateKey] turns into the
// one-time private key; the scanner itself cannot.
func (s *Scanner) Match(e *btcec.PublicKey, nonce []byte, target [20]byte) (Tweak, bool) {
	if e == nil || len(nonce) != NonceSize {
		return Tweak{}, false
	}
	ej := jacobian(e)
	t, ok := s.tweak(&ej, nonce)
	if !ok {
		return Tweak{}, false
	}
	var tg btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&t, &tg)
	for i := range s.targets {
		tgt := &s.targets[i]
		var p btcec.JacobianPoint
		btcec.AddNonConst(&tgt.point, &tg, &p)
		if isInfinity(&p) {
			continue
		}
		toAffine(&p)
		ser := serP(&p)
		if hash160(ser[:]) == target {
			t.Add(&tgt.tweak)
			return Tweak(t.Bytes()), true
		}
	}
	return Tweak{}, false
}

// MatchRequest is Match on a parsed [Request].
func (s *Scanner) MatchRequest(r Request) (Tweak, bool) {
	return s.Match(r.Ephemeral, r.Nonce[:], r.Target)
}

// tweak is the receiver's side of the derivation: t from E and the nonce,
// with the scan key.
func (s *Scanner) tweak(e *btcec.JacobianPoint, nonce []byte) (btcec.ModNScalar, bool) {
	treq, err := requestScalar(nonce, e)
	if err != nil {
		return treq, false
	}
	treq.Mul(&s.scan)
	var sh btcec.JacobianPoint
	scalarMult(&treq, e, &sh)
	if isInfinity(&sh) {
		return treq, false
	}
	toAffine(&sh)
	t, err := targetScalar(&sh)
	return t, err == nil
}

// Derive returns the one-time private key p = b_spend + t for a request to
// the unlabelled address, from the request's ephemeral key and nonce: the
// key the listener answers with. It needs the spend key. For requests to a
// labelled address, Match with a Scanner that knows the label and pass
// its tweak to PrivateKey.
func (k *Keys) Derive(e *btcec.PublicKey, nonce []byte) (*btcec.PrivateKey, error) {
	if e == nil {
		return nil, fmt.Errorf("%w: no ephemeral key", ErrBadRequest)
	}
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("%w: nonce of %d bytes, want %d", ErrBadRequest, len(nonce), NonceSize)
	}
	s := Scanner{scan: k.scan.Key}
	ej := jacobian(e)
	t, ok := s.tweak(&ej, nonce)
	if !ok {
		return nil, fmt.Errorf("%w: tweak", ErrInvalidScalar)
	}
	return k.PrivateKey(Tweak(t.Bytes()))
}
