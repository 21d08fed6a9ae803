package route

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

// vectors are SPEC.md's test vectors of connection setup: fixed keys in,
// every derived value out. Another implementation reproduces each line.
// The record layer's (path keys and records, from the master secret and
// hello body here) are package session's.
type vectors struct {
	DialerEphemeralKey string `json:"dialer_ephemeral_private_key"`
	TargetKey          string `json:"target_private_key"`
	TargetEphemeralKey string `json:"target_ephemeral_private_key"`
	DialerIdentityKey  string `json:"dialer_identity_private_key"`

	RequestPayload string `json:"connect_request_frame_payload"`
	RequestSigHash string `json:"connect_request_sighash"`
	ConnectionID   string `json:"connection_id"`
	AckPayload     string `json:"connect_ack_frame_payload"`
	AckSigHash     string `json:"connect_ack_sighash"`
	MasterSecret   string `json:"session_master_secret"`
	HelloHash      string `json:"hello_hash"`
	HelloBody      string `json:"hello_body"`
	StreamHeader   string `json:"stream_header"`
}

func TestVectorsMatchSPEC(t *testing.T) {
	dEph, tKey, tEph, dID := fixedKey(1), fixedKey(2), fixedKey(3), fixedKey(4)
	req := &wire.ConnectRequest{HopLimit: 8, Kind: wire.TargetAddr, Time: 1_800_000_000_000, MaxPrice: 0}
	req.Target = addr.FromPubKey(tKey.PubKey()).Hash160()
	req.Ephemeral = ser(dEph.PubKey())
	copy(req.Nonce[:], "0123456789abcdef")
	req.Sig = sign(dEph, req.SigHash())
	reqFrame, _ := wire.Append(nil, req)
	id := req.ID()
	ack := newAck(id, req.Ephemeral, newKeyPair(tKey), newKeyPair(tEph), 1)
	ackFrame, _ := wire.Append(nil, ack)
	ackHash := wire.AckSigHash(id, req.Ephemeral, ack.TargetKey, ack.Ephemeral, 1)
	master := dialerSecret(id, newKeyPair(dEph), tKey.PubKey(), tEph.PubKey())
	require.Equal(t, master, targetSecret(id, newKeyPair(tKey), newKeyPair(tEph), dEph.PubKey()), "both ends derive the same secret")
	hh := helloHash(id, req.Ephemeral, ack.TargetKey, ack.Ephemeral)
	hello := buildHello(newKeyPair(dID), hh, nil)

	got := vectors{
		DialerEphemeralKey: hex.EncodeToString(dEph.Serialize()),
		TargetKey:          hex.EncodeToString(tKey.Serialize()),
		TargetEphemeralKey: hex.EncodeToString(tEph.Serialize()),
		DialerIdentityKey:  hex.EncodeToString(dID.Serialize()),
		RequestPayload:     hex.EncodeToString(reqFrame[4:]),
		RequestSigHash:     hx(req.SigHash()),
		ConnectionID:       hex.EncodeToString(id[:]),
		AckPayload:         hex.EncodeToString(ackFrame[4:]),
		AckSigHash:         hx(ackHash),
		MasterSecret:       hx(master),
		HelloHash:          hx(hh),
		HelloBody:          hex.EncodeToString(hello),
		StreamHeader:       hex.EncodeToString(wire.StreamHeader{Kind: wire.StreamCircuit, ID: id, Path: 1}.Append(nil)),
	}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./route -run Vectors -update to create it")
	var want vectors
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got)

	pub, hops, err := checkHello(hello, hh)
	require.NoError(t, err, "the hello checks")
	require.True(t, pub.IsEqual(dID.PubKey()))
	require.Empty(t, hops)
}

func hx(b [32]byte) string { return hex.EncodeToString(b[:]) }
