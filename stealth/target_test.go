package stealth

import (
	"bytes"
	"crypto/rand"
	"reflect"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// dial is what a dialler does: a fresh ephemeral key and nonce, and the
// request's stealth fields.
func dial(t *testing.T, a Address) (Request, *btcec.PublicKey) {
	t.Helper()
	e, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	var nonce [NonceSize]byte
	_, err = rand.Read(nonce[:])
	require.NoError(t, err)
	r, p, err := a.NewRequest(e, nonce)
	require.NoError(t, err)
	return r, p
}

func TestAListenerRecognisesAndAnswersARequestToItsAddress(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	addr, err := ParseAddress(keys.Address().String()) // as a dialler gets it
	require.NoError(t, err)
	r, p := dial(t, addr)
	require.Equal(t, Target(p), r.Target)

	scanner, err := keys.Scanner()
	require.NoError(t, err)
	tweak, ok := scanner.Match(r.Ephemeral, r.Nonce[:], r.Target)
	require.True(t, ok)
	priv, err := keys.PrivateKey(tweak)
	require.NoError(t, err)
	require.True(t, priv.PubKey().IsEqual(p), "the answer is the one-time key's private half")

	derived, err := keys.Derive(r.Ephemeral, r.Nonce[:])
	require.NoError(t, err)
	require.Equal(t, priv.Key, derived.Key)
}

func TestAListenerIgnoresRequestsThatAreNotForIt(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	other, err := GenerateKeys()
	require.NoError(t, err)
	scanner, err := keys.Scanner()
	require.NoError(t, err)

	r, _ := dial(t, other.Address())
	_, ok := scanner.MatchRequest(r)
	require.False(t, ok, "a request for another address")

	r, _ = dial(t, keys.Address())
	_, ok = scanner.MatchRequest(r)
	require.True(t, ok)
	for i := range r.Nonce {
		bad := r
		bad.Nonce[i] ^= 1
		_, ok = scanner.MatchRequest(bad)
		require.False(t, ok, "nonce byte %d changed", i)
	}
	bad := r
	bad.Target[19] ^= 1
	_, ok = scanner.MatchRequest(bad)
	require.False(t, ok, "target changed")
	bad = r
	bad.Ephemeral = other.scanPub
	_, ok = scanner.MatchRequest(bad)
	require.False(t, ok, "ephemeral key changed")
	_, ok = scanner.Match(nil, r.Nonce[:], r.Target)
	require.False(t, ok)
	_, ok = scanner.Match(r.Ephemeral, r.Nonce[:8], r.Target)
	require.False(t, ok)

	// The same keys on testnet are the same address for connections.
	r, _ = dial(t, keys.TestnetAddress())
	_, ok = scanner.MatchRequest(r)
	require.True(t, ok)
}

// relayView is everything a relay sees of a request's stealth fields.
func relayView(r Request) [][]byte {
	return [][]byte{r.Ephemeral.SerializeCompressed(), r.Nonce[:], r.Target[:]}
}

func TestTwoConnectionsToOneAddressShareNothing(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	addr := keys.Address()
	r1, p1 := dial(t, addr)
	r2, p2 := dial(t, addr)

	require.False(t, p1.IsEqual(p2), "one-time keys differ")
	v1, v2 := relayView(r1), relayView(r2)
	for i := range v1 {
		for j := range v2 {
			require.NotEqual(t, v1[i], v2[j], "field %d of one request equals field %d of the other", i, j)
		}
	}
	// Nothing a relay sees names the address: neither key, nor its hash,
	// nor a foxtrot target of either key.
	scanKey, spendKey := addr.Scan.SerializeCompressed(), addr.Spend.SerializeCompressed()
	scanHash, spendHash := Target(addr.Scan), Target(addr.Spend)
	for _, v := range append(v1, v2...) {
		for _, secret := range [][]byte{scanKey, spendKey, scanKey[1:], spendKey[1:], scanHash[:], spendHash[:]} {
			require.False(t, bytes.Contains(v, secret[:8]) || bytes.Contains(secret, v), "a request field reveals the address")
		}
	}
	// Both still reach the listener, each with its own key.
	scanner, err := keys.Scanner()
	require.NoError(t, err)
	t1, ok1 := scanner.MatchRequest(r1)
	t2, ok2 := scanner.MatchRequest(r2)
	require.True(t, ok1)
	require.True(t, ok2)
	require.NotEqual(t, t1, t2)
}

func TestAScanKeyAloneCannotAnswer(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	// A relay the owner trusts to filter holds the scan key and the
	// spend public key, nothing more.
	relay, err := NewScanner(keys.ScanKey(), keys.Address().Spend)
	require.NoError(t, err)
	r, p := dial(t, keys.Address())

	tweak, ok := relay.MatchRequest(r)
	require.True(t, ok, "the relay recognises the request")

	// Nothing the relay holds or learns is the one-time private key: not
	// the tweak, nor the tweak plus the scan key.
	var tw, withScan btcec.ModNScalar
	require.Zero(t, tw.SetBytes((*[32]byte)(&tweak)))
	withScan.Add2(&tw, &relay.scan)
	for _, guess := range []btcec.ModNScalar{tw, withScan, relay.scan} {
		require.False(t, btcec.PrivKeyFromScalar(&guess).PubKey().IsEqual(p))
	}
	// The scanner holds no spend private key anywhere, and no method of
	// it hands out a private key.
	spend := keys.SpendKey().Key
	v := reflect.ValueOf(relay).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		require.NotEqual(t, reflect.TypeOf(&btcec.PrivateKey{}), f.Type(), "field %s", v.Type().Field(i).Name)
		if f.Type() == reflect.TypeOf(btcec.ModNScalar{}) {
			s := (*btcec.ModNScalar)(f.Addr().UnsafePointer())
			require.False(t, s.Equals(&spend), "field %s holds the spend key", v.Type().Field(i).Name)
		}
	}
	st := reflect.TypeOf(relay)
	for i := range st.NumMethod() {
		m := st.Method(i)
		for j := range m.Type.NumOut() {
			require.NotEqual(t, reflect.TypeOf(&btcec.PrivateKey{}), m.Type.Out(j), "method %s returns a private key", m.Name)
		}
	}
	// The owner, with the spend key, answers.
	priv, err := keys.PrivateKey(tweak)
	require.NoError(t, err)
	require.True(t, priv.PubKey().IsEqual(p))
}

