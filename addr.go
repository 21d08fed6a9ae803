package foxtrot

import (
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"

	"github.com/foxtrotnet/foxtrot/internal/ident"
)

// GenerateKey returns a new random secp256k1 key, usable as a node
// identity or as a key to Listen on.
func GenerateKey() (*btcec.PrivateKey, error) { return btcec.NewPrivateKey() }

// Addr is a foxtrot address: HASH160 (RIPEMD-160 of SHA-256) of a
// compressed secp256k1 public key. It implements net.Addr. Its string form
// is the Base58Check encoding with version byte 0x00, as a Bitcoin mainnet
// P2PKH address, so it reads like one ("1...") and any wallet can produce
// it from a key. Addr is comparable and can be a map key. The zero Addr
// (all-zero hash) is nobody's address; IsZero reports it.
type Addr struct {
	hash [20]byte
}

// AddrFromPubKey returns the address of a public key.
func AddrFromPubKey(pub *btcec.PublicKey) Addr { return Addr{hash: ident.Hash160(pub)} }

// AddrFromHash160 returns the address whose HASH160 is h.
func AddrFromHash160(h [20]byte) Addr { return Addr{hash: h} }

// ParseAddr parses a foxtrot address. It accepts the Base58Check form
// ("1...") and, as the original 2014 Foxtrot did, the 66 hex characters of
// a compressed public key, which maps to the same Addr. Errors wrap
// ErrBadAddr and one of ErrAddrChecksum, ErrAddrVersion, ErrAddrLength or
// ErrAddrEncoding.
func ParseAddr(s string) (Addr, error) {
	if len(s) == 66 {
		if b, err := hex.DecodeString(s); err == nil {
			pub, err := btcec.ParsePubKey(b)
			if err != nil || len(b) != 33 {
				return Addr{}, fmt.Errorf("%w %q: %w: not a compressed public key", ErrBadAddr, s, ErrAddrEncoding)
			}
			return AddrFromPubKey(pub), nil
		}
	}
	payload, version, err := base58.CheckDecode(s)
	switch {
	case err == base58.ErrChecksum:
		return Addr{}, fmt.Errorf("%w %q: %w", ErrBadAddr, s, ErrAddrChecksum)
	case err != nil:
		return Addr{}, fmt.Errorf("%w %q: %w: %v", ErrBadAddr, s, ErrAddrEncoding, err)
	case version != ident.Version:
		return Addr{}, fmt.Errorf("%w %q: %w: got %d, want %d", ErrBadAddr, s, ErrAddrVersion, version, ident.Version)
	case len(payload) != 20:
		return Addr{}, fmt.Errorf("%w %q: %w: %d-byte payload, want 20", ErrBadAddr, s, ErrAddrLength, len(payload))
	}
	var a Addr
	copy(a.hash[:], payload)
	return a, nil
}

// Network returns "foxtrot".
func (a Addr) Network() string { return "foxtrot" }

// String returns the Base58Check form.
func (a Addr) String() string {
	return ident.String(a.hash)
}

// Hash160 returns the 20-byte hash the address encodes.
func (a Addr) Hash160() [20]byte { return a.hash }

// IsZero reports whether a is the zero Addr.
func (a Addr) IsZero() bool { return a.hash == [20]byte{} }
