package dht

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/foxtrotnet/foxtrot/addr"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func TestPeriodOf(t *testing.T) {
	require.Equal(t, uint64(0), PeriodOf(time.Unix(86399, 0), 0))
	require.Equal(t, uint64(1), PeriodOf(time.Unix(86400, 0), 0))
	require.Equal(t, uint64(24), PeriodOf(time.Unix(86400, 0), time.Hour))
}

func TestListenerRecordOpensWithOnlyTheAddress(t *testing.T) {
	key := testKey(t, 30)
	nodes := []Contact{testContact(t, 31)}
	exp := time.Unix(2e9, 0)
	r, err := NewListenerRecord(key, nodes, 100, 1, exp, rand.Reader)
	require.NoError(t, err)
	require.NoError(t, r.Verify())

	a := addr.FromPubKey(key.PubKey()) // all the dialler knows
	require.Equal(t, Blind(a, 100).Locator, r.Target())
	li, err := OpenListenerRecord(a, 100, r)
	require.NoError(t, err)
	require.True(t, li.Key.IsEqual(key.PubKey()))
	require.Len(t, li.Nodes, 1)
	require.Equal(t, nodes[0].ID, li.Nodes[0].ID)

	// Its wire form opens too.
	back, err := DecodeRecord(r.Append(nil))
	require.NoError(t, err)
	_, err = OpenListenerRecord(a, 100, back)
	require.NoError(t, err)

	// Another period or another address does not.
	_, err = OpenListenerRecord(a, 101, r)
	require.ErrorIs(t, err, ErrNotListener)
	_, err = OpenListenerRecord(addr.FromPubKey(testKey(t, 32).PubKey()), 100, r)
	require.ErrorIs(t, err, ErrNotListener)
}

// TestSquattersCannotForgeAListenerRecord: someone who knows the address
// (so the locator and content key) but not the listen key's private key
// cannot make a record the dialler accepts.
func TestSquattersCannotForgeAListenerRecord(t *testing.T) {
	victim, squatter := testKey(t, 33), testKey(t, 34)
	a := addr.FromPubKey(victim.PubKey())
	b := Blind(a, 7)
	exp := time.Unix(2e9, 0)

	// Content naming the victim's key, signed by the squatter's own key.
	forged := func(signer *btcec.PrivateKey, claimed *btcec.PublicKey) *Record {
		li := ListenerInfo{Key: claimed, Nodes: []Contact{testContact(t, 35)}}
		r := &Record{Locator: true, Salt: b.Locator[:], Seq: 99, Expires: exp}
		copy(r.Key[:], schnorr.SerializePubKey(signer.PubKey()))
		aead := mustAEAD(t, b.Content[:])
		nonce := make([]byte, 12)
		r.Value = aead.Seal(nonce, nonce, li.appendTo(nil), listenerAAD(b.Locator, r.Key))
		require.NoError(t, r.Sign(signer))
		return r
	}
	_, err := OpenListenerRecord(a, 7, forged(squatter, victim.PubKey()))
	require.ErrorIs(t, err, ErrNotListener)
	// Claiming its own key fails the address check.
	_, err = OpenListenerRecord(a, 7, forged(squatter, squatter.PubKey()))
	require.ErrorIs(t, err, ErrNotListener)
	// Tampering with a genuine record breaks its signature.
	r, err := NewListenerRecord(victim, nil, 7, 1, exp, rand.Reader)
	require.NoError(t, err)
	r.Value[len(r.Value)-1] ^= 1
	_, err = OpenListenerRecord(a, 7, r)
	require.ErrorIs(t, err, ErrBadSignature)
}

// TestCrawlerLearnsNeitherKeyNorAddress: the bytes a storer holds contain
// no form of the listen key or its address, and nothing repeats across
// periods.
func TestCrawlerLearnsNeitherKeyNorAddress(t *testing.T) {
	key := testKey(t, 36)
	pub := key.PubKey()
	a := addr.FromPubKey(pub).Hash160()
	forms := [][]byte{pub.SerializeCompressed(), pub.SerializeUncompressed()[1:33], schnorr.SerializePubKey(pub), a[:]}
	idHash := sha256.Sum256(pub.SerializeCompressed())
	forms = append(forms, idHash[:])
	var prev *Record
	for period := uint64(1000); period < 1010; period++ {
		r, err := NewListenerRecord(key, []Contact{testContact(t, 37)}, period, 1, time.Unix(2e9, 0), rand.Reader)
		require.NoError(t, err)
		wireBytes := r.Append(nil)
		for _, f := range forms {
			require.False(t, bytes.Contains(wireBytes, f[:8]), "a form of the key or address shows")
		}
		if prev != nil {
			require.NotEqual(t, prev.Key, r.Key, "the blinded key changes each period")
			require.NotEqual(t, prev.Salt, r.Salt, "the locator changes each period")
			require.False(t, bytes.Contains(wireBytes, prev.Key[:8]))
		}
		prev = r
	}
}

