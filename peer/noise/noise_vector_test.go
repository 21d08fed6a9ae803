package noise

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"
)

// The golden file testdata/noise-vectors.json holds handshake vectors for
// what BOLT 8 does not cover: Noise_XX, and the network-key prologue. They
// are produced by the implementation and checked against the slow,
// literal reference below, written from peer/noise/SPEC.md alone.
// Regenerate with: go test ./peer -run TestHandshakeMatchesGoldenVectors -update-noise
var noiseUpdate = flag.Bool("update-noise", false, "rewrite peer/noise/testdata/noise-vectors.json")

const noiseVectorFile = "testdata/noise-vectors.json"

type noiseVector struct {
	Name               string `json:"name"`
	Pattern            string `json:"pattern"`
	InitiatorStatic    string `json:"initiator_static_priv"`
	InitiatorStaticPub string `json:"initiator_static_pub"`
	InitiatorEphemeral string `json:"initiator_ephemeral_priv"`
	ResponderStatic    string `json:"responder_static_priv"`
	ResponderStaticPub string `json:"responder_static_pub"`
	ResponderEphemeral string `json:"responder_ephemeral_priv"`
	NetworkKey         string `json:"network_key"` // empty: none
	NetTag             string `json:"net_tag"`     // empty: none
	Prologue           string `json:"prologue"`
	InitCK             string `json:"ck_after_init"`
	InitH              string `json:"h_after_init"`
	ActOne             string `json:"act_one"`
	ActOneCK           string `json:"ck_after_act_one"`
	ActOneH            string `json:"h_after_act_one"`
	ActTwo             string `json:"act_two"`
	ActTwoCK           string `json:"ck_after_act_two"`
	ActTwoH            string `json:"h_after_act_two"`
	ActThree           string `json:"act_three"`
	CK                 string `json:"ck_final"`
	SK                 string `json:"initiator_sk"`
	RK                 string `json:"initiator_rk"`
	HelloFromInitiator string `json:"initiator_first_frame_hello"`
	HelloFromResponder string `json:"responder_first_frame_hello"`
}

// noiseVectorInputs are the inputs of the golden vectors: BOLT 8's keys,
// and a network key of 32 bytes 0x42.
func noiseVectorInputs() []noiseVector {
	base := noiseVector{
		InitiatorStatic:    bolt8InitiatorStatic,
		InitiatorEphemeral: bolt8InitiatorEph,
		ResponderStatic:    bolt8ResponderStatic,
		ResponderEphemeral: bolt8ResponderEph,
	}
	netKey := hex.EncodeToString([]byte("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")) // 32 x 0x42
	var vs []noiseVector
	for _, c := range []struct{ name, pattern, net string }{
		{"XX without network key", "XX", ""},
		{"XX with network key", "XX", netKey},
		{"XK with network key", "XK", netKey},
	} {
		v := base
		v.Name, v.Pattern, v.NetworkKey = c.name, c.pattern, c.net
		vs = append(vs, v)
	}
	return vs
}

