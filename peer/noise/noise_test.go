package noise

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

func noiseNewKey(t testing.TB) *btcec.PrivateKey {
	t.Helper()
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return k
}

// noiseExchange runs the three acts between ini and resp. tamper, if not
// nil, may modify each act in flight. It returns the act (1, 2 or 3) whose
// generation or reception failed, and the error, or 0 and nil.
func noiseExchange(ini, resp *Handshake, tamper func(act int, b []byte)) (int, error) {
	if tamper == nil {
		tamper = func(int, []byte) {}
	}
	a1, err := ini.GenActOne()
	if err != nil {
		return 1, err
	}
	tamper(1, a1)
	if err := resp.RecvActOne(a1); err != nil {
		return 1, err
	}
	a2, err := resp.GenActTwo()
	if err != nil {
		return 2, err
	}
	tamper(2, a2)
	if err := ini.RecvActTwo(a2); err != nil {
		return 2, err
	}
	a3, err := ini.GenActThree()
	if err != nil {
		return 3, err
	}
	tamper(3, a3)
	if err := resp.RecvActThree(a3); err != nil {
		return 3, err
	}
	return 0, nil
}

// noisePair returns a fresh initiator and responder with random static
// keys, XK if xk is set, else XX, both with the given network keys.
func noisePair(t testing.TB, xk bool, iNet, rNet []byte) (ini, resp *Handshake, iKey, rKey *btcec.PrivateKey) {
	t.Helper()
	iKey, rKey = noiseNewKey(t), noiseNewKey(t)
	icfg := Config{Static: iKey, NetworkKey: iNet}
	if xk {
		icfg.RemoteStatic = rKey.PubKey()
	}
	ini, err := NewInitiator(icfg)
	require.NoError(t, err)
	resp, err = NewResponder(Config{Static: rKey, NetworkKey: rNet})
	require.NoError(t, err)
	return ini, resp, iKey, rKey
}

// noiseRequireLinked checks that the two completed handshakes yield
// ciphers that talk to each other in both directions.
func noiseRequireLinked(t *testing.T, ini, resp *Handshake) {
	t.Helper()
	iSend, iRecv, err := ini.Ciphers()
	require.NoError(t, err)
	rSend, rRecv, err := resp.Ciphers()
	require.NoError(t, err)
	frameRoundTrip(t, iSend, rRecv, []byte("from initiator"))
	frameRoundTrip(t, rSend, iRecv, []byte("from responder"))
	frameRoundTrip(t, rSend, iRecv, nil)
}

func TestXXHandshakeAuthenticatesBothSides(t *testing.T) {
	ini, resp, iKey, rKey := noisePair(t, false, nil, nil)
	require.Equal(t, PatternXX, ini.Pattern())
	require.Equal(t, "XX", ini.Pattern().String())
	require.Equal(t, ActTwoSizeXX, ini.ActTwoSize())

	a1, err := ini.GenActOne()
	require.NoError(t, err)
	require.Len(t, a1, ActOneSize)
	require.NoError(t, resp.RecvActOne(a1))
	require.Equal(t, PatternXX, resp.Pattern(), "the responder follows the initiator's pattern")
	require.Equal(t, ActTwoSizeXX, resp.ActTwoSize())
	a2, err := resp.GenActTwo()
	require.NoError(t, err)
	require.Len(t, a2, ActTwoSizeXX)
	require.Nil(t, ini.RemoteStatic(), "not known before act two")
	require.NoError(t, ini.RecvActTwo(a2))
	require.True(t, ini.RemoteStatic().IsEqual(rKey.PubKey()),
		"authenticated by act two, so it can be checked before act three reveals the initiator")
	require.Nil(t, resp.RemoteStatic(), "not known before act three")
	a3, err := ini.GenActThree()
	require.NoError(t, err)
	require.Len(t, a3, ActThreeSize)
	require.NoError(t, resp.RecvActThree(a3))

	require.True(t, ini.RemoteStatic().IsEqual(rKey.PubKey()), "initiator learnt the responder's key")
	require.True(t, resp.RemoteStatic().IsEqual(iKey.PubKey()), "responder learnt the initiator's key")
	noiseRequireLinked(t, ini, resp)
	require.NotNil(t, ini.RemoteStatic(), "still reported after Ciphers")
}