func TestOversizedListenerContentIsRefused(t *testing.T) {
	var many []Contact
	for i := range K {
		many = append(many, testContact(t, int64(40+i)))
	}
	_, err := NewListenerRecord(testKey(t, 39), many, 1, 1, time.Unix(2e9, 0), rand.Reader)
	require.ErrorIs(t, err, ErrTooLarge)
}

type blindVector struct {
	Comment    string `json:"comment"`
	ListenPriv string `json:"listen_priv_key"`
	ListenPub  string `json:"listen_pub_key"`
	Address    string `json:"address"`
	Period     uint64 `json:"period"`
	Factor     string `json:"blinding_factor"`
	Locator    string `json:"locator"`
	ContentKey string `json:"content_key"`
	BlindedPub string `json:"blinded_pub_key_xonly"`
	Nonce      string `json:"nonce"`
	Seq        uint64 `json:"seq"`
	Expires    int64  `json:"expires"`
	NodeKey    string `json:"node_key"`
	NodeAddr   string `json:"node_multiaddr"`
	Record     string `json:"record"`
}

// TestBlindingVectors checks testdata/vectors.json (SPEC.md's vector),
// regenerated with -update.
func TestBlindingVectors(t *testing.T) {
	seed := sha256.Sum256([]byte("foxtrot dht vector listen key"))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	node := testContact(t, 1)
	node.Addrs = node.Addrs[:1]
	nonce := bytes.Repeat([]byte{0x42}, 12)
	const period, seq, expires = 20000, 1, 1728086400
	r, err := NewListenerRecord(key, []Contact{node}, period, seq, time.Unix(expires, 0), bytes.NewReader(nonce))
	require.NoError(t, err)
	a := addr.FromPubKey(key.PubKey())
	b := Blind(a, period)
	f := b.Factor.Bytes()
	got := blindVector{
		Comment:    "listener record: dialler knows only address; see SPEC.md",
		ListenPriv: hex.EncodeToString(seed[:]), ListenPub: hex.EncodeToString(key.PubKey().SerializeCompressed()),
		Address: a.String(), Period: period, Factor: hex.EncodeToString(f[:]),
		Locator: hex.EncodeToString(b.Locator[:]), ContentKey: hex.EncodeToString(b.Content[:]),
		BlindedPub: hex.EncodeToString(r.Key[:]), Nonce: hex.EncodeToString(nonce), Seq: seq, Expires: expires,
		NodeKey: hex.EncodeToString(node.Key.SerializeCompressed()), NodeAddr: node.Addrs[0].String(),
		Record: hex.EncodeToString(r.Append(nil)),
	}
	const path = "testdata/vectors.json"
	if *update {
		out, err := json.MarshalIndent([]blindVector{got}, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var want []blindVector
	require.NoError(t, json.Unmarshal(raw, &want))
	require.Equal(t, want[0], got)
	// And the stored record opens with the address alone.
	rb, _ := hex.DecodeString(want[0].Record)
	rec, err := DecodeRecord(rb)
	require.NoError(t, err)
	_, err = OpenListenerRecord(a, period, rec)
	require.NoError(t, err)
}

// FuzzDecodeListenerInfo: the decrypted content of a listener record is
// network bytes too (its publisher may be hostile): no panic.
func FuzzDecodeListenerInfo(f *testing.F) {
	li := ListenerInfo{Key: testKey(f, 50).PubKey(), Nodes: []Contact{testContact(f, 51)}}
	f.Add(li.appendTo(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeListenerInfo(b)
		if err != nil {
			return
		}
		if !bytes.Equal(got.appendTo(nil), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func mustAEAD(t *testing.T, key []byte) interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
} {
	a, err := chacha20poly1305.New(key)
	require.NoError(t, err)
	return a
}
