package noise

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// The vectors in this file are BOLT 8, "Appendix A: Transport Test Vectors",
// from https://github.com/lightning/bolts/blob/master/08-transport.md
// (read at commit 0952b223696107ae5483ff3a5fecc79104ec9b42). The names in
// comments are the vector names there. The intermediate values (h, ck) are
// the "#" comment lines of the same vectors.

const (
	bolt8InitiatorStatic    = "1111111111111111111111111111111111111111111111111111111111111111"
	bolt8InitiatorStaticPub = "034f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa"
	bolt8InitiatorEph       = "1212121212121212121212121212121212121212121212121212121212121212"
	bolt8ResponderStatic    = "2121212121212121212121212121212121212121212121212121212121212121"
	bolt8ResponderStaticPub = "028d7500dd4c12685d1f568b4c2b5048e8534b873319f3a8daa612b469132ec7f7"
	bolt8ResponderEph       = "2222222222222222222222222222222222222222222222222222222222222222"

	bolt8ActOne   = "0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a"
	bolt8ActTwo   = "0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae"
	bolt8ActThree = "0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba"

	// Final keys, named from the initiator's side.
	bolt8SK = "0x969ab31b4d288cedf6218839b27a3e2140827047f2c0f01bf5c04435d43511a9"
	bolt8RK = "0xbb9020b8965f4df047e07f955f3c4b88418984aadc5cdb35096b9ea8fa5c3442"
	bolt8CK = "0x919219dbb2920afa8db80f9a51787a840bcf111ed8d588caf9ab4be716e42b01"

	// Intermediate state from the "#" lines.
	bolt8InitialCK  = "0x2640f52eebcd9e882958951c794250eedb28002c05d7dc2ea0f195406042caf1"
	bolt8ActOneCK   = "0xb61ec1191326fa240decc9564369dbb3ae2b34341d1e11ad64ed89f89180582f"
	bolt8ActOneH    = "0x9d1ffbb639e7e20021d9259491dc7b160aab270fb1339ef135053f6f2cebe9ce"
	bolt8ActTwoCK   = "0xe89d31033a1b6bf68c07d22e08ea4d7884646c4b60a9528598ccb4ee2c8f56ba"
	bolt8ActTwoH    = "0x90578e247e98674e661013da3c5c1ca6a8c8f48c90b485c0dfa1494e23d56d72"
	bolt8ActThreeCK = bolt8CK
)

func noiseHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	require.NoError(t, err)
	return b
}

func noisePriv(t testing.TB, s string) *btcec.PrivateKey {
	t.Helper()
	k, _ := btcec.PrivKeyFromBytes(noiseHex(t, s))
	return k
}

func noisePub(t testing.TB, s string) *btcec.PublicKey {
	t.Helper()
	k, err := btcec.ParsePubKey(noiseHex(t, s))
	require.NoError(t, err)
	return k
}

// noiseFixedEphemeral returns an Ephemeral function that always yields the
// key with the given hex encoding.
func noiseFixedEphemeral(t testing.TB, s string) func() (*btcec.PrivateKey, error) {
	k := noisePriv(t, s)
	return func() (*btcec.PrivateKey, error) { return k, nil }
}

func bolt8Initiator(t testing.TB) *Handshake {
	t.Helper()
	h, err := NewInitiator(Config{
		Static:       noisePriv(t, bolt8InitiatorStatic),
		RemoteStatic: noisePub(t, bolt8ResponderStaticPub),
		Ephemeral:    noiseFixedEphemeral(t, bolt8InitiatorEph),
	})
	require.NoError(t, err)
	return h
}

func bolt8Responder(t testing.TB) *Handshake {
	t.Helper()
	h, err := NewResponder(Config{
		Static:    noisePriv(t, bolt8ResponderStatic),
		Ephemeral: noiseFixedEphemeral(t, bolt8ResponderEph),
	})
	require.NoError(t, err)
	return h
}