func TestXKHandshakeWithRandomKeys(t *testing.T) {
	for i := range 20 {
		ini, resp, iKey, rKey := noisePair(t, true, nil, nil)
		require.Equal(t, PatternXK, ini.Pattern())
		require.Equal(t, ActTwoSizeXK, ini.ActTwoSize())
		act, err := noiseExchange(ini, resp, nil)
		require.NoError(t, err, "run %d, act %d", i, act)
		require.Equal(t, PatternXK, resp.Pattern())
		require.True(t, ini.RemoteStatic().IsEqual(rKey.PubKey()))
		require.True(t, resp.RemoteStatic().IsEqual(iKey.PubKey()))
		noiseRequireLinked(t, ini, resp)
	}
}

func TestHandshakesUseFreshEphemeralKeys(t *testing.T) {
	rKey := noiseNewKey(t)
	cfg := Config{Static: noiseNewKey(t), RemoteStatic: rKey.PubKey()}
	a, err := NewInitiator(cfg)
	require.NoError(t, err)
	b, err := NewInitiator(cfg)
	require.NoError(t, err)
	a1, err := a.GenActOne()
	require.NoError(t, err)
	b1, err := b.GenActOne()
	require.NoError(t, err)
	require.NotEqual(t, a1, b1)
}

func TestNetworkKeyMatrix(t *testing.T) {
	keyA := bytes.Repeat([]byte{0xA}, 32)
	keyB := bytes.Repeat([]byte{0xB}, 32)
	cases := []struct {
		name       string
		iNet, rNet []byte
		ok         bool
	}{
		{"both keyless", nil, nil, true},
		{"empty key means keyless", []byte{}, nil, true},
		{"both with the same key", keyA, keyA, true},
		{"different keys", keyA, keyB, false},
		{"keyless initiator, keyed responder", nil, keyA, false},
		{"keyed initiator, keyless responder", keyA, nil, false},
	}
	for _, xk := range []bool{true, false} {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("xk=%v/%s", xk, tc.name), func(t *testing.T) {
				ini, resp, _, _ := noisePair(t, xk, tc.iNet, tc.rNet)
				act, err := noiseExchange(ini, resp, nil)
				if tc.ok {
					require.NoError(t, err)
					noiseRequireLinked(t, ini, resp)
					return
				}
				require.ErrorIs(t, err, ErrBadMAC)
				require.Equal(t, 1, act, "the responder rejects act one, before sending anything")
			})
		}
	}
}

func TestXKInitiatorWithWrongResponderKeyFailsActOne(t *testing.T) {
	for _, net := range [][]byte{nil, []byte("some network key")} {
		ini, err := NewInitiator(Config{
			Static:       noiseNewKey(t),
			RemoteStatic: noiseNewKey(t).PubKey(), // not the responder's
			NetworkKey:   net,
		})
		require.NoError(t, err)
		resp, err := NewResponder(Config{Static: noiseNewKey(t), NetworkKey: net})
		require.NoError(t, err)
		act, err := noiseExchange(ini, resp, nil)
		require.ErrorIs(t, err, ErrBadMAC)
		require.Equal(t, 1, act)
	}
}

func TestTamperingAnyActByteFailsHandshake(t *testing.T) {
	// Every byte of every act is checked by its receiver: flipping a bit
	// anywhere makes that receiver fail. Each tampered act goes to a copy
	// of the receiver, so one handshake serves all the bit flips.
	requireRejects := func(t *testing.T, act []byte, recv func(b []byte) error) {
		t.Helper()
		for i := range act {
			// One bit per byte, walking the bit positions; both ends of the
			// version byte (0<->1 swaps the pattern).
			masks := []byte{1 << (i % 8)}
			if i == 0 {
				masks = append(masks, 0x80)
			}
			for _, mask := range masks {
				bad := bytes.Clone(act)
				bad[i] ^= mask
				err := recv(bad)
				require.Error(t, err, "byte %d mask %#x", i, mask)
				require.True(t, errors.Is(err, ErrBadMAC) || errors.Is(err, ErrBadKey) ||
					errors.Is(err, ErrBadVersion), "byte %d: unexpected error %v", i, err)
			}
		}
	}
	for _, xk := range []bool{true, false} {
		for _, net := range [][]byte{nil, []byte("net")} {
			t.Run(fmt.Sprintf("xk=%v/net=%q", xk, net), func(t *testing.T) {
				ini, resp, _, _ := noisePair(t, xk, net, net)
				a1, err := ini.GenActOne()
				require.NoError(t, err)
				requireRejects(t, a1, func(b []byte) error { r := *resp; return r.RecvActOne(b) })
				require.NoError(t, resp.RecvActOne(a1))

				a2, err := resp.GenActTwo()
				require.NoError(t, err)
				requireRejects(t, a2, func(b []byte) error { i := *ini; return i.RecvActTwo(b) })
				require.NoError(t, ini.RecvActTwo(a2))

				a3, err := ini.GenActThree()
				require.NoError(t, err)
				requireRejects(t, a3, func(b []byte) error { r := *resp; return r.RecvActThree(b) })
				require.NoError(t, resp.RecvActThree(a3), "the genuine acts still complete the handshake")
				noiseRequireLinked(t, ini, resp)
			})
		}
	}
}