func TestALabelledAddressIsRecognisedWithItsLabel(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	labelled, err := keys.LabelAddress(7)
	require.NoError(t, err)
	r, p := dial(t, labelled)

	plain, err := keys.Scanner()
	require.NoError(t, err)
	_, ok := plain.MatchRequest(r)
	require.False(t, ok, "a scanner that does not know the label")

	withLabel, err := keys.Scanner(7)
	require.NoError(t, err)
	tweak, ok := withLabel.MatchRequest(r)
	require.True(t, ok)
	priv, err := keys.PrivateKey(tweak)
	require.NoError(t, err)
	require.True(t, priv.PubKey().IsEqual(p))

	// It still recognises the unlabelled address.
	r, _ = dial(t, keys.Address())
	_, ok = withLabel.MatchRequest(r)
	require.True(t, ok)
}

func TestAConnectionKeyIsNeverAPaymentKey(t *testing.T) {
	// Domain separation: with the same shared secret, the connection
	// tweak and BIP-352's t_0 differ, so a one-time connection key never
	// coincides with an output a wallet would find.
	keys, err := GenerateKeys()
	require.NoError(t, err)
	e, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	var s btcec.JacobianPoint
	bscan := jacobian(keys.scanPub)
	btcec.ScalarMultNonConst(&e.Key, &bscan, &s)
	s.ToAffine()
	conn, err := targetScalar(&s)
	require.NoError(t, err)
	serS := serP(&s)
	pay, ok := tSharedSecret.scalar(serS[:], ser32(0))
	require.True(t, ok)
	require.False(t, conn.Equals(&pay))
}

func TestBadRequestFieldsAreRefused(t *testing.T) {
	keys, err := GenerateKeys()
	require.NoError(t, err)
	r, _ := dial(t, keys.Address())
	e := r.Ephemeral.SerializeCompressed()
	got, err := ParseRequest(e, r.Nonce[:], r.Target[:])
	require.NoError(t, err)
	require.Equal(t, r.Nonce, got.Nonce)
	require.Equal(t, r.Target, got.Target)
	require.True(t, r.Ephemeral.IsEqual(got.Ephemeral))

	uncompressed := r.Ephemeral.SerializeUncompressed()
	notOnCurve := append([]byte{}, e...)
	notOnCurve[1] ^= 0xff
	for name, f := range map[string][3][]byte{
		"uncompressed key": {uncompressed, r.Nonce[:], r.Target[:]},
		"short key":        {e[:32], r.Nonce[:], r.Target[:]},
		"short nonce":      {e, r.Nonce[:15], r.Target[:]},
		"long nonce":       {e, append(r.Nonce[:], 0), r.Target[:]},
		"short target":     {e, r.Nonce[:], r.Target[:19]},
		"no key":           {nil, r.Nonce[:], r.Target[:]},
	} {
		_, err := ParseRequest(f[0], f[1], f[2])
		require.ErrorIs(t, err, ErrBadRequest, name)
	}
	if _, err := btcec.ParsePubKey(notOnCurve); err != nil {
		_, err := ParseRequest(notOnCurve, r.Nonce[:], r.Target[:])
		require.ErrorIs(t, err, ErrBadRequest)
	}
	_, err = keys.Derive(r.Ephemeral, r.Nonce[:3])
	require.ErrorIs(t, err, ErrBadRequest)
	_, err = keys.Address().OneTimeKey(nil, r.Nonce[:])
	require.ErrorIs(t, err, ErrBadKey)
}

func TestKeysMustBeNonZero(t *testing.T) {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	var zero btcec.PrivateKey
	_, err = NewKeys(k, nil)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = NewKeys(&zero, k)
	require.ErrorIs(t, err, ErrBadKey)
	_, err = NewScanner(nil, k.PubKey())
	require.ErrorIs(t, err, ErrBadKey)
}
