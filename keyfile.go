package foxtrot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
)

// maxKeyFile bounds what LoadKey reads: a WIF key is 52 characters.
const maxKeyFile = 4096

// EncodeKey returns key in Wallet Import Format (compressed, mainnet
// version byte 0x80, "K..." or "L..."): the form a key file holds, which
// a Bitcoin wallet can import.
func EncodeKey(key *btcec.PrivateKey) string {
	w, err := btcutil.NewWIF(key, &chaincfg.MainNetParams, true)
	if err != nil { // only for nil params, which these are not
		return ""
	}
	return w.String()
}

// DecodeKey parses a WIF private key (any network's version byte, as
// wallets write them for mainnet, testnet or regtest). Errors wrap
// ErrBadKeyFile.
func DecodeKey(s string) (*btcec.PrivateKey, error) {
	w, err := btcutil.DecodeWIF(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	if w.PrivKey.Key.IsZero() {
		return nil, fmt.Errorf("%w: zero key", ErrBadKeyFile)
	}
	return w.PrivKey, nil
}

// LoadKey reads a key file written by SaveKey: one WIF key, optionally
// followed by a newline. On Unix it refuses (ErrKeyFileMode) a file that
// users other than its owner can read or write, as ssh does.
func LoadKey(path string) (*btcec.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 %s)", ErrKeyFileMode, path, st.Mode().Perm(), path)
	}
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrBadKeyFile, path, maxKeyFile)
	}
	k, err := DecodeKey(string(bytes.TrimSpace(buf)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// SaveKey writes key to a new file at path in WIF with mode 0600, synced
// to disk. It refuses to overwrite an existing file (the error wraps
// fs.ErrExist): a key file is an identity, replacing one is never an
// accident worth allowing.
func SaveKey(path string, key *btcec.PrivateKey) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(EncodeKey(key) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(path)
		return werr
	}
	return nil
}

// LoadOrCreateKey loads the key file at path, or, if there is none,
// generates a key and saves it there (creating the directory with mode
// 0700 if needed). created reports which. Two processes racing to create
// the same file both end up with the one that was written first.
func LoadOrCreateKey(path string) (key *btcec.PrivateKey, created bool, err error) {
	key, err = LoadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, err
		}
	}
	if key, err = GenerateKey(); err != nil {
		return nil, false, err
	}
	if err = SaveKey(path, key); errors.Is(err, fs.ErrExist) {
		key, err = LoadKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}
