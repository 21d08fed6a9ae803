package cosign

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
)

// emptyBip32PSBT returns a PSBT whose last output carries a BIP 32
// derivation (key type 0x02) with an empty value: psbt v1.1.8 panics on it
// (btcd issue #2351).
func emptyBip32PSBT(t testing.TB) []byte {
	w := testWallet(t, 2, "alice", "bob", "carol")
	var buf bytes.Buffer
	require.NoError(t, testProposal(t, w, "alice").Packet.Serialize(&buf))
	b := buf.Bytes()
	require.Equal(t, byte(0), b[len(b)-1], "the last output's map ends here")
	b = b[:len(b)-1]
	b = append(b, 34, 0x02)
	b = append(b, testKey("x").PubKey().SerializeCompressed()...)
	return append(b, 0, 0) // empty value, end of map
}

func TestPsbtParserPanicIsAMalformedMessage(t *testing.T) {
	raw := emptyBip32PSBT(t)
	require.Panics(t, func() { psbt.NewFromRawBytes(bytes.NewReader(raw), false) },
		"if this stops panicking, psbt has fixed btcd#2351 and parsePacket's recover can go")

	_, err := parsePacket(raw)
	require.ErrorIs(t, err, ErrMalformed)

	// Through the whole decoder, as a peer would send it.
	key := testKey("bob")
	body := append([]byte{0, 0, 0, byte(len(raw))}, raw...)
	body[2] = byte(len(raw) >> 8)
	msg, err := encode(TypeApproval, &Header{Time: epoch, Sender: key.PubKey()}, body, key)
	require.NoError(t, err)
	_, err = Parse(msg)
	require.ErrorIs(t, err, ErrMalformed)
}
