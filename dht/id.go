package dht

import (
	"crypto/sha256"
	"encoding/hex"
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
)

// IDSize is the size of a node ID and of a record target.
const IDSize = 32

// ID is a point of the DHT's key space: a node's ID (SHA-256 of its
// compressed identity public key) or a record's target.
type ID [IDSize]byte

// NodeID returns the DHT ID of a node's identity key: SHA-256 of its
// 33-byte compressed form.
func NodeID(pub *btcec.PublicKey) ID { return ID(sha256.Sum256(pub.SerializeCompressed())) }

// String returns the 64 hex digits of id.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Distance is the XOR metric of Kademlia: a XOR b, compared as a
// big-endian number.
func Distance(a, b ID) ID {
	var d ID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// Closer reports whether a is closer to target than b is.
func Closer(target, a, b ID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// CommonPrefixLen returns how many leading bits a and b share (256 if
// equal).
func CommonPrefixLen(a, b ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDSize * 8
}
