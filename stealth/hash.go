package stealth

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // HASH160 is RIPEMD-160 by definition
)

// Tags of the tagged hashes (BIP-340: SHA256(SHA256(tag) || SHA256(tag) ||
// msg)). The first three are BIP-352's; the last two are ours, for
// connections, so that a connection key can never coincide with a payment
// output key made from the same address.
const (
	tagInputs       = "BIP0352/Inputs"
	tagLabel        = "BIP0352/Label"
	tagSharedSecret = "BIP0352/SharedSecret"
	tagRequest      = "foxtrot/stealth/Request"
	tagTarget       = "foxtrot/stealth/Target"
)

// A tag is a tag's hash twice over: the first block of its tagged hashes.
type tag [64]byte

func newTag(name string) *tag {
	var t tag
	h := sha256.Sum256([]byte(name))
	copy(t[:32], h[:])
	copy(t[32:], h[:])
	return &t
}

var (
	tInputs       = newTag(tagInputs)
	tLabel        = newTag(tagLabel)
	tSharedSecret = newTag(tagSharedSecret)
	tRequest      = newTag(tagRequest)
	tTarget       = newTag(tagTarget)
)

// sum returns the tagged hash of the concatenation of parts.
func (t *tag) sum(parts ...[]byte) [32]byte {
	h := sha256.New()
	h.Write(t[:])
	for _, p := range parts {
		h.Write(p)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// scalar returns the tagged hash as a scalar, or false if it is zero or
// not below the group order (BIP-352: "not a valid scalar, fail").
func (t *tag) scalar(parts ...[]byte) (btcec.ModNScalar, bool) {
	h := t.sum(parts...)
	var s btcec.ModNScalar
	overflow := s.SetBytes(&h)
	return s, overflow == 0 && !s.IsZero()
}

// ser32 is BIP-352's ser32: a big-endian uint32.
func ser32(i uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], i)
	return b[:]
}

// serP writes the compressed form of an affine point (Z = 1).
func serP(p *btcec.JacobianPoint) [33]byte {
	var out [33]byte
	out[0] = 0x02
	if p.Y.IsOddBit() == 1 {
		out[0] = 0x03
	}
	p.X.PutBytesUnchecked(out[1:])
	return out
}

// xOnly writes the x coordinate of an affine point (Z = 1).
func xOnly(p *btcec.JacobianPoint) [32]byte {
	var out [32]byte
	p.X.PutBytesUnchecked(out[:])
	return out
}

// isInfinity reports whether a Jacobian point is the point at infinity.
func isInfinity(p *btcec.JacobianPoint) bool {
	return (p.X.IsZero() && p.Y.IsZero()) || p.Z.IsZero()
}

// hash160 is RIPEMD-160 of SHA-256: a foxtrot key's address hash.
func hash160(b []byte) [20]byte {
	s := sha256.Sum256(b)
	r := ripemd160.New()
	r.Write(s[:])
	var out [20]byte
	r.Sum(out[:0])
	return out
}

// jacobian returns a public key as an affine Jacobian point.
func jacobian(pub *btcec.PublicKey) btcec.JacobianPoint {
	var p btcec.JacobianPoint
	pub.AsJacobian(&p)
	return p
}

// pubKey returns an affine Jacobian point as a public key.
func pubKey(p *btcec.JacobianPoint) *btcec.PublicKey {
	return btcec.NewPublicKey(&p.X, &p.Y)
}