// noiseRunVector fills in v's outputs by running the implementation.
func noiseRunVector(t *testing.T, v noiseVector) noiseVector {
	t.Helper()
	netKey := noiseHex(t, v.NetworkKey)
	icfg := Config{
		Static:     noisePriv(t, v.InitiatorStatic),
		NetworkKey: netKey,
		Ephemeral:  noiseFixedEphemeral(t, v.InitiatorEphemeral),
	}
	rKey := noisePriv(t, v.ResponderStatic)
	if v.Pattern == "XK" {
		icfg.RemoteStatic = rKey.PubKey()
	}
	ini, err := NewInitiator(icfg)
	require.NoError(t, err)
	resp, err := NewResponder(Config{
		Static:     rKey,
		NetworkKey: netKey,
		Ephemeral:  noiseFixedEphemeral(t, v.ResponderEphemeral),
	})
	require.NoError(t, err)

	x := hex.EncodeToString
	v.InitiatorStaticPub = x(icfg.Static.PubKey().SerializeCompressed())
	v.ResponderStaticPub = x(rKey.PubKey().SerializeCompressed())
	if tag, ok := noiseNetTag(netKey); ok {
		v.NetTag = x(tag[:])
	}
	v.Prologue = x(ini.prologue)
	v.InitCK, v.InitH = x(ini.sym.ck[:]), x(ini.sym.h[:])

	a1, err := ini.GenActOne()
	require.NoError(t, err)
	v.ActOne, v.ActOneCK, v.ActOneH = x(a1), x(ini.sym.ck[:]), x(ini.sym.h[:])
	require.NoError(t, resp.RecvActOne(a1))
	a2, err := resp.GenActTwo()
	require.NoError(t, err)
	require.NoError(t, ini.RecvActTwo(a2))
	v.ActTwo, v.ActTwoCK, v.ActTwoH = x(a2), x(ini.sym.ck[:]), x(ini.sym.h[:])
	a3, err := ini.GenActThree()
	require.NoError(t, err)
	require.NoError(t, resp.RecvActThree(a3))
	v.ActThree, v.CK = x(a3), x(ini.sym.ck[:])
	v.SK, v.RK = x(ini.send[:]), x(ini.recv[:])

	iSend, iRecv, err := ini.Ciphers()
	require.NoError(t, err)
	rSend, rRecv, err := resp.Ciphers()
	require.NoError(t, err)
	f := iSend.SealFrame(nil, []byte("hello"))
	v.HelloFromInitiator = x(f)
	require.Equal(t, "hello", string(frameOpenAll(t, rRecv, f)))
	f = rSend.SealFrame(nil, []byte("hello"))
	v.HelloFromResponder = x(f)
	require.Equal(t, "hello", string(frameOpenAll(t, iRecv, f)))
	return v
}

func TestHandshakeMatchesGoldenVectors(t *testing.T) {
	var got []noiseVector
	for _, in := range noiseVectorInputs() {
		v := noiseRunVector(t, in)
		ref := noiseReference(t, in)
		require.Equal(t, ref.ActOne, v.ActOne, "%s: act one vs reference", v.Name)
		require.Equal(t, ref.ActTwo, v.ActTwo, "%s: act two vs reference", v.Name)
		require.Equal(t, ref.ActThree, v.ActThree, "%s: act three vs reference", v.Name)
		require.Equal(t, ref.CK, v.CK, "%s: ck vs reference", v.Name)
		require.Equal(t, ref.SK, v.SK, "%s: sk vs reference", v.Name)
		require.Equal(t, ref.RK, v.RK, "%s: rk vs reference", v.Name)
		got = append(got, v)
	}
	if *noiseUpdate {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(noiseVectorFile), 0o755))
		require.NoError(t, os.WriteFile(noiseVectorFile, append(b, '\n'), 0o644))
		return
	}
	b, err := os.ReadFile(noiseVectorFile)
	require.NoError(t, err, "run with -update-noise to create it")
	var want []noiseVector
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got)
}

