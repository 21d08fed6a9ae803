// Package addr names who and what foxtrot talks about, and parses every
// textual form of it in one place.
//
// Three things are HASH160 (RIPEMD-160 of SHA-256) of something, and each
// has its own type so that one cannot be passed for another:
//
//   - Addr, an address: HASH160 of a compressed secp256k1 public key that a
//     node listens on. It is what Dial takes and what a connect request
//     targets (its Hash160 goes on the wire). It implements net.Addr.
//   - NodeID, a node's identity: HASH160 of the node's identity key, the
//     key its peer links authenticate. It names the far end of a peer
//     link and each relay on a path. A node's identity key is separate
//     from the keys it listens on, so a NodeID is never an Addr, though
//     both print the same way (the NodeID of key k reads as the address of
//     k).
//   - ConnID, a connection ID: HASH160 of a connect request without its
//     hop limit. It names one connection at every relay on its paths.
//
// Addr and NodeID print as Base58Check with version byte 0x00, as a Bitcoin
// mainnet P2PKH address ("1..."), so a wallet can produce one from a key.
// ConnID prints as 40 lowercase hex digits: it is a handle in logs and
// wire dumps, never typed by a user, and hex is how SPEC.md's vectors
// (route/testdata/vectors.json) write it.
//
// # Forms
//
// Parse reads an address in any form: Base58Check ("1..."), or the 66 hex
// digits of a compressed public key as the 2014 Foxtrot wrote addresses
// (which maps to the same Addr). ParseNodeID reads the value of a
// /foxtrot/<id> multiaddr component, which is one of the same two forms;
// given a key it returns the key too, so a peer link can authenticate it
// directly. Stealth addresses ("sp1..."/"tsp1...", BIP-352) are recognised
// (IsStealth) and refused with ErrAddrUnsupported: they name no single
// key, so they are no Addr; package stealth parses them, and the root's
// Dial accepts them.
//
// addr imports nothing of foxtrot's, so every layer can use it.
package addr

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
)

// Version is the Base58Check version byte of an address or node ID: 0x00,
// as a Bitcoin mainnet P2PKH address.
const Version = 0x00

// Addr is a foxtrot address: HASH160 of a compressed secp256k1 public key.
// It implements net.Addr with Network() "foxtrot"; its string form is
// Base58Check ("1..."). Addr is comparable and can be a map key. The zero
// Addr (all-zero hash) is nobody's address; IsZero reports it.
type Addr struct {
	hash [20]byte
}

// FromPubKey returns the address of a public key.
func FromPubKey(pub *btcec.PublicKey) Addr { return Addr{hash: hash160(pub)} }

// FromHash160 returns the address whose HASH160 is h.
func FromHash160(h [20]byte) Addr { return Addr{hash: h} }

// Parse parses an address in any form it may be written in (see the
// package comment). Errors wrap ErrBadAddr and one of ErrAddrChecksum,
// ErrAddrVersion, ErrAddrLength, ErrAddrEncoding or ErrAddrUnsupported.
func Parse(s string) (Addr, error) {
	h, _, err := parse(s)
	return Addr{hash: h}, err
}

// Network returns "foxtrot".
func (a Addr) Network() string { return "foxtrot" }

// String returns the Base58Check form.
func (a Addr) String() string { return encode(a.hash) }

// Hash160 returns the 20-byte hash the address encodes.
func (a Addr) Hash160() [20]byte { return a.hash }

// IsZero reports whether a is the zero Addr.
func (a Addr) IsZero() bool { return a.hash == [20]byte{} }

// form is a textual form of an address.
type form int

const (
	formBase58  form = iota // Base58Check, version 0, 20-byte payload
	formKeyHex              // 66 hex digits of a compressed public key
	formStealth             // BIP-352 bech32m, "sp1..." or "tsp1..." (package stealth)
)

// formOf tells the forms apart. They cannot be confused: a 66-character
// string is longer than any Base58Check address (at most 35), and a
// version-0 address starts with "1", never "sp1" or "tsp1".
func formOf(s string) form {
	if len(s) == 66 && isHex(s) {
		return formKeyHex
	}
	if l := strings.ToLower(s[:min(len(s), 4)]); strings.HasPrefix(l, "sp1") || strings.HasPrefix(l, "tsp1") {
		return formStealth
	}
	return formBase58
}

// IsStealth reports whether s is written as a stealth address ("sp1..."
// or "tsp1...", BIP-352, any case): package stealth parses those; Parse
// refuses them with ErrAddrUnsupported, as they name no single key.
func IsStealth(s string) bool { return formOf(s) == formStealth }

// parse is the one parser: every form gives the hash; the key form also
// gives the key.
func parse(s string) ([20]byte, *btcec.PublicKey, error) {
	switch formOf(s) {
	case formKeyHex:
		pub, err := parseKeyHex(s)
		if err != nil {
			return [20]byte{}, nil, err
		}
		return hash160(pub), pub, nil
	case formStealth:
		return [20]byte{}, nil, fmt.Errorf("%w %q: %w: a stealth address names no single key (dial it with package foxtrot, parse it with package stealth)", ErrBadAddr, s, ErrAddrUnsupported)
	default:
		h, err := parseBase58(s)
		return h, nil, err
	}
}

func parseKeyHex(s string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err == nil && len(b) == 33 {
		if pub, err := btcec.ParsePubKey(b); err == nil {
			return pub, nil
		}
	}
	return nil, fmt.Errorf("%w %q: %w: not a compressed public key", ErrBadAddr, s, ErrAddrEncoding)
}

func parseBase58(s string) ([20]byte, error) {
	var h [20]byte
	payload, version, err := base58.CheckDecode(s)
	switch {
	case err == base58.ErrChecksum:
		return h, fmt.Errorf("%w %q: %w", ErrBadAddr, s, ErrAddrChecksum)
	case err != nil:
		return h, fmt.Errorf("%w %q: %w: %v", ErrBadAddr, s, ErrAddrEncoding, err)
	case version != Version:
		return h, fmt.Errorf("%w %q: %w: got %d, want %d", ErrBadAddr, s, ErrAddrVersion, version, Version)
	case len(payload) != 20:
		return h, fmt.Errorf("%w %q: %w: %d-byte payload, want 20", ErrBadAddr, s, ErrAddrLength, len(payload))
	}
	copy(h[:], payload)
	return h, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hash160 is HASH160 of the compressed key.
func hash160(pub *btcec.PublicKey) [20]byte {
	var h [20]byte
	copy(h[:], btcutil.Hash160(pub.SerializeCompressed()))
	return h
}

// encode is the Base58Check form of a hash.
func encode(h [20]byte) string { return base58.CheckEncode(h[:], Version) }
