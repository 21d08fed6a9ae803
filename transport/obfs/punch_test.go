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
	a, err := New(ua, Config{Identity: key})
	require.NoError(t, err)
	defer a.Close()
	b, err := New(ub, Config{Identity: key, NetworkKey: make([]byte, 32)})
	require.NoError(t, err)
	defer b.Close()

	require.NoError(t, a.Punch(b.LocalAddr()))
	b.SetReadDeadline(time.Now().Add(time.Second))
	_, _, err = b.ReadFrom(make([]byte, 1500))
	require.Error(t, err, "nothing is delivered")
	require.EqualValues(t, 1, b.Stats().Unauthenticated)
	require.Zero(t, b.Stats().KeyAgreements, "too short to cost a key agreement")
}
