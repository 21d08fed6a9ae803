package noise

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// The handshake fuzzers feed arbitrary bytes to one step of a handshake
// whose other inputs are fixed (BOLT 8's keys and ephemerals). Only the
// genuine act, produced by the peer with those fixed keys, may be
// accepted: the fuzzer cannot forge a MAC, so any accepted mutation is a
// bug, as is a panic or a rejected genuine act.

var noiseFuzzNetKey = []byte("fuzz network key")

func noiseFuzzConfigs(tb testing.TB, xk, keyed bool) (ini, resp Config) {
	var net []byte
	if keyed {
		net = noiseFuzzNetKey
	}
	ini = Config{
		Static:     noisePriv(tb, bolt8InitiatorStatic),
		NetworkKey: net,
		Ephemeral:  noiseFixedEphemeral(tb, bolt8InitiatorEph),
	}
	if xk {
		ini.RemoteStatic = noisePub(tb, bolt8ResponderStaticPub)
	}
	resp = Config{
		Static:     noisePriv(tb, bolt8ResponderStatic),
		NetworkKey: net,
		Ephemeral:  noiseFixedEphemeral(tb, bolt8ResponderEph),
	}
	return ini, resp
}

// noiseFuzzActs returns the genuine acts of the fixed handshake.
func noiseFuzzActs(tb testing.TB, xk, keyed bool) (a1, a2, a3 []byte) {
	icfg, rcfg := noiseFuzzConfigs(tb, xk, keyed)
	ini, err := NewInitiator(icfg)
	require.NoError(tb, err)
	resp, err := NewResponder(rcfg)
	require.NoError(tb, err)
	a1, err = ini.GenActOne()
	require.NoError(tb, err)
	require.NoError(tb, resp.RecvActOne(a1))
	a2, err = resp.GenActTwo()
	require.NoError(tb, err)
	require.NoError(tb, ini.RecvActTwo(a2))
	a3, err = ini.GenActThree()
	require.NoError(tb, err)
	require.NoError(tb, resp.RecvActThree(a3))
	return a1, a2, a3
}

type noiseFuzzCase struct{ xk, keyed bool }

var noiseFuzzCases = []noiseFuzzCase{{true, false}, {true, true}, {false, false}, {false, true}}

// noiseFuzzAddVariants seeds the corpus with act under each version byte:
// BOLT 8 does not authenticate the version byte, so only the explicit
// check rejects a genuine act with the wrong version.
func noiseFuzzAddVariants(f *testing.F, act []byte, args ...any) {
	for _, v := range []byte{0, 1, 2, 0x80} {
		if v == act[0] {
			continue
		}
		b := bytes.Clone(act)
		b[0] = v
		f.Add(append(args, b)...)
	}
}

// noiseFuzzGenuine maps each case to its genuine acts.
func noiseFuzzGenuine(tb testing.TB) map[noiseFuzzCase][3][]byte {
	m := make(map[noiseFuzzCase][3][]byte)
	for _, c := range noiseFuzzCases {
		a1, a2, a3 := noiseFuzzActs(tb, c.xk, c.keyed)
		m[c] = [3][]byte{a1, a2, a3}
	}
	return m
}

func FuzzRecvActOne(f *testing.F) {
	genuine := noiseFuzzGenuine(f)
	for c, acts := range genuine {
		f.Add(c.keyed, acts[0])
		noiseFuzzAddVariants(f, acts[0], c.keyed)
	}
	f.Add(false, noiseHex(f, "0x00046360e856310ce5d294e8be33fc807077dc56ac80d95d9cd4ddbd21325eff73f70df6086551151f58b8afe6c195782c6a"))
	f.Add(false, []byte{})
	f.Fuzz(func(t *testing.T, keyed bool, b []byte) {
		// The responder does not know the pattern in advance: either
		// genuine act one for its network key must be accepted.
		_, rcfg := noiseFuzzConfigs(t, true, keyed)
		resp, err := NewResponder(rcfg)
		require.NoError(t, err)
		err = resp.RecvActOne(b)
		ok := bytes.Equal(b, genuine[noiseFuzzCase{true, keyed}][0]) ||
			bytes.Equal(b, genuine[noiseFuzzCase{false, keyed}][0])
		if !ok {
			require.Error(t, err, "forged act one accepted: %x", b)
			_, err = resp.GenActTwo()
			require.ErrorIs(t, err, ErrHandshakeState, "no reply after a rejected act one")
			return
		}
		require.NoError(t, err)
		xk := b[0] == noiseVersionXK
		a2, err := resp.GenActTwo()
		require.NoError(t, err)
		require.Equal(t, genuine[noiseFuzzCase{xk, keyed}][1], a2)
	})
}

func FuzzRecvActTwo(f *testing.F) {
	genuine := noiseFuzzGenuine(f)
	for c, acts := range genuine {
		f.Add(c.xk, c.keyed, acts[1])
		noiseFuzzAddVariants(f, acts[1], c.xk, c.keyed)
	}
	f.Add(true, false, noiseHex(f, bolt8ActTwo))
	f.Fuzz(func(t *testing.T, xk, keyed bool, b []byte) {
		icfg, _ := noiseFuzzConfigs(t, xk, keyed)
		ini, err := NewInitiator(icfg)
		require.NoError(t, err)
		_, err = ini.GenActOne()
		require.NoError(t, err)
		err = ini.RecvActTwo(b)
		want := genuine[noiseFuzzCase{xk, keyed}]
		if !bytes.Equal(b, want[1]) {
			require.Error(t, err, "forged act two accepted: %x", b)
			_, err = ini.GenActThree()
			require.ErrorIs(t, err, ErrHandshakeState)
			return
		}
		require.NoError(t, err)
		a3, err := ini.GenActThree()
		require.NoError(t, err)
		require.Equal(t, want[2], a3)
		require.Equal(t, bolt8ResponderStaticPub, noiseHexKey(ini))
	})
}

func FuzzRecvActThree(f *testing.F) {
	genuine := noiseFuzzGenuine(f)
	for c, acts := range genuine {
		f.Add(c.xk, c.keyed, acts[2])
		noiseFuzzAddVariants(f, acts[2], c.xk, c.keyed)
	}
	f.Fuzz(func(t *testing.T, xk, keyed bool, b []byte) {
		_, rcfg := noiseFuzzConfigs(t, xk, keyed)
		resp, err := NewResponder(rcfg)
		require.NoError(t, err)
		want := genuine[noiseFuzzCase{xk, keyed}]
		require.NoError(t, resp.RecvActOne(want[0]))
		_, err = resp.GenActTwo()
		require.NoError(t, err)
		err = resp.RecvActThree(b)
		if !bytes.Equal(b, want[2]) {
			require.Error(t, err, "forged act three accepted: %x", b)
			require.Nil(t, resp.RemoteStatic())
			_, _, err = resp.Ciphers()
			require.ErrorIs(t, err, ErrHandshakeState)
			return
		}
		require.NoError(t, err)
		require.Equal(t, bolt8InitiatorStaticPub, noiseHexKey(resp))
	})
}

func noiseHexKey(h *Handshake) string {
	k := h.RemoteStatic()
	if k == nil {
		return ""
	}
	return hex.EncodeToString(k.SerializeCompressed())
}
