package cosign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// MaxKeys is the largest N of an M-of-N wallet (OP_CHECKMULTISIG's limit).
const MaxKeys = txscript.MaxPubKeysPerMultiSig

// Network returns the chain parameters for "regtest", "testnet" (testnet3)
// or "mainnet".
func Network(name string) (*chaincfg.Params, error) {
	switch name {
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "testnet", "testnet3":
		return &chaincfg.TestNet3Params, nil
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	}
	return nil, fmt.Errorf("%w: unknown network %q (want regtest, testnet or mainnet)", ErrWallet, name)
}

func networkName(p *chaincfg.Params) string {
	switch p.Net {
	case chaincfg.RegressionNetParams.Net:
		return "regtest"
	case chaincfg.TestNet3Params.Net:
		return "testnet"
	case chaincfg.MainNetParams.Net:
		return "mainnet"
	}
	return p.Name
}

// Wallet is an M-of-N P2WSH multisig wallet: its description (keys, M,
// network) and the scripts derived from it. A Wallet is immutable and safe
// for concurrent use; build one with NewWallet or ParseWallet.
type Wallet struct {
	m        int
	keys     []*btcec.PublicKey // sorted by compressed encoding (BIP 67)
	net      *chaincfg.Params
	script   []byte // witness script: OP_M <keys> OP_N OP_CHECKMULTISIG
	pkScript []byte // OP_0 <sha256(script)>
	addr     *btcutil.AddressWitnessScriptHash
}

// NewWallet returns the m-of-len(keys) wallet on net. Keys are sorted by
// their compressed encoding, so every co-signer derives the same script
// whatever order it lists them in. Duplicate keys are an error.
func NewWallet(m int, keys []*btcec.PublicKey, net *chaincfg.Params) (*Wallet, error) {
	if net == nil {
		return nil, fmt.Errorf("%w: no network", ErrWallet)
	}
	if len(keys) < 1 || len(keys) > MaxKeys {
		return nil, fmt.Errorf("%w: %d keys (want 1 to %d)", ErrWallet, len(keys), MaxKeys)
	}
	if m < 1 || m > len(keys) {
		return nil, fmt.Errorf("%w: M=%d with %d keys", ErrWallet, m, len(keys))
	}
	sorted := slices.Clone(keys)
	for _, k := range sorted {
		if k == nil {
			return nil, fmt.Errorf("%w: nil key", ErrWallet)
		}
	}
	slices.SortFunc(sorted, func(a, b *btcec.PublicKey) int {
		return bytes.Compare(a.SerializeCompressed(), b.SerializeCompressed())
	})
	addrs := make([]*btcutil.AddressPubKey, len(sorted))
	for i, k := range sorted {
		if i > 0 && sorted[i-1].IsEqual(k) {
			return nil, fmt.Errorf("%w: duplicate key %x", ErrWallet, k.SerializeCompressed())
		}
		a, err := btcutil.NewAddressPubKey(k.SerializeCompressed(), net)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWallet, err)
		}
		addrs[i] = a
	}
	script, err := txscript.MultiSigScript(addrs, m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWallet, err)
	}
	h := sha256.Sum256(script)
	addr, err := btcutil.NewAddressWitnessScriptHash(h[:], net)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWallet, err)
	}
	pkScript, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWallet, err)
	}
	return &Wallet{m: m, keys: sorted, net: net, script: script, pkScript: pkScript, addr: addr}, nil
}

// walletJSON is the wallet file:
//
//	{"network": "regtest", "m": 2, "keys": ["02…", "03…", "02…"]}
type walletJSON struct {
	Network string   `json:"network"`
	M       int      `json:"m"`
	Keys    []string `json:"keys"`
}

// ParseWallet parses a wallet description (JSON, see MarshalJSON).
func ParseWallet(data []byte) (*Wallet, error) {
	var wj walletJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wj); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWallet, err)
	}
	net, err := Network(wj.Network)
	if err != nil {
		return nil, err
	}
	keys := make([]*btcec.PublicKey, len(wj.Keys))
	for i, s := range wj.Keys {
		if keys[i], err = ParsePublicKey(s); err != nil {
			return nil, err
		}
	}
	return NewWallet(wj.M, keys, net)
}

