package foxtrot

import (
	"encoding/hex"
	"net"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"
)

// The secp256k1 generator point's key (private key 1) has a well-known
// P2PKH address: 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH.
const (
	genPubHex  = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	genAddress = "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
)

func TestAddrIsBitcoinP2PKHOfTheKey(t *testing.T) {
	b, _ := hex.DecodeString(genPubHex)
	pub, err := btcec.ParsePubKey(b)
	require.NoError(t, err)
	a := AddrFromPubKey(pub)
	require.Equal(t, genAddress, a.String())
	require.Equal(t, "foxtrot", a.Network())
	var _ net.Addr = a

	// A wallet derives the same string.
	w, err := btcutil.NewAddressPubKey(b, &chaincfg.MainNetParams)
	require.NoError(t, err)
	require.Equal(t, w.AddressPubKeyHash().EncodeAddress(), a.String())
}

func TestParseAddrRoundTrips(t *testing.T) {
	key, err := GenerateKey()
	require.NoError(t, err)
	a := AddrFromPubKey(key.PubKey())
	got, err := ParseAddr(a.String())
	require.NoError(t, err)
	require.Equal(t, a, got)
	require.Equal(t, a, AddrFromHash160(a.Hash160()))
	require.False(t, a.IsZero())
}

func TestParseAddrAcceptsTheOriginalHexKeyForm(t *testing.T) {
	got, err := ParseAddr(genPubHex)
	require.NoError(t, err)
	require.Equal(t, genAddress, got.String())
}

func TestParseAddrErrorsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ", ErrAddrChecksum},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", ErrAddrVersion}, // P2SH, version 5
		{"13DV5niCGP", ErrAddrLength},                          // version 0, 3-byte payload
		{"0I0OOl", ErrAddrEncoding},                            // not base58
		{"", ErrAddrEncoding},                                  // empty
		{"0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", ErrAddrEncoding}, // bad prefix
		{"02ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", ErrAddrEncoding}, // not on curve
	} {
		_, err := ParseAddr(tc.in)
		require.ErrorIs(t, err, ErrBadAddr, tc.in)
		require.ErrorIs(t, err, tc.want, tc.in)
	}
}

func FuzzParseAddr(f *testing.F) {
	f.Add(genAddress)
	f.Add(genPubHex)
	f.Add("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		b, err := ParseAddr(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed to %s, which does not round trip: %v", s, a, err)
		}
	})
}

func TestZeroAddrRoundTrips(t *testing.T) {
	var zero Addr
	got, err := ParseAddr(zero.String())
	require.NoError(t, err)
	require.True(t, got.IsZero())
}
