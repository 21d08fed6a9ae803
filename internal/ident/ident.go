// Package ident computes foxtrot identities: HASH160 of a compressed
// secp256k1 public key, and its Base58Check string (version 0x00, as a
// Bitcoin P2PKH address). The root package's Addr and the peer layer both
// use it, so there is one definition of "who a key is".
package ident

import (
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
)

// Version is the Base58Check version byte of an address.
const Version = 0x00

// Hash160 returns HASH160 (RIPEMD-160 of SHA-256) of the compressed key.
func Hash160(pub *btcec.PublicKey) [20]byte {
	var h [20]byte
	copy(h[:], btcutil.Hash160(pub.SerializeCompressed()))
	return h
}

// String returns the Base58Check form of a hash.
func String(h [20]byte) string { return base58.CheckEncode(h[:], Version) }

// KeyString returns the Base58Check address of a key.
func KeyString(pub *btcec.PublicKey) string { return String(Hash160(pub)) }