// transport-initiator successful handshake
func TestXKInitiatorMatchesBOLT8Vectors(t *testing.T) {
	h := bolt8Initiator(t)
	require.Equal(t, PatternXK, h.Pattern())
	require.Equal(t, ActTwoSizeXK, h.ActTwoSize())
	require.Equal(t, noiseHex(t, bolt8InitialCK), h.sym.ck[:], "initial ck")

	act1, err := h.GenActOne()
	require.NoError(t, err)
	require.Equal(t, noiseHex(t, bolt8ActOne), act1)
	require.Equal(t, noiseHex(t, bolt8ActOneCK), h.sym.ck[:], "ck after act one")
	require.Equal(t, noiseHex(t, bolt8ActOneH), h.sym.h[:], "h after act one")

	require.NoError(t, h.RecvActTwo(noiseHex(t, bolt8ActTwo)))
	require.Equal(t, noiseHex(t, bolt8ActTwoCK), h.sym.ck[:], "ck after act two")
	require.Equal(t, noiseHex(t, bolt8ActTwoH), h.sym.h[:], "h after act two")

	act3, err := h.GenActThree()
	require.NoError(t, err)
	require.Equal(t, noiseHex(t, bolt8ActThree), act3)
	require.Equal(t, noiseHex(t, bolt8ActThreeCK), h.sym.ck[:], "final ck")
	require.Equal(t, noiseHex(t, bolt8SK), h.send[:], "sk")
	require.Equal(t, noiseHex(t, bolt8RK), h.recv[:], "rk")
	require.Equal(t, bolt8ResponderStaticPub, hex.EncodeToString(h.RemoteStatic().SerializeCompressed()))

	send, recv, err := h.Ciphers()
	require.NoError(t, err)
	require.Equal(t, noiseHex(t, bolt8SK), send.key[:])
	require.Equal(t, noiseHex(t, bolt8CK), send.ck[:])
	require.Equal(t, noiseHex(t, bolt8RK), recv.key[:])
	require.Equal(t, noiseHex(t, bolt8CK), recv.ck[:])
}

// transport-responder successful handshake
func TestXKResponderMatchesBOLT8Vectors(t *testing.T) {
	h := bolt8Responder(t)
	require.Equal(t, Pattern(0), h.Pattern())

	require.NoError(t, h.RecvActOne(noiseHex(t, bolt8ActOne)))
	require.Equal(t, PatternXK, h.Pattern())
	require.Equal(t, noiseHex(t, bolt8ActOneCK), h.sym.ck[:], "ck after act one")
	require.Equal(t, noiseHex(t, bolt8ActOneH), h.sym.h[:], "h after act one")

	act2, err := h.GenActTwo()
	require.NoError(t, err)
	require.Equal(t, noiseHex(t, bolt8ActTwo), act2)
	require.Equal(t, noiseHex(t, bolt8ActTwoCK), h.sym.ck[:], "ck after act two")
	require.Equal(t, noiseHex(t, bolt8ActTwoH), h.sym.h[:], "h after act two")

	require.Nil(t, h.RemoteStatic(), "remote static is not exposed before completion")
	require.NoError(t, h.RecvActThree(noiseHex(t, bolt8ActThree)))
	require.Equal(t, noiseHex(t, bolt8CK), h.sym.ck[:], "final ck")
	// The responder's receive key is the initiator's sk, and vice versa.
	require.Equal(t, noiseHex(t, bolt8SK), h.recv[:], "rk")
	require.Equal(t, noiseHex(t, bolt8RK), h.send[:], "sk")
	require.Equal(t, bolt8InitiatorStaticPub, hex.EncodeToString(h.RemoteStatic().SerializeCompressed()))

	send, recv, err := h.Ciphers()
	require.NoError(t, err)
	require.Equal(t, noiseHex(t, bolt8RK), send.key[:])
	require.Equal(t, noiseHex(t, bolt8SK), recv.key[:])
}

// transport-initiator act2 * tests
func TestXKInitiatorRejectsBOLT8BadActTwo(t *testing.T) {
	cases := []struct {
		name  string // BOLT 8 vector name
		input string
		want  error
	}{
		{"transport-initiator act2 short read test",
			"0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730", ErrActSize},
		{"transport-initiator act2 bad version test",
			"0x0102466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae", ErrBadVersion},
		{"transport-initiator act2 bad key serialization test",
			"0x0004466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730ae", ErrBadKey},
		{"transport-initiator act2 bad MAC test",
			"0x0002466d7fcae563e5cb09a0d1870bb580344804617879a14949cf22285f1bae3f276e2470b93aac583c9ef6eafca3f730af", ErrBadMAC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bolt8Initiator(t)
			act1, err := h.GenActOne()
			require.NoError(t, err)
			require.Equal(t, noiseHex(t, bolt8ActOne), act1)
			err = h.RecvActTwo(noiseHex(t, tc.input))
			require.ErrorIs(t, err, tc.want)
			_, err = h.GenActThree()
			require.ErrorIs(t, err, ErrHandshakeState, "a failed handshake stays failed")
		})
	}
}

// transport-responder act1 * tests
func TestXKResponderRejectsBOLT8BadActOne(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  error
	}{
		{"transport-responder act1 short read test",
			"0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c", ErrActSize},
		// BOLT 8 expects ACT1_BAD_VERSION for version 1. Here version 1
		// selects Noise_XX, and this XK act one then fails XX's
		// authentication: still rejected, before any reply, but as ErrBadMAC.
		{"transport-responder act1 bad version test",
			"0x01036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a", ErrBadMAC},
		// The same vector with a version byte neither pattern uses.
		{"transport-responder act1 bad version test (version 2)",
			"0x02036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a", ErrBadVersion},
		{"transport-responder act1 bad key serialization test",
			"0x00046360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a", ErrBadKey},
		{"transport-responder act1 bad MAC test",
			"0x00036360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6b", ErrBadMAC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bolt8Responder(t)
			err := h.RecvActOne(noiseHex(t, tc.input))
			require.ErrorIs(t, err, tc.want)
			_, err = h.GenActTwo()
			require.ErrorIs(t, err, ErrHandshakeState, "no act two after a bad act one")
		})
	}
}

