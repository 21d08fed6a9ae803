package route

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

// vectors are SPEC.md's test vectors: fixed keys in, every derived value
// out. Another implementation reproduces each line.
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
	Path1D2T       string `json:"path_1_dialer_to_target_key"`
	Path1T2D       string `json:"path_1_target_to_dialer_key"`
	HelloHash      string `json:"hello_hash"`
	HelloRecord    string `json:"first_record_hello"`
	DataRecord     string `json:"second_record_data_hello_world"`
	AckRecord      string `json:"third_record_ack_11_limit"`
	StreamHeader   string `json:"stream_header"`
}

func TestVectorsMatchSPEC(t *testing.T) {
	dEph, tKey, tEph, dID := fixedKey(1), fixedKey(2), fixedKey(3), fixedKey(4)
	req := &wire.ConnectRequest{HopLimit: 8, Kind: wire.TargetAddr, Time: 1_800_000_000_000, MaxPrice: 0}
	req.Target = ident.Hash160(tKey.PubKey())
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
	d2t, t2d := pathKeys(master, 1)
	hh := helloHash(id, req.Ephemeral, ack.TargetKey, ack.Ephemeral)
	s := newSealer(d2t)
	hello := s.seal(nil, recHello, buildHello(newKeyPair(dID), hh, nil), nil)
	data := s.seal(nil, recData, make([]byte, 8), []byte("hello world"))
	ack11 := s.sealAck(nil, 11, 11+initialWindow)

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
		Path1D2T:           hx(d2t),
		Path1T2D:           hx(t2d),
		HelloHash:          hx(hh),
		HelloRecord:        hex.EncodeToString(hello),
		DataRecord:         hex.EncodeToString(data),
		AckRecord:          hex.EncodeToString(ack11),
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

	// The vectors open as they should: the target's opener reads both.
	o := newOpener(d2t)
	typs, bodies, err := openAll(t, o, append(append(append([]byte{}, hello...), data...), ack11...))
	require.NoError(t, err)
	require.Equal(t, []byte{recHello, recData, recAck}, typs)
	require.Equal(t, "hello world", string(bodies[1][8:]))
	require.Equal(t, []uint64{11, 11 + initialWindow},
		[]uint64{binary.BigEndian.Uint64(bodies[2]), binary.BigEndian.Uint64(bodies[2][8:])}, "ack: received offset, limit")
}

func hx(b [32]byte) string { return hex.EncodeToString(b[:]) }