func TestHandshakeRejectsOutOfOrderCalls(t *testing.T) {
	newPair := func(t *testing.T) (*Handshake, *Handshake) {
		ini, resp, _, _ := noisePair(t, true, nil, nil)
		return ini, resp
	}
	steps := []struct {
		name string
		call func(ini, resp *Handshake) error
	}{
		{"initiator RecvActOne", func(ini, _ *Handshake) error { return ini.RecvActOne(make([]byte, ActOneSize)) }},
		{"initiator GenActTwo", func(ini, _ *Handshake) error { _, err := ini.GenActTwo(); return err }},
		{"initiator RecvActThree", func(ini, _ *Handshake) error { return ini.RecvActThree(make([]byte, ActThreeSize)) }},
		{"initiator RecvActTwo first", func(ini, _ *Handshake) error { return ini.RecvActTwo(make([]byte, ActTwoSizeXK)) }},
		{"initiator GenActThree first", func(ini, _ *Handshake) error { _, err := ini.GenActThree(); return err }},
		{"initiator Ciphers first", func(ini, _ *Handshake) error { _, _, err := ini.Ciphers(); return err }},
		{"responder GenActOne", func(_, resp *Handshake) error { _, err := resp.GenActOne(); return err }},
		{"responder RecvActTwo", func(_, resp *Handshake) error { return resp.RecvActTwo(make([]byte, ActTwoSizeXK)) }},
		{"responder GenActThree", func(_, resp *Handshake) error { _, err := resp.GenActThree(); return err }},
		{"responder GenActTwo first", func(_, resp *Handshake) error { _, err := resp.GenActTwo(); return err }},
		{"responder RecvActThree first", func(_, resp *Handshake) error { return resp.RecvActThree(make([]byte, ActThreeSize)) }},
		{"responder Ciphers first", func(_, resp *Handshake) error { _, _, err := resp.Ciphers(); return err }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ini, resp := newPair(t)
			require.ErrorIs(t, s.call(ini, resp), ErrHandshakeState)
		})
	}

	t.Run("acts twice", func(t *testing.T) {
		ini, resp := newPair(t)
		a1, err := ini.GenActOne()
		require.NoError(t, err)
		_, err = ini.GenActOne()
		require.ErrorIs(t, err, ErrHandshakeState)
		require.NoError(t, resp.RecvActOne(a1))
		require.ErrorIs(t, resp.RecvActOne(a1), ErrHandshakeState)
	})

	t.Run("an error is final and keeps its cause", func(t *testing.T) {
		ini, resp := newPair(t)
		a1, err := ini.GenActOne()
		require.NoError(t, err)
		bad := bytes.Clone(a1)
		bad[ActOneSize-1] ^= 1
		require.ErrorIs(t, resp.RecvActOne(bad), ErrBadMAC)
		_, err = resp.GenActTwo()
		require.ErrorIs(t, err, ErrHandshakeState)
		require.ErrorIs(t, err, ErrBadMAC)
		require.ErrorIs(t, resp.RecvActThree(make([]byte, ActThreeSize)), ErrHandshakeState)
		_, _, err = resp.Ciphers()
		require.ErrorIs(t, err, ErrHandshakeState)
		require.Nil(t, resp.RemoteStatic())
	})

	t.Run("Ciphers only once", func(t *testing.T) {
		ini, resp := newPair(t)
		_, err := noiseExchange(ini, resp, nil)
		require.NoError(t, err)
		_, _, err = ini.Ciphers()
		require.NoError(t, err)
		_, _, err = ini.Ciphers()
		require.ErrorIs(t, err, ErrHandshakeState)
		require.NotNil(t, ini.RemoteStatic())
	})
}

