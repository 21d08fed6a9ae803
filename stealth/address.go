package stealth

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/bech32"
)

// Human-readable parts of BIP-352 addresses.
const (
	HRPMainnet = "sp"
	HRPTestnet = "tsp" // testnet and signet
)

// MaxAddressLen is BIP-352's recommended limit on an address's length:
// bech32's 90 characters are too few (a version 0 address has 116 or
// 117), and later versions may add data.
const MaxAddressLen = 1023

// An Address is a silent payment address: a scan key and a spend key.
// The zero value is not a valid address.
type Address struct {
	// Scan is B_scan, the key whose private half finds payments and
	// recognises connection requests.
	Scan *btcec.PublicKey
	// Spend is B_m: the spend key B_spend, plus the label's tweak for a
	// labelled address (B_m = B_spend + hash_BIP0352/Label(b_scan || m)·G).
	Spend *btcec.PublicKey
	// Testnet selects the "tsp" human-readable part (testnet, signet);
	// false, the default, is mainnet's "sp".
	Testnet bool
}

// ParseAddress parses a silent payment address, sp1... or tsp1...
//
// As BIP-352 says for a version 0 reader: version 0 must carry exactly the
// 66 bytes of two compressed keys; versions 1 to 30 are read as their
// first 66 bytes (the rest is for later versions); version 31 fails.
// Upper case is accepted, mixed case is not. The error wraps
// ErrBadAddress.
func ParseAddress(s string) (Address, error) {
	if len(s) > MaxAddressLen {
		return Address{}, fmt.Errorf("%w: %d characters, more than %d", ErrBadAddress, len(s), MaxAddressLen)
	}
	hrp, data, enc, err := bech32.DecodeNoLimitWithVersion(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	var a Address
	switch hrp {
	case HRPMainnet:
	case HRPTestnet:
		a.Testnet = true
	default:
		return Address{}, fmt.Errorf("%w: human-readable part %q is not sp or tsp", ErrBadAddress, hrp)
	}
	if enc != bech32.VersionM {
		return Address{}, fmt.Errorf("%w: bech32 checksum, not bech32m", ErrBadAddress)
	}
	if len(data) < 1 {
		return Address{}, fmt.Errorf("%w: no version", ErrBadAddress)
	}
	version := data[0]
	if version == 31 {
		return Address{}, fmt.Errorf("%w: version 31 is reserved", ErrBadAddress)
	}
	payload, err := bech32.ConvertBits(data[1:], 5, 8, false)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrBadAddress, err)
	}
	if version == 0 && len(payload) != 66 || len(payload) < 66 {
		return Address{}, fmt.Errorf("%w: version %d with %d bytes of keys", ErrBadAddress, version, len(payload))
	}
	if a.Scan, err = btcec.ParsePubKey(payload[:33]); err != nil {
		return Address{}, fmt.Errorf("%w: scan key: %v", ErrBadAddress, err)
	}
	if a.Spend, err = btcec.ParsePubKey(payload[33:66]); err != nil {
		return Address{}, fmt.Errorf("%w: spend key: %v", ErrBadAddress, err)
	}
	return a, nil
}

// String returns the address in bech32m, version 0: sp1q... or tsp1q...
// It returns "" for an address without both keys.
func (a Address) String() string {
	if a.Scan == nil || a.Spend == nil {
		return ""
	}
	payload := make([]byte, 0, 66)
	payload = append(payload, a.Scan.SerializeCompressed()...)
	payload = append(payload, a.Spend.SerializeCompressed()...)
	data, err := bech32.ConvertBits(payload, 8, 5, true)
	if err != nil {
		return "" // cannot happen: 8-to-5 with padding always converts
	}
	s, err := bech32.EncodeM(a.hrp(), append([]byte{0}, data...))
	if err != nil {
		return ""
	}
	return s
}

func (a Address) hrp() string {
	if a.Testnet {
		return HRPTestnet
	}
	return HRPMainnet
}

// Equal reports whether two addresses have the same keys and network.
func (a Address) Equal(b Address) bool {
	return a.Testnet == b.Testnet && sameKey(a.Scan, b.Scan) && sameKey(a.Spend, b.Spend)
}

func sameKey(x, y *btcec.PublicKey) bool {
	if x == nil || y == nil {
		return x == y
	}
	return x.IsEqual(y)
}

// check returns ErrBadKey if the address lacks a key.
func (a Address) check() error {
	if a.Scan == nil || a.Spend == nil {
		return fmt.Errorf("%w: address without scan or spend key", ErrBadKey)
	}
	return nil
}