// transport-responder act3 * tests
func TestXKResponderRejectsBOLT8BadActThree(t *testing.T) {
	cases := []struct {
		name  string
		input string
		want  error
	}{
		{"transport-responder act3 bad version test",
			"0x01b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba", ErrBadVersion},
		{"transport-responder act3 short read test",
			"0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139", ErrActSize},
		{"transport-responder act3 bad MAC for ciphertext test",
			"0x00c9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139ba", ErrBadMAC},
		{"transport-responder act3 bad rs test",
			"0x00bfe3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa2235536ad09a8ee351870c2bb7f78b754a26c6cef79a98d25139c856d7efd252c2ae73c", ErrBadKey},
		{"transport-responder act3 bad MAC test",
			"0x00b9e3a702e93e3a9948c2ed6e5fd7590a6e1c3a0344cfc9d5b57357049aa22355361aa02e55a8fc28fef5bd6d71ad0c38228dc68b1c466263b47fdf31e560e139bb", ErrBadMAC},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := bolt8Responder(t)
			require.NoError(t, h.RecvActOne(noiseHex(t, bolt8ActOne)))
			act2, err := h.GenActTwo()
			require.NoError(t, err)
			require.Equal(t, noiseHex(t, bolt8ActTwo), act2)
			err = h.RecvActThree(noiseHex(t, tc.input))
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, h.RemoteStatic())
			_, _, err = h.Ciphers()
			require.ErrorIs(t, err, ErrHandshakeState)
		})
	}
}

// transport-message test: the initiator sends "hello" 1001 times; the
// outputs shown cover two key rotations.
func TestFramesMatchBOLT8MessageVectors(t *testing.T) {
	want := map[int]string{
		0:    "0xcf2b30ddf0cf3f80e7c35a6e6730b59fe802473180f396d88a8fb0db8cbcf25d2f214cf9ea1d95",
		1:    "0x72887022101f0b6753e0c7de21657d35a4cb2a1f5cde2650528bbc8f837d0f0d7ad833b1a256a1",
		500:  "0x178cb9d7387190fa34db9c2d50027d21793c9bc2d40b1e14dcf30ebeeeb220f48364f7a4c68bf8",
		501:  "0x1b186c57d44eb6de4c057c49940d79bb838a145cb528d6e8fd26dbe50a60ca2c104b56b60e45bd",
		1000: "0x4a2f3cc3b5e78ddb83dcb426d9863d9d9a723b0337c89dd0b005d89f8d3c05c52b76b29b740f09",
		1001: "0x2ecd8c8a5629d0d02ab457a0fdd0f7b90a192cd46be5ecb6ca570bfc5e268338b1a16cf4ef2d36",
	}
	// Keys after the first and second rotation, from the "#" lines.
	rot1CK, rot1K := "0xcc2c6e467efc8067720c2d09c139d1f77731893aad1defa14f9bf3c48d3f1d31", "0x3fbdc101abd1132ca3a0ae34a669d8d9ba69a587e0bb4ddd59524541cf4813d8"
	rot2CK, rot2K := "0x728366ed68565dc17cf6dd97330a859a6a56e87e2beef3bd828a4c4a54d8df06", "0x9e0477f9850dca41e42db0e4d154e3a098e5a000d995e421849fcd5df27882bd"

	var sk, ck [32]byte
	copy(sk[:], noiseHex(t, bolt8SK))
	copy(ck[:], noiseHex(t, bolt8CK))
	send, err := newCipher(sk, ck)
	require.NoError(t, err)
	recv, err := newCipher(sk, ck) // the responder's receive side
	require.NoError(t, err)

	hello := []byte("hello")
	var buf []byte
	for i := 0; i <= 1001; i++ {
		switch i {
		case 500:
			require.Equal(t, noiseHex(t, rot1CK), send.ck[:])
			require.Equal(t, noiseHex(t, rot1K), send.key[:])
		case 1000:
			require.Equal(t, noiseHex(t, rot2CK), send.ck[:])
			require.Equal(t, noiseHex(t, rot2K), send.key[:])
		}
		buf = send.SealFrame(buf[:0], hello)
		if w, ok := want[i]; ok {
			require.Equal(t, noiseHex(t, w), buf, "output %d", i)
		}
		n, err := recv.OpenHeader(buf[:FrameHeaderSize])
		require.NoError(t, err, "message %d", i)
		require.Equal(t, len(hello), n)
		got, err := recv.OpenBody(nil, buf[FrameHeaderSize:])
		require.NoError(t, err, "message %d", i)
		require.Equal(t, hello, got)
	}
}
