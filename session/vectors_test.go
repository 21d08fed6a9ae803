package session

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the code")

// vectors are SPEC.md's test vectors of the record layer: the master
// secret and hello body of route's vectors (testdata/vectors.json there)
// in, path keys and the first records out.
type vectors struct {
	MasterSecret string `json:"session_master_secret"`
	HelloBody    string `json:"hello_body"`

	Path1D2T    string `json:"path_1_dialer_to_target_key"`
	Path1T2D    string `json:"path_1_target_to_dialer_key"`
	HelloRecord string `json:"first_record_hello"`
	DataRecord  string `json:"second_record_data_hello_world"`
	AckRecord   string `json:"third_record_ack_11_limit"`
}

func TestVectorsMatchSPEC(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var want vectors
	require.NoError(t, json.Unmarshal(b, &want))
	var master [32]byte
	m, err := hex.DecodeString(want.MasterSecret)
	require.NoError(t, err)
	copy(master[:], m)
	helloBody, err := hex.DecodeString(want.HelloBody)
	require.NoError(t, err)

	d2t, t2d := pathKeys(master, 1)
	s := newSealer(d2t)
	hello := s.seal(nil, recHello, helloBody, nil)
	data := s.seal(nil, recData, make([]byte, 8), []byte("hello world"))
	ack11 := s.sealAck(nil, 11, 11+initialWindow)
	got := vectors{
		MasterSecret: want.MasterSecret,
		HelloBody:    want.HelloBody,
		Path1D2T:     hex.EncodeToString(d2t[:]),
		Path1T2D:     hex.EncodeToString(t2d[:]),
		HelloRecord:  hex.EncodeToString(hello),
		DataRecord:   hex.EncodeToString(data),
		AckRecord:    hex.EncodeToString(ack11),
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
		want = got
	}
	require.Equal(t, want, got)

	// The vectors open as they should: the target's opener reads them.
	o := newOpener(d2t)
	typs, bodies, err := openAll(t, o, append(append(append([]byte{}, hello...), data...), ack11...))
	require.NoError(t, err)
	require.Equal(t, []byte{recHello, recData, recAck}, typs)
	require.Equal(t, "hello world", string(bodies[1][8:]))
	require.Equal(t, []uint64{11, 11 + initialWindow},
		[]uint64{binary.BigEndian.Uint64(bodies[2]), binary.BigEndian.Uint64(bodies[2][8:])}, "ack: received offset, limit")
}
