package dht

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// BenchmarkDecodeResponse decodes a full FIND_NODE answer: K contacts of
// two multiaddrs each. Its cost is what a peer can make a node spend on its
// link's reader per response, answered request or not.
func BenchmarkDecodeResponse(b *testing.B) {
	m := &Response{ID: 1, Op: OpFindNode, From: testContact(b, 1)}
	for i := range K {
		m.Nodes = append(m.Nodes, testContact(b, int64(100+i)))
	}
	body := m.AppendBody(nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodedContactKeyParsedOnUse: a contact whose key bytes are not a
// point decodes (its ID hashed from the bytes) and fails only when used.
func TestDecodedContactKeyParsedOnUse(t *testing.T) {
	good := testContact(t, 7)
	m := &Response{ID: 1, Op: OpFindNode, From: testContact(t, 1), Nodes: []Contact{good, good}}
	body := m.AppendBody(nil)
	// Replace the second node's key by an x coordinate with no point on
	// the curve (the first small one found).
	kb := good.Key.SerializeCompressed()
	i := bytes.LastIndex(body, kb)
	var bad [33]byte
	bad[0] = 2
	for x := byte(1); ; x++ {
		bad[32] = x
		if _, err := btcec.ParsePubKey(bad[:]); err != nil {
			break
		}
	}
	copy(body[i:], bad[:])
	got, err := DecodeResponse(body)
	require.NoError(t, err)
	r := got.(*Response)
	require.Nil(t, r.Nodes[1].Key, "not parsed by the decoder")
	require.Equal(t, ID(sha256.Sum256(bad[:])), r.Nodes[1].ID)
	_, err = r.Nodes[1].PubKey()
	require.ErrorIs(t, err, ErrMalformed)
	pub, err := r.Nodes[0].PubKey()
	require.NoError(t, err)
	require.True(t, pub.IsEqual(good.Key))
	require.Equal(t, good.ID, r.Nodes[0].ID)
	require.Equal(t, body, r.AppendBody(nil), "re-encodes the bytes it read")
}
