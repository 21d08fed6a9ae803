package addr_test

import (
	"encoding/hex"
	"net"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
)

// The secp256k1 generator point's key (private key 1) has a well-known
// P2PKH address: 1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH.
const (
	genPubHex  = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	genAddress = "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
	genHash    = "751e76e8199196d454941c45d1b3a323f1433bd6"
)

func genKey(t testing.TB) *btcec.PublicKey {
	b, err := hex.DecodeString(genPubHex)
	require.NoError(t, err)
	pub, err := btcec.ParsePubKey(b)
	require.NoError(t, err)
	return pub
}

func TestAddrIsBitcoinP2PKHOfTheKey(t *testing.T) {
	a := addr.FromPubKey(genKey(t))
	require.Equal(t, genAddress, a.String())
	h := a.Hash160()
	require.Equal(t, genHash, hex.EncodeToString(h[:]))
	require.Equal(t, "foxtrot", a.Network())
	var _ net.Addr = a

	// A wallet derives the same string.
	w, err := btcutil.NewAddressPubKey(genKey(t).SerializeCompressed(), &chaincfg.MainNetParams)
	require.NoError(t, err)
	require.Equal(t, w.AddressPubKeyHash().EncodeAddress(), a.String())
}

func TestParseRoundTripsAndAddrIsAMapKey(t *testing.T) {
	seen := map[addr.Addr]int{}
	for i := range 8 {
		key, err := btcec.NewPrivateKey()
		require.NoError(t, err)
		a := addr.FromPubKey(key.PubKey())
		got, err := addr.Parse(a.String())
		require.NoError(t, err)
		require.Equal(t, a, got)
		require.Equal(t, a, addr.FromHash160(a.Hash160()))
		require.False(t, a.IsZero())
		seen[got] = i
	}
	require.Len(t, seen, 8)
}

func TestParseAcceptsTheOriginalHexKeyForm(t *testing.T) {
	for _, s := range []string{genPubHex, strings.ToUpper(genPubHex)} {
		got, err := addr.Parse(s)
		require.NoError(t, err)
		require.Equal(t, genAddress, got.String())
	}
}

func TestParseErrorsSayWhatIsWrong(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ", addr.ErrAddrChecksum},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", addr.ErrAddrVersion},                                  // P2SH, version 5
		{"13DV5niCGP", addr.ErrAddrLength},                                                           // version 0, 3-byte payload
		{"0I0OOl", addr.ErrAddrEncoding},                                                             // not base58
		{"", addr.ErrAddrEncoding},                                                                   // empty
		{"0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", addr.ErrAddrEncoding}, // bad prefix
		{"02ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", addr.ErrAddrEncoding}, // not on curve
		{"zz79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", addr.ErrAddrEncoding}, // not hex
		// BIP-352's test vector address: a stealth address, known but not
		// implemented yet.
		{"sp1qqgste7k9hx0qftg6qmwlkqtwuy6cycyavzmzj85c6qdfhjdpdjtdgqjuexzk6murw56suy3e0rd2cgqvycxttddwsvgxe2usfpxumr70xc9pkqwv", addr.ErrAddrUnsupported},
		{"tsp1qqgste7k9hx0qftg6qmwlkqtwuy6cycyavzmzj85c6qdfhjdpdjtdgqjuexzk6murw56suy3e0rd2cgqvycxttddwsvgxe2usfpxumr70xc9pkqwv", addr.ErrAddrUnsupported},
		{"SP1QQ", addr.ErrAddrUnsupported}, // bech32 may be upper case
	} {
		_, err := addr.Parse(tc.in)
		require.ErrorIs(t, err, addr.ErrBadAddr, tc.in)
		require.ErrorIs(t, err, tc.want, tc.in)
		_, pub, err := addr.ParseNodeID(tc.in)
		require.ErrorIs(t, err, addr.ErrBadAddr, tc.in)
		require.ErrorIs(t, err, tc.want, tc.in)
		require.Nil(t, pub)
	}
}

func TestZeroAddrRoundTrips(t *testing.T) {
	var zero addr.Addr
	require.True(t, zero.IsZero())
	got, err := addr.Parse(zero.String())
	require.NoError(t, err)
	require.True(t, got.IsZero())
}

func TestParseNodeIDGivesTheKeyOnlyWhenWrittenAsOne(t *testing.T) {
	pub := genKey(t)
	want := addr.NodeIDFromPubKey(pub)
	require.Equal(t, genAddress, want.String(), "a node ID prints as the address of its key")

	id, got, err := addr.ParseNodeID(genPubHex)
	require.NoError(t, err)
	require.Equal(t, want, id)
	require.True(t, got.IsEqual(pub))

	id, got, err = addr.ParseNodeID(genAddress)
	require.NoError(t, err)
	require.Equal(t, want, id)
	require.Nil(t, got)
}

func TestIDStringForms(t *testing.T) {
	var h [20]byte
	copy(h[:], mustHex(t, genHash))
	require.Equal(t, genAddress, addr.NodeID(h).String())
	require.Equal(t, genHash, addr.ConnID(h).String())
	require.Equal(t, addr.FromHash160(h).String(), addr.NodeID(h).String())
	require.True(t, addr.NodeID{}.IsZero())
	require.True(t, addr.ConnID{}.IsZero())
	require.False(t, addr.NodeID(h).IsZero())
	require.False(t, addr.ConnID(h).IsZero())
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func FuzzParse(f *testing.F) {
	f.Add(genAddress)
	f.Add(genPubHex)
	f.Add("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ")
	f.Add("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
	f.Add("sp1qq")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := addr.Parse(s)
		id, pub, idErr := addr.ParseNodeID(s)
		// One parser: both accept the same strings, to the same hash.
		if (err == nil) != (idErr == nil) {
			t.Fatalf("%q: Parse says %v, ParseNodeID %v", s, err, idErr)
		}
		if err != nil {
			if !a.IsZero() || !id.IsZero() || pub != nil {
				t.Fatalf("%q: an error with a value", s)
			}
			return
		}
		if a.Hash160() != [20]byte(id) {
			t.Fatalf("%q: Parse gives %s, ParseNodeID %s", s, a, id)
		}
		if pub != nil && addr.FromPubKey(pub) != a {
			t.Fatalf("%q: the key is not the address's", s)
		}
		b, err := addr.Parse(a.String())
		if err != nil || b != a {
			t.Fatalf("%q parsed to %s, which does not round trip: %v", s, a, err)
		}
	})
}
