// Package ident is the old home of foxtrot's identity helpers. Package addr
// now defines them (addr.NodeID, addr.Addr); these forward to it for the
// code not yet moved onto addr's types (route), and go once it has.
package ident

import (
	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Version is the Base58Check version byte of an address.
const Version = addr.Version

// Hash160 returns HASH160 (RIPEMD-160 of SHA-256) of the compressed key.
func Hash160(pub *btcec.PublicKey) [20]byte { return addr.NodeIDFromPubKey(pub) }

// String returns the Base58Check form of a hash.
func String(h [20]byte) string { return addr.NodeID(h).String() }

// KeyString returns the Base58Check address of a key.
func KeyString(pub *btcec.PublicKey) string { return addr.FromPubKey(pub).String() }
