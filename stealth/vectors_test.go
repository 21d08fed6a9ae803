package stealth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// targetVector is one connection-target vector of SPEC.md, "Stealth
// targets": the inputs, each intermediate value, and the results.
type targetVector struct {
	Comment   string  `json:"comment"`
	ScanPriv  string  `json:"scan_priv_key"`
	SpendPriv string  `json:"spend_priv_key"`
	Label     *uint32 `json:"label,omitempty"`
	Address   string  `json:"address"`
	EphPriv   string  `json:"ephemeral_priv_key"`
	EphPub    string  `json:"ephemeral_pub_key"`
	Nonce     string  `json:"nonce"`
	TReq      string  `json:"t_req"`
	Shared    string  `json:"shared_secret"`
	Tweak     string  `json:"tweak"`
	OneTime   string  `json:"one_time_pub_key"`
	Target    string  `json:"target"`
	OneTimeSK string  `json:"one_time_priv_key"`
}

// seeded returns a private key from a seed string, for reproducible
// vectors.
func seeded(seed string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte(seed))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// makeTargetVector computes a vector from its inputs by the dialler's
// path (OneTimeKey), checking the listener's path (Match, PrivateKey,
// Derive) against it.
func makeTargetVector(t *testing.T, comment string, scan, spend, eph *btcec.PrivateKey, nonce []byte, label *uint32) targetVector {
	t.Helper()
	keys, err := NewKeys(scan, spend)
	require.NoError(t, err)
	addr := keys.Address()
	var labels []uint32
	if label != nil {
		addr, err = keys.LabelAddress(*label)
		require.NoError(t, err)
		labels = append(labels, *label)
	}
	var e btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&eph.Key, &e)
	e.ToAffine()
	treq, err := requestScalar(nonce, &e)
	require.NoError(t, err)
	var s btcec.ModNScalar
	s.Mul2(&treq, &eph.Key)
	bscan := jacobian(addr.Scan)
	var shared btcec.JacobianPoint
	btcec.ScalarMultNonConst(&s, &bscan, &shared)
	shared.ToAffine()
	tw, err := targetScalar(&shared)
	require.NoError(t, err)

	p, err := addr.OneTimeKey(eph, nonce)
	require.NoError(t, err)
	scanner, err := keys.Scanner(labels...)
	require.NoError(t, err)
	full, ok := scanner.Match(eph.PubKey(), nonce, Target(p))
	require.True(t, ok)
	sk, err := keys.PrivateKey(full)
	require.NoError(t, err)
	require.True(t, sk.PubKey().IsEqual(p))
	if label == nil {
		d, err := keys.Derive(eph.PubKey(), nonce)
		require.NoError(t, err)
		require.Equal(t, sk.Key, d.Key)
	}

	serS := serP(&shared)
	treqB, twB, skB := treq.Bytes(), tw.Bytes(), sk.Key.Bytes()
	target := Target(p)
	return targetVector{
		Comment:   comment,
		ScanPriv:  hexOf(scan.Serialize()),
		SpendPriv: hexOf(spend.Serialize()),
		Label:     label,
		Address:   addr.String(),
		EphPriv:   hexOf(eph.Serialize()),
		EphPub:    hexOf(eph.PubKey().SerializeCompressed()),
		Nonce:     hexOf(nonce),
		TReq:      hexOf(treqB[:]),
		Shared:    hexOf(serS[:]),
		Tweak:     hexOf(twB[:]),
		OneTime:   hexOf(p.SerializeCompressed()),
		Target:    hexOf(target[:]),
		OneTimeSK: hexOf(skB[:]),
	}
}

// TestTargetVectors checks testdata/vectors.json (SPEC.md's vectors), or
// rewrites it with -update.
func TestTargetVectors(t *testing.T) {
	scan, spend := seeded("foxtrot stealth vector scan"), seeded("foxtrot stealth vector spend")
	seven := uint32(7)
	nonce := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:NonceSize] }
	got := []targetVector{
		makeTargetVector(t, "one connection", scan, spend, seeded("ephemeral 1"), nonce("nonce 1"), nil),
		makeTargetVector(t, "a second connection to the same address: fresh ephemeral key and nonce", scan, spend, seeded("ephemeral 2"), nonce("nonce 2"), nil),
		makeTargetVector(t, "the first ephemeral key with another nonce", scan, spend, seeded("ephemeral 1"), nonce("nonce 3"), nil),
		makeTargetVector(t, "a connection to the address with label 7", scan, spend, seeded("ephemeral 4"), nonce("nonce 4"), &seven),
	}
	const path = "testdata/vectors.json"
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var want []targetVector
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Len(t, want, len(got))
	require.Equal(t, want, got)

	// And from the file alone, as another implementation would use it.
	for _, v := range want {
		scan, _ := btcec.PrivKeyFromBytes(unhex(t, v.ScanPriv))
		spend, _ := btcec.PrivKeyFromBytes(unhex(t, v.SpendPriv))
		eph, _ := btcec.PrivKeyFromBytes(unhex(t, v.EphPriv))
		a, err := ParseAddress(v.Address)
		require.NoError(t, err)
		p, err := a.OneTimeKey(eph, unhex(t, v.Nonce))
		require.NoError(t, err)
		require.Equal(t, v.OneTime, hexOf(p.SerializeCompressed()), v.Comment)
		keys, err := NewKeys(scan, spend)
		require.NoError(t, err)
		var labels []uint32
		if v.Label != nil {
			labels = append(labels, *v.Label)
		}
		scanner, err := keys.Scanner(labels...)
		require.NoError(t, err)
		e, err := btcec.ParsePubKey(unhex(t, v.EphPub))
		require.NoError(t, err)
		tweak, ok := scanner.Match(e, unhex(t, v.Nonce), [20]byte(unhex(t, v.Target)))
		require.True(t, ok, v.Comment)
		sk, err := keys.PrivateKey(tweak)
		require.NoError(t, err)
		b := sk.Key.Bytes()
		require.Equal(t, v.OneTimeSK, hexOf(b[:]), v.Comment)
	}
}

// TestSpecQuotesTheVectors checks that SPEC.md's "Stealth targets" quotes
// the first vector and the labelled one as the file has them.
func TestSpecQuotesTheVectors(t *testing.T) {
	spec, err := os.ReadFile("../SPEC.md")
	require.NoError(t, err)
	raw, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var vs []targetVector
	require.NoError(t, json.Unmarshal(raw, &vs))
	require.Len(t, vs, 4)
	v, l := vs[0], vs[3]
	for _, s := range []string{v.ScanPriv, v.SpendPriv, v.Address, v.EphPriv, v.EphPub, v.Nonce, v.TReq,
		v.Shared, v.Tweak, v.OneTime, v.Target, v.OneTimeSK, l.Address, l.OneTime, l.OneTimeSK} {
		require.Contains(t, string(spec), s)
	}
}
