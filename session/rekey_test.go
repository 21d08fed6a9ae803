package session

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// The rekeyed secret of SPEC.md section 6, checked against an independent
// transcription (Python's hmac and hashlib).
func TestRekeyMasterVector(t *testing.T) {
	var id [20]byte
	var master, shared [32]byte
	copy(id[:], bytes.Repeat([]byte{0x55}, 20))
	copy(master[:], bytes.Repeat([]byte{0x11}, 32))
	copy(shared[:], bytes.Repeat([]byte{0x66}, 32))
	dEph := append([]byte{2}, bytes.Repeat([]byte{0x77}, 32)...)
	tEph := append([]byte{3}, bytes.Repeat([]byte{0x88}, 32)...)
	got := rekeyMaster(id, master, shared, dEph, tEph)
	require.Equal(t, "492df2b71a240589ad65adcaa8a97986352ed35997da246d7f07809edde8a71a", hex.EncodeToString(got[:]))
}

// FuzzRekeyRecord feeds arbitrary rekey bodies (of a size the record
// layer lets through) to both ends' handler: nothing may panic; the
// dialler, which made no offer, refuses every one; the target takes one
// valid key at most once and refuses a second offer and a marker it did
// not ask for.
func FuzzRekeyRecord(f *testing.F) {
	k, err := btcec.NewPrivateKey()
	require.NoError(f, err)
	f.Add(true, k.PubKey().SerializeCompressed())
	f.Add(false, k.PubKey().SerializeCompressed())
	f.Add(false, []byte{})
	f.Add(false, make([]byte, 33))
	f.Fuzz(func(t *testing.T, dialer bool, body []byte) {
		if checkBody(recRekey, body) != nil {
			return
		}
		s := New(loopConfig(dialer, func(c *Config) { c.OnRekey = func([32]byte) []byte { return nil } }))
		defer func() { s.Abort(nil); s.Wait() }()
		p := NewPath(nopStream{}, PathInfo{ID: s.cfg.ID, Num: 1}, testMaster, dialer)
		err := s.onRekey(p, body)
		switch {
		case dialer || len(body) == 0:
			require.ErrorIs(t, err, ErrProtocol)
		case err == nil:
			require.ErrorIs(t, s.onRekey(p, body), ErrProtocol, "a second offer")
		}
	})
}