// LoadWallet reads and parses a wallet file.
func LoadWallet(path string) (*Wallet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWallet(data)
}

// MarshalJSON returns the wallet description, keys in sorted order:
// {"network": "regtest", "m": 2, "keys": ["02…", …]}.
func (w *Wallet) MarshalJSON() ([]byte, error) {
	wj := walletJSON{Network: networkName(w.net), M: w.m}
	for _, k := range w.keys {
		wj.Keys = append(wj.Keys, hex.EncodeToString(k.SerializeCompressed()))
	}
	return json.MarshalIndent(wj, "", "  ")
}

// M returns the number of signatures a spend needs.
func (w *Wallet) M() int { return w.m }

// Keys returns the wallet's keys in script order.
func (w *Wallet) Keys() []*btcec.PublicKey { return slices.Clone(w.keys) }

// Params returns the wallet's chain parameters.
func (w *Wallet) Params() *chaincfg.Params { return w.net }

// WitnessScript returns the M-of-N OP_CHECKMULTISIG witness script.
func (w *Wallet) WitnessScript() []byte { return slices.Clone(w.script) }

// PkScript returns the P2WSH output script that pays the wallet.
func (w *Wallet) PkScript() []byte { return slices.Clone(w.pkScript) }

// Address returns the wallet's P2WSH address.
func (w *Wallet) Address() btcutil.Address { return w.addr }

// IsMember reports whether pub is one of the wallet's keys.
func (w *Wallet) IsMember(pub *btcec.PublicKey) bool {
	if pub == nil {
		return false
	}
	return slices.ContainsFunc(w.keys, pub.IsEqual)
}

// ParsePublicKey parses a compressed public key in hex.
func ParsePublicKey(s string) (*btcec.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != btcec.PubKeyBytesLenCompressed {
		return nil, fmt.Errorf("%w: %q is not a compressed public key in hex", ErrWallet, s)
	}
	pub, err := btcec.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWallet, err)
	}
	return pub, nil
}

// keyJSON is a co-signer's key file: {"private_key": "<32 bytes hex>"}.
type keyJSON struct {
	PrivateKey string `json:"private_key"`
}

// GenerateKey returns a new random private key.
func GenerateKey() (*btcec.PrivateKey, error) { return btcec.NewPrivateKey() }

// MarshalKey returns the key file contents for key.
func MarshalKey(key *btcec.PrivateKey) []byte {
	b, _ := json.MarshalIndent(keyJSON{PrivateKey: hex.EncodeToString(key.Serialize())}, "", "  ")
	return append(b, '\n')
}

// ParseKey parses a key file.
func ParseKey(data []byte) (*btcec.PrivateKey, error) {
	var kj keyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kj); err != nil {
		return nil, fmt.Errorf("%w: key file: %w", ErrWallet, err)
	}
	b, err := hex.DecodeString(kj.PrivateKey)
	if err != nil || len(b) != btcec.PrivKeyBytesLen {
		return nil, fmt.Errorf("%w: key file: private_key is not 32 bytes of hex", ErrWallet)
	}
	var k btcec.ModNScalar
	if overflow := k.SetByteSlice(b); overflow || k.IsZero() {
		return nil, fmt.Errorf("%w: key file: private key is zero or out of range", ErrWallet)
	}
	return btcec.PrivKeyFromScalar(&k), nil
}

// LoadKey reads and parses a key file.
func LoadKey(path string) (*btcec.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(data)
}

// SaveKey writes key to a new file at path, readable only by its owner. It
// never overwrites an existing file.
func SaveKey(path string, key *btcec.PrivateKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(MarshalKey(key)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// shortKey abbreviates a public key for messages meant for people.
func shortKey(pub *btcec.PublicKey) string {
	if pub == nil {
		return "<nil key>"
	}
	return fmt.Sprintf("%x…", pub.SerializeCompressed()[:6])
}
