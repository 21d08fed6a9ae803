package peer

import (
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/transport"
)

// A /foxtrot value names a node by ID or by key; only the key form gives
// the key (for Noise_XK), and both give the same NodeID.
func TestParseIdentityGivesTheNodeIDAndTheKeyWhenWritten(t *testing.T) {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	want := addr.NodeIDFromPubKey(k.PubKey())

	id, pub, err := parseIdentity(want.String())
	require.NoError(t, err)
	require.Equal(t, want, id)
	require.Nil(t, pub)

	id, pub, err = parseIdentity(hex.EncodeToString(k.PubKey().SerializeCompressed()))
	require.NoError(t, err)
	require.Equal(t, want, id)
	require.True(t, pub.IsEqual(k.PubKey()))

	_, _, err = parseIdentity("1BoatSLRHtKNngkdXEeobR76b53LETtpyX")
	require.ErrorIs(t, err, transport.ErrBadIdentity)
	require.ErrorIs(t, err, addr.ErrAddrChecksum)
}
