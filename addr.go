package foxtrot

import (
	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
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
//
// It is package addr's Addr, under the name it has always had here.
type Addr = addr.Addr

// AddrFromPubKey returns the address of a public key.
func AddrFromPubKey(pub *btcec.PublicKey) Addr { return addr.FromPubKey(pub) }

// AddrFromHash160 returns the address whose HASH160 is h.
func AddrFromHash160(h [20]byte) Addr { return addr.FromHash160(h) }

// ParseAddr parses a foxtrot address. It accepts the Base58Check form
// ("1...") and, as the original 2014 Foxtrot did, the 66 hex characters of
// a compressed public key, which maps to the same Addr. Errors wrap
// ErrBadAddr and one of ErrAddrChecksum, ErrAddrVersion, ErrAddrLength or
// ErrAddrEncoding (or addr.ErrAddrUnsupported, for a stealth address: it
// names no single key, so it is no Addr; stealth.ParseAddress reads it,
// and Dial accepts it).
func ParseAddr(s string) (Addr, error) { return addr.Parse(s) }
