package cosign

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"
)

func TestEveryCosignerDerivesTheSameAddressWhateverTheKeyOrder(t *testing.T) {
	a := testWallet(t, 2, "alice", "bob", "carol")
	b := testWallet(t, 2, "carol", "alice", "bob")
	require.Equal(t, a.Address().EncodeAddress(), b.Address().EncodeAddress())
	require.Equal(t, a.WitnessScript(), b.WitnessScript())
	require.Regexp(t, "^bcrt1q", a.Address().EncodeAddress())

	class, addrs, m, err := txscript.ExtractPkScriptAddrs(a.WitnessScript(), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	require.Equal(t, txscript.MultiSigTy, class)
	require.Equal(t, 2, m)
	require.Len(t, addrs, 3)
	require.Equal(t, txscript.WitnessV0ScriptHashTy, txscript.GetScriptClass(a.PkScript()))
}

func TestWalletFileRoundTrips(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	js, err := w.MarshalJSON()
	require.NoError(t, err)
	back, err := ParseWallet(js)
	require.NoError(t, err)
	require.Equal(t, w.Address().EncodeAddress(), back.Address().EncodeAddress())
	require.Equal(t, 2, back.M())
	require.Len(t, back.Keys(), 3)
	require.Same(t, &chaincfg.RegressionNetParams, back.Params())
}

func TestBadWalletDescriptionsAreRefused(t *testing.T) {
	k := func(n string) string { return hex.EncodeToString(testKey(n).PubKey().SerializeCompressed()) }
	for name, js := range map[string]string{
		"M above N":        `{"network":"regtest","m":3,"keys":["` + k("a") + `","` + k("b") + `"]}`,
		"M of zero":        `{"network":"regtest","m":0,"keys":["` + k("a") + `"]}`,
		"no keys":          `{"network":"regtest","m":1,"keys":[]}`,
		"duplicate key":    `{"network":"regtest","m":1,"keys":["` + k("a") + `","` + k("a") + `"]}`,
		"uncompressed key": `{"network":"regtest","m":1,"keys":["` + hex.EncodeToString(testKey("a").PubKey().SerializeUncompressed()) + `"]}`,
		"not a point":      `{"network":"regtest","m":1,"keys":["02` + "0000000000000000000000000000000000000000000000000000000000000000" + `"]}`,
		"unknown network":  `{"network":"signet","m":1,"keys":["` + k("a") + `"]}`,
		"unknown field":    `{"network":"regtest","m":1,"keys":["` + k("a") + `"],"extra":1}`,
		"not JSON":         `m=2`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseWallet([]byte(js))
			require.ErrorIs(t, err, ErrWallet)
		})
	}
	_, err := NewWallet(1, make([]*btcec.PublicKey, MaxKeys+1), &chaincfg.RegressionNetParams)
	require.ErrorIs(t, err, ErrWallet)
}

func TestKeyFileRoundTripsIsPrivateAndIsNeverOverwritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice.key")
	key := testKey("alice")
	require.NoError(t, SaveKey(path, key))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	back, err := LoadKey(path)
	require.NoError(t, err)
	require.Equal(t, key.Serialize(), back.Serialize())
	require.Error(t, SaveKey(path, testKey("bob")), "an existing key file is kept")

	for name, js := range map[string]string{
		"zero key":   `{"private_key":"` + hex.EncodeToString(make([]byte, 32)) + `"}`,
		"above N":    `{"private_key":"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"}`,
		"short":      `{"private_key":"0102"}`,
		"not hex":    `{"private_key":"zz"}`,
		"wrong name": `{"key":"01"}`,
	} {
		_, err := ParseKey([]byte(js))
		require.ErrorIs(t, err, ErrWallet, name)
	}
}
