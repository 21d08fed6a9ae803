package stealth

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/stretchr/testify/require"
)

// encode builds an address string from parts, for addresses this package
// would never write.
func encode(t *testing.T, hrp string, version byte, payload []byte, m bool) string {
	t.Helper()
	data, err := bech32.ConvertBits(payload, 8, 5, true)
	require.NoError(t, err)
	data = append([]byte{version}, data...)
	var s string
	if m {
		s, err = bech32.EncodeM(hrp, data)
	} else {
		s, err = bech32.Encode(hrp, data)
	}
	require.NoError(t, err)
	return s
}

func twoKeys(t *testing.T, k *Keys) []byte {
	return append(k.scanPub.SerializeCompressed(), k.spendPub.SerializeCompressed()...)
}

func TestAnAddressRoundTripsThroughItsString(t *testing.T) {
	k, err := GenerateKeys()
	require.NoError(t, err)

	main := k.Address().String()
	require.True(t, strings.HasPrefix(main, "sp1q"), main)
	require.Len(t, main, 116, "longer than bech32's 90-character limit")
	a, err := ParseAddress(main)
	require.NoError(t, err)
	require.True(t, a.Equal(k.Address()))
	require.False(t, a.Testnet)

	test := k.TestnetAddress().String()
	require.True(t, strings.HasPrefix(test, "tsp1q"), test)
	require.Len(t, test, 117)
	b, err := ParseAddress(test)
	require.NoError(t, err)
	require.True(t, b.Testnet)
	require.True(t, b.Equal(k.TestnetAddress()))
	require.False(t, b.Equal(a), "networks differ")

	up, err := ParseAddress(strings.ToUpper(main))
	require.NoError(t, err, "upper case is valid bech32m")
	require.True(t, up.Equal(a))
}

func TestALaterVersionIsReadAsItsFirst66Bytes(t *testing.T) {
	k, err := GenerateKeys()
	require.NoError(t, err)
	payload := append(twoKeys(t, k), []byte("more data a later version adds")...)
	a, err := ParseAddress(encode(t, "sp", 1, payload, true))
	require.NoError(t, err)
	require.True(t, a.Equal(k.Address()))
	a, err = ParseAddress(encode(t, "sp", 30, payload[:66], true))
	require.NoError(t, err)
	require.True(t, a.Equal(k.Address()))
}

func TestParseAddressRefusesWhatBIP352Refuses(t *testing.T) {
	k, err := GenerateKeys()
	require.NoError(t, err)
	good := twoKeys(t, k)
	badKey := append([]byte{}, good...)
	badKey[33] = 0x04
	long := encode(t, "sp", 1, make([]byte, 700), true)
	require.Greater(t, len(long), MaxAddressLen)
	str := k.Address().String()
	flipped := str[:len(str)-1] + "q"
	if str[len(str)-1] == 'q' {
		flipped = str[:len(str)-1] + "p"
	}
	mixed := []byte(str)
	for i := 4; i < len(mixed); i++ {
		if mixed[i] >= 'a' && mixed[i] <= 'z' {
			mixed[i] -= 'a' - 'A' // one upper-case letter among lower-case ones
			break
		}
	}
	for name, s := range map[string]string{
		"empty":                    "",
		"bech32, not bech32m":      encode(t, "sp", 0, good, false),
		"a bitcoin hrp":            encode(t, "bc", 0, good, true),
		"regtest hrp":              encode(t, "sprt", 0, good, true),
		"version 31":               encode(t, "sp", 31, good, true),
		"version 0, 65 bytes":      encode(t, "sp", 0, good[:65], true),
		"version 0, 67 bytes":      encode(t, "sp", 0, append(good, 0), true),
		"version 1, 65 bytes":      encode(t, "sp", 1, good[:65], true),
		"not a key":                encode(t, "sp", 0, badKey, true),
		"over 1023 characters":     long,
		"mixed case":               string(mixed),
		"bad checksum":             flipped,
		"a foxtrot address":        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
		"the separator is missing": strings.Replace(k.Address().String(), "1", "", 1),
	} {
		_, err := ParseAddress(s)
		require.ErrorIs(t, err, ErrBadAddress, name)
	}
}

func TestTheZeroAddressIsEmpty(t *testing.T) {
	require.Equal(t, "", Address{}.String())
	_, err := Address{}.OneTimeKey(nil, make([]byte, NonceSize))
	require.ErrorIs(t, err, ErrBadKey)
}
