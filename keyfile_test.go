package foxtrot

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKeyFileRoundTripsAsWIF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.key")
	key, err := GenerateKey()
	require.NoError(t, err)
	require.NoError(t, SaveKey(path, key))

	st, err := os.Stat(path)
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		require.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Regexp(t, `^[KL][1-9A-HJ-NP-Za-km-z]{51}\n$`, string(raw), "a compressed mainnet WIF a wallet imports")

	got, err := LoadKey(path)
	require.NoError(t, err)
	require.Equal(t, key.Serialize(), got.Serialize())
	require.ErrorIs(t, SaveKey(path, key), fs.ErrExist, "never overwrites an identity")
}

func TestLoadOrCreateKeyKeepsTheIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "id.key")
	k1, created, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	require.True(t, created)
	k2, created, err := LoadOrCreateKey(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, AddrFromPubKey(k1.PubKey()), AddrFromPubKey(k2.PubKey()))
}

func TestLoadKeyRefusesAFileOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	path := filepath.Join(t.TempDir(), "id.key")
	key, err := GenerateKey()
	require.NoError(t, err)
	require.NoError(t, SaveKey(path, key))
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = LoadKey(path)
	require.ErrorIs(t, err, ErrKeyFileMode)
	_, _, err = LoadOrCreateKey(path)
	require.ErrorIs(t, err, ErrKeyFileMode, "does not replace a key it refused")
}

func TestLoadKeyRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"empty": "", "text": "hello\n", "hex": "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n",
		"long": string(make([]byte, maxKeyFile+10)),
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		_, err := LoadKey(path)
		require.ErrorIs(t, err, ErrBadKeyFile, name)
	}
}

func TestDecodeKeyKnownVector(t *testing.T) {
	// Private key 1, compressed mainnet WIF.
	k, err := DecodeKey("KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn")
	require.NoError(t, err)
	require.Equal(t, "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", AddrFromPubKey(k.PubKey()).String())
	require.Equal(t, "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn", EncodeKey(k))
}