func TestHandshakeConfigIsValidated(t *testing.T) {
	_, err := NewInitiator(Config{})
	require.ErrorIs(t, err, ErrHandshakeConfig)
	_, err = NewResponder(Config{})
	require.ErrorIs(t, err, ErrHandshakeConfig)
	_, err = NewInitiator(Config{Static: new(btcec.PrivateKey)})
	require.ErrorIs(t, err, ErrHandshakeConfig, "zero static key")
	_, err = NewResponder(Config{Static: noiseNewKey(t), RemoteStatic: noiseNewKey(t).PubKey()})
	require.ErrorIs(t, err, ErrHandshakeConfig, "a responder cannot pin the initiator's key")

	boom := errors.New("no entropy")
	ini, err := NewInitiator(Config{
		Static:    noiseNewKey(t),
		Ephemeral: func() (*btcec.PrivateKey, error) { return nil, boom },
	})
	require.NoError(t, err)
	_, err = ini.GenActOne()
	require.ErrorIs(t, err, boom)

	ini, err = NewInitiator(Config{
		Static:    noiseNewKey(t),
		Ephemeral: func() (*btcec.PrivateKey, error) { return nil, nil },
	})
	require.NoError(t, err)
	_, err = ini.GenActOne()
	require.ErrorIs(t, err, ErrHandshakeConfig)
}

func TestHandshakeConfigIsNotRetained(t *testing.T) {
	net := []byte("network key")
	cfg := Config{Static: noiseNewKey(t), NetworkKey: net}
	ini, err := NewInitiator(cfg)
	require.NoError(t, err)
	net[0] ^= 1 // the caller reuses its buffer
	resp, err := NewResponder(Config{Static: noiseNewKey(t), NetworkKey: []byte("network key")})
	require.NoError(t, err)
	_, err = noiseExchange(ini, resp, nil)
	require.NoError(t, err)
}

func TestHandshakeRejectsActsOfWrongLength(t *testing.T) {
	for _, xk := range []bool{true, false} {
		lengths := []int{0, 1, ActOneSize - 1, ActOneSize + 1, ActTwoSizeXX, 1000}
		for _, n := range lengths {
			_, resp, _, _ := noisePair(t, xk, nil, nil)
			require.ErrorIs(t, resp.RecvActOne(make([]byte, n)), ErrActSize, "act one of %d bytes", n)
		}
		_, resp, _, _ := noisePair(t, xk, nil, nil)
		require.ErrorIs(t, resp.RecvActOne(nil), ErrActSize)

		for _, n := range []int{0, ActTwoSizeXK - 1, ActTwoSizeXK + 1, ActTwoSizeXX - 1, ActTwoSizeXX + 1} {
			want := ActTwoSizeXX
			if xk {
				want = ActTwoSizeXK
			}
			if n == want {
				continue
			}
			ini, _, _, _ := noisePair(t, xk, nil, nil)
			_, err := ini.GenActOne()
			require.NoError(t, err)
			require.ErrorIs(t, ini.RecvActTwo(make([]byte, n)), ErrActSize, "act two of %d bytes", n)
		}

		for _, n := range []int{0, ActThreeSize - 1, ActThreeSize + 1} {
			ini, resp, _, _ := noisePair(t, xk, nil, nil)
			a1, err := ini.GenActOne()
			require.NoError(t, err)
			require.NoError(t, resp.RecvActOne(a1))
			_, err = resp.GenActTwo()
			require.NoError(t, err)
			require.ErrorIs(t, resp.RecvActThree(make([]byte, n)), ErrActSize, "act three of %d bytes", n)
		}
	}
}

func TestXXActTwoFromXKResponderIsRejected(t *testing.T) {
	// An XX initiator talking to something that answers in XK (version 0)
	// fails cleanly on the version byte and size, not on a panic.
	ini, _, _, _ := noisePair(t, false, nil, nil)
	_, err := ini.GenActOne()
	require.NoError(t, err)
	require.ErrorIs(t, ini.RecvActTwo(make([]byte, ActTwoSizeXX)), ErrBadVersion)
}

func TestPatternString(t *testing.T) {
	require.Equal(t, "XK", PatternXK.String())
	require.Equal(t, "XX", PatternXX.String())
	require.Equal(t, "unknown", Pattern(0).String())
	require.Equal(t, "Pattern(9)", Pattern(9).String())
}
