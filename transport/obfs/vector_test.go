package obfs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// vector is one datagram of SPEC.md, with every input fixed.
type vector struct {
	Name       string `json:"name"`
	NetworkKey string `json:"network_key,omitempty"`
	Responder  string `json:"responder_secret,omitempty"` // identity vectors
	Ell        string `json:"ell,omitempty"`              // the initiator's encoded ephemeral
	Nonce      string `json:"nonce"`
	Sender     uint64 `json:"sender"`
	Seq        uint64 `json:"seq"`
	Payload    string `json:"payload"`
	Pad        bool   `json:"pad"`
	Datagram   string `json:"datagram"`
}

func unhex(t *testing.T, s string) []byte {
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// vectorKey derives the vector's key and prefix the way a receiver does.
func vectorKey(t *testing.T, v vector) (key, []byte) {
	psk := unhex(t, v.NetworkKey)
	if len(psk) == 0 {
		psk = nil
	}
	if v.Responder == "" {
		return networkKey(psk), nil
	}
	r, _ := btcec.PrivKeyFromBytes(unhex(t, v.Responder))
	ell := [ellSize]byte(unhex(t, v.Ell))
	x, err := respond(ell, r)
	require.NoError(t, err)
	return identityKey(x, ell, r.PubKey(), psk), ell[:]
}

// TestVectors seals each vector's inputs and compares the datagram with
// testdata/vectors.json (rewritten with -update), then opens it.
func TestVectors(t *testing.T) {
	vs := []vector{
		{Name: "network key", NetworkKey: hex.EncodeToString([]byte("sixteen byte key")), Sender: 0x0102030405060708, Seq: 1_800_000_000<<32 | 1, Payload: hex.EncodeToString([]byte("hello"))},
		{Name: "network key, padded", NetworkKey: hex.EncodeToString([]byte("sixteen byte key")), Sender: 1, Seq: 1_800_000_000 << 32, Payload: hex.EncodeToString([]byte("hello")), Pad: true},
		{Name: "identity", Responder: hex.EncodeToString(bytes.Repeat([]byte{0x11}, 32)), Sender: 2, Seq: 1_800_000_060 << 32, Payload: hex.EncodeToString([]byte("first datagram"))},
		{Name: "identity and network key", NetworkKey: hex.EncodeToString([]byte("sixteen byte key")), Responder: hex.EncodeToString(bytes.Repeat([]byte{0x11}, 32)), Sender: 3, Seq: 1_800_000_060<<32 | 9, Payload: ""},
	}
	var golden []vector
	if !*update {
		b, err := os.ReadFile("testdata/vectors.json")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &golden))
		require.Len(t, golden, len(vs))
	}
	for i := range vs {
		v := &vs[i]
		v.Nonce = hex.EncodeToString(bytes.Repeat([]byte{byte(0xa0 + i)}, nonceSize))
		if v.Responder != "" {
			if *update { // ElligatorSwift draws its own randomness: fix the result
				r, _ := btcec.PrivKeyFromBytes(unhex(t, v.Responder))
				ell, _, err := initiate(r.PubKey(), bytes.NewReader(bytes.Repeat([]byte{byte(0x20 + i)}, 32)))
				require.NoError(t, err)
				v.Ell = hex.EncodeToString(ell[:])
			} else {
				v.Ell = golden[i].Ell
			}
		}
		k, prefix := vectorKey(t, *v)
		d, err := k.seal(nil, prefix, header{sender: v.Sender, seq: v.Seq}, unhex(t, v.Payload), v.Pad, bytes.NewReader(unhex(t, v.Nonce)))
		require.NoError(t, err)
		v.Datagram = hex.EncodeToString(d)
		if !*update {
			require.Equal(t, golden[i], *v, v.Name)
		}
		h, p, err := k.open(make([]byte, len(d)), d[len(prefix):], prefix)
		require.NoError(t, err)
		require.Equal(t, header{sender: v.Sender, seq: v.Seq}, h)
		require.Equal(t, v.Payload, hex.EncodeToString(p))
	}
	if *update {
		b, err := json.MarshalIndent(vs, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile("testdata/vectors.json", append(b, '\n'), 0o644))
	}
}
