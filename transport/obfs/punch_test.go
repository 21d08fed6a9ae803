package obfs

import (
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// A punch datagram reaches the other side as random bytes that no key
// opens: dropped, counted, never answered or delivered.
func TestAPunchIsDroppedUnanswered(t *testing.T) {
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	ua, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	ub, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	a, err := New(ua, Config{Identity: key, NetworkKey: make([]byte, 32)})
	require.NoError(t, err)
	defer a.Close()
	b, err := New(ub, Config{Identity: key, NetworkKey: make([]byte, 32)})
	require.NoError(t, err)
	defer b.Close()

	require.NoError(t, a.Punch(b.LocalAddr()))
	_, err = a.WriteTo([]byte("genuine"), b.LocalAddr())
	require.NoError(t, err)
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := b.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "genuine", string(buf[:n]), "the punch was not delivered")
	require.EqualValues(t, 1, b.Stats().Unauthenticated)
	require.Zero(t, b.Stats().KeyAgreements, "too short to cost a key agreement")
}