// noiseReference is a literal, step-by-step transcription of
// peer/noise/SPEC.md, sharing no code with the implementation except
// btcec's curve arithmetic. It returns act one, two and three, ck, sk, rk.
func noiseReference(t *testing.T, v noiseVector) noiseVector {
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	sha := func(parts ...[]byte) []byte { s := sha256.Sum256(cat(parts...)); return s[:] }
	kdf := func(ck, ikm []byte) ([]byte, []byte) {
		out, err := hkdf.Key(sha256.New, ikm, ck, "", 64)
		require.NoError(t, err)
		return out[:32], out[32:]
	}
	nonce := func(n uint64) []byte {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint64(b[4:], n)
		return b
	}
	enc := func(k []byte, n uint64, ad, pt []byte) []byte {
		a, err := chacha20poly1305.New(k)
		require.NoError(t, err)
		return a.Seal(nil, nonce(n), pt, ad)
	}
	ecdh := func(priv *btcec.PrivateKey, pub *btcec.PublicKey) []byte {
		var p, r btcec.JacobianPoint
		pub.AsJacobian(&p)
		btcec.ScalarMultNonConst(&priv.Key, &p, &r)
		r.ToAffine()
		return sha(btcec.NewPublicKey(&r.X, &r.Y).SerializeCompressed())
	}
	pub := func(k *btcec.PrivateKey) []byte { return k.PubKey().SerializeCompressed() }

	sI, sR := noisePriv(t, v.InitiatorStatic), noisePriv(t, v.ResponderStatic)
	eI, eR := noisePriv(t, v.InitiatorEphemeral), noisePriv(t, v.ResponderEphemeral)
	netKey := noiseHex(t, v.NetworkKey)

	prologue := []byte("lightning")
	netTag := make([]byte, 32)
	if len(netKey) > 0 {
		netTag = sha([]byte("foxtrot network key"), netKey)
		prologue = cat(prologue, netTag)
	}
	var act1, act2, act3, ck, h, k, sk, rk []byte
	switch v.Pattern {
	case "XX":
		h = sha([]byte("Noise_XX_secp256k1_ChaChaPoly_SHA256"))
		ck = h
		h = sha(h, prologue)
		ck, k = kdf(ck, netTag)
		// Act one.
		h = sha(h, pub(eI))
		t1 := enc(k, 0, h, nil)
		h = sha(h, t1)
		act1 = cat([]byte{1}, pub(eI), t1)
		// Act two.
		h = sha(h, pub(eR))
		ck, k = kdf(ck, ecdh(eR, eI.PubKey()))
		c := enc(k, 0, h, pub(sR))
		h = sha(h, c)
		ck, k = kdf(ck, ecdh(sR, eI.PubKey()))
		t2 := enc(k, 0, h, nil)
		h = sha(h, t2)
		act2 = cat([]byte{1}, pub(eR), c, t2)
		// Act three.
		c = enc(k, 1, h, pub(sI))
		h = sha(h, c)
		ck, k = kdf(ck, ecdh(sI, eR.PubKey()))
		t3 := enc(k, 0, h, nil)
		sk, rk = kdf(ck, nil)
		act3 = cat([]byte{1}, c, t3)
	case "XK":
		h = sha([]byte("Noise_XK_secp256k1_ChaChaPoly_SHA256"))
		ck = h
		h = sha(h, prologue)
		h = sha(h, pub(sR))
		// Act one.
		h = sha(h, pub(eI))
		ck, k = kdf(ck, ecdh(eI, sR.PubKey()))
		t1 := enc(k, 0, h, nil)
		h = sha(h, t1)
		act1 = cat([]byte{0}, pub(eI), t1)
		// Act two.
		h = sha(h, pub(eR))
		ck, k = kdf(ck, ecdh(eR, eI.PubKey()))
		t2 := enc(k, 0, h, nil)
		h = sha(h, t2)
		act2 = cat([]byte{0}, pub(eR), t2)
		// Act three.
		c := enc(k, 1, h, pub(sI))
		h = sha(h, c)
		ck, k = kdf(ck, ecdh(sI, eR.PubKey()))
		t3 := enc(k, 0, h, nil)
		sk, rk = kdf(ck, nil)
		act3 = cat([]byte{0}, c, t3)
	default:
		t.Fatalf("unknown pattern %q", v.Pattern)
	}
	x := hex.EncodeToString
	return noiseVector{ActOne: x(act1), ActTwo: x(act2), ActThree: x(act3), CK: x(ck), SK: x(sk), RK: x(rk)}
}

func TestReferenceMatchesBOLT8(t *testing.T) {
	// The reference must itself agree with BOLT 8 before it can vouch for
	// the XX vectors.
	ref := noiseReference(t, noiseVector{
		Pattern:            "XK",
		InitiatorStatic:    bolt8InitiatorStatic,
		InitiatorEphemeral: bolt8InitiatorEph,
		ResponderStatic:    bolt8ResponderStatic,
		ResponderEphemeral: bolt8ResponderEph,
	})
	require.Equal(t, bolt8ActOne[2:], ref.ActOne)
	require.Equal(t, bolt8ActTwo[2:], ref.ActTwo)
	require.Equal(t, bolt8ActThree[2:], ref.ActThree)
	require.Equal(t, bolt8CK[2:], ref.CK)
	require.Equal(t, bolt8SK[2:], ref.SK)
	require.Equal(t, bolt8RK[2:], ref.RK)
}
