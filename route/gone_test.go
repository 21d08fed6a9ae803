package route

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
)

func TestCircuitGoneRoundTrips(t *testing.T) {
	m := &CircuitGone{ID: addr.ConnID{1, 2, 3}, Path: 0x01020304, By: addr.NodeID{9, 8, 7}}
	b := m.AppendBody(nil)
	require.Len(t, b, circuitGoneLen)
	got, err := DecodeCircuitGone(b)
	require.NoError(t, err)
	require.Equal(t, m, got)
	_, err = DecodeCircuitGone(b[:43])
	require.ErrorIs(t, err, ErrBadMessage)
	_, err = DecodeCircuitGone(append(b, 0))
	require.ErrorIs(t, err, ErrBadMessage)
}

func FuzzDecodeCircuitGone(f *testing.F) {
	f.Add((&CircuitGone{Path: 7}).AppendBody(nil))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, circuitGoneLen+1))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := DecodeCircuitGone(body)
		if err != nil {
			return
		}
		// One encoding per message.
		if !bytes.Equal(m.AppendBody(nil), body) {
			t.Fatalf("re-encoding %x gives %x", body, m.AppendBody(nil))
		}
	})
}
