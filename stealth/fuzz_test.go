package stealth

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseAddress: no input panics; whatever parses re-encodes to an
// address that parses to the same keys, and a version 0 address
// re-encodes to itself (in lower case).
func FuzzParseAddress(f *testing.F) {
	raw, err := os.ReadFile("testdata/send_and_receive_test_vectors.json")
	require.NoError(f, err)
	var cases []bip352Case
	require.NoError(f, json.Unmarshal(raw, &cases))
	for _, c := range cases {
		for _, r := range c.Receiving {
			for _, a := range r.Expected.Addresses {
				f.Add(a)
			}
		}
	}
	keys, err := NewKeys(seeded("fuzz scan"), seeded("fuzz spend"))
	require.NoError(f, err)
	f.Add(keys.TestnetAddress().String())
	f.Add(strings.ToUpper(keys.Address().String()))
	f.Add("sp1")
	f.Add("tsp1qqqqqqqqq")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			require.ErrorIs(t, err, ErrBadAddress)
			return
		}
		out := a.String()
		b, err := ParseAddress(out)
		require.NoError(t, err)
		require.True(t, a.Equal(b))
		lower := strings.ToLower(s)
		if strings.HasPrefix(lower, a.hrp()+"1q") {
			require.Equal(t, lower, out)
		}
	})
}

// FuzzParseRequest: the stealth fields of a connect request, as a
// listener receives them from strangers. No input panics; a request that
// parses is matched or not, and a match gives the key whose hash is the
// target.
func FuzzParseRequest(f *testing.F) {
	keys, err := NewKeys(seeded("fuzz scan"), seeded("fuzz spend"))
	require.NoError(f, err)
	scanner, err := keys.Scanner(1)
	require.NoError(f, err)
	for i, a := range []Address{keys.Address(), mustLabel(f, keys, 1)} {
		var nonce [NonceSize]byte
		nonce[0] = byte(i)
		r, _, err := a.NewRequest(seeded("fuzz ephemeral"), nonce)
		require.NoError(f, err)
		f.Add(r.Ephemeral.SerializeCompressed(), r.Nonce[:], r.Target[:])
	}
	f.Add([]byte{2}, []byte{}, []byte{})
	f.Add(make([]byte, 33), make([]byte, NonceSize), make([]byte, 20))
	f.Fuzz(func(t *testing.T, e, nonce, target []byte) {
		r, err := ParseRequest(e, nonce, target)
		if err != nil {
			require.True(t, errors.Is(err, ErrBadRequest))
			return
		}
		tweak, ok := scanner.MatchRequest(r)
		if !ok {
			return
		}
		k, err := keys.PrivateKey(tweak)
		require.NoError(t, err)
		require.Equal(t, r.Target, Target(k.PubKey()))
	})
}

func mustLabel(f *testing.F, k *Keys, m uint32) Address {
	a, err := k.LabelAddress(m)
	require.NoError(f, err)
	return a
}
