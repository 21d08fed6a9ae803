package session

import (
	"bytes"
	"encoding/hex"
	"testing"

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
