package addr

import (
	"encoding/hex"

	"github.com/btcsuite/btcd/btcec/v2"
)

// NodeID is a node's identity: HASH160 of its identity key, the key its
// peer links authenticate. Peer links are keyed by it, and each relay on a
// path is named by it. It prints as Base58Check, as the address of the
// identity key would.
type NodeID [20]byte

// NodeIDFromPubKey returns the NodeID of an identity key.
func NodeIDFromPubKey(pub *btcec.PublicKey) NodeID { return NodeID(hash160(pub)) }

// ParseNodeID parses the value of a /foxtrot/<id> multiaddr component: a
// node's Base58Check ID ("1...") or the 66 hex digits of its compressed
// identity key. With the key form it returns the key as well (else nil),
// so a link can authenticate the peer from the start. Errors are Parse's.
func ParseNodeID(s string) (NodeID, *btcec.PublicKey, error) {
	h, pub, err := parse(s)
	return NodeID(h), pub, err
}

// String returns the Base58Check form.
func (id NodeID) String() string { return encode(id) }

// IsZero reports whether id is all zero: nobody's identity.
func (id NodeID) IsZero() bool { return id == NodeID{} }

// ConnID is a connection ID: HASH160 of a connect request without its hop
// limit. Every relay on every path of the connection computes the same one.
type ConnID [20]byte

// String returns the 40 lowercase hex digits of id.
func (id ConnID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zero.
func (id ConnID) IsZero() bool { return id == ConnID{} }
