package stealth

import (
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// TestFingerprintVector checks the fingerprint SPEC.md gives for the first
// target vector's scan key.
func TestFingerprintVector(t *testing.T) {
	b, err := hex.DecodeString("c4d21a604362034d262f6eb4859d5ca53b29569c250222904c407764389b67dc")
	require.NoError(t, err)
	scan, _ := btcec.PrivKeyFromBytes(b)
	fp := ScanFingerprint(scan.PubKey())
	require.Equal(t, "b77adbec0a7a69b1", hex.EncodeToString(fp[:]))
	spend, err := GenerateKeys()
	require.NoError(t, err)
	keys, err := NewKeys(scan, spend.SpendKey())
	require.NoError(t, err)
	require.Equal(t, fp, keys.Address().Fingerprint())
	labelled, err := keys.LabelAddress(7)
	require.NoError(t, err)
	require.Equal(t, fp, labelled.Fingerprint(), "every label of an address has its fingerprint")
	require.Equal(t, Fingerprint{}, Address{}.Fingerprint())
}
