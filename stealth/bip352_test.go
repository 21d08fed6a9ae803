package stealth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// The official BIP-352 vectors (testdata/README.md says where they come
// from), decoded as the BIP's reference.py reads them.
type bip352Case struct {
	Comment string `json:"comment"`
	Sending []struct {
		Given struct {
			Vin        []vecInput `json:"vin"`
			Recipients []struct {
				Address     string `json:"address"`
				ScanPubKey  string `json:"scan_pub_key"`
				SpendPubKey string `json:"spend_pub_key"`
				Count       int    `json:"count"`
			} `json:"recipients"`
		} `json:"given"`
		Expected struct {
			Outputs            [][]string `json:"outputs"`
			SharedSecrets      []*string  `json:"shared_secrets"`
			InputPrivateKeySum *string    `json:"input_private_key_sum"`
			InputPubKeys       []string   `json:"input_pub_keys"`
		} `json:"expected"`
	} `json:"sending"`
	Receiving []struct {
		Given struct {
			Vin         []vecInput `json:"vin"`
			Outputs     []string   `json:"outputs"`
			KeyMaterial struct {
				Spend string `json:"spend_priv_key"`
				Scan  string `json:"scan_priv_key"`
			} `json:"key_material"`
			Labels []uint32 `json:"labels"`
		} `json:"given"`
		Expected struct {
			Addresses []string `json:"addresses"`
			Outputs   *[]struct {
				PrivKeyTweak string `json:"priv_key_tweak"`
				PubKey       string `json:"pub_key"`
				Signature    string `json:"signature"`
			} `json:"outputs"`
			NOutputs       *int    `json:"n_outputs"`
			Tweak          *string `json:"tweak"`
			SharedSecret   *string `json:"shared_secret"`
			InputPubKeySum *string `json:"input_pub_key_sum"`
		} `json:"expected"`
	} `json:"receiving"`
}

type vecInput struct {
	Txid       string `json:"txid"`
	Vout       uint32 `json:"vout"`
	ScriptSig  string `json:"scriptSig"`
	Witness    string `json:"txinwitness"`
	PrivateKey string `json:"private_key"`
	Prevout    struct {
		ScriptPubKey struct {
			Hex string `json:"hex"`
		} `json:"scriptPubKey"`
	} `json:"prevout"`
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func privKey(t *testing.T, s string) *btcec.PrivateKey {
	t.Helper()
	k, _ := btcec.PrivKeyFromBytes(unhex(t, s))
	return k
}

// witness decodes a serialised witness: a count, then length-prefixed items.
func witness(t *testing.T, s string) wire.TxWitness {
	t.Helper()
	if s == "" {
		return nil
	}
	r := bytes.NewReader(unhex(t, s))
	n, err := wire.ReadVarInt(r, 0)
	require.NoError(t, err)
	w := make(wire.TxWitness, n)
	for i := range w {
		w[i], err = wire.ReadVarBytes(r, 0, 1<<20, "witness item")
		require.NoError(t, err)
	}
	require.Zero(t, r.Len(), "trailing witness bytes")
	return w
}

func inputs(t *testing.T, vin []vecInput, withKeys bool) []Input {
	t.Helper()
	var ins []Input
	for _, v := range vin {
		h, err := chainhash.NewHashFromStr(v.Txid) // displayed txids are byte-reversed
		require.NoError(t, err)
		in := Input{
			Outpoint:  wire.OutPoint{Hash: *h, Index: v.Vout},
			ScriptSig: unhex(t, v.ScriptSig),
			Witness:   witness(t, v.Witness),
			PrevOut:   unhex(t, v.Prevout.ScriptPubKey.Hex),
		}
		if withKeys && v.PrivateKey != "" {
			in.Key = privKey(t, v.PrivateKey)
		}
		ins = append(ins, in)
	}
	return ins
}

func sortedHex(xs [][32]byte) []string {
	var out []string
	for _, x := range xs {
		out = append(out, hex.EncodeToString(x[:]))
	}
	sort.Strings(out)
	return out
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}

// TestEveryBIP352VectorPasses runs all 28 official cases, sending and
// receiving, checking the intermediate values too, and fails if any case
// or any of its tests was not run.
func TestEveryBIP352VectorPasses(t *testing.T) {
	raw, err := os.ReadFile("testdata/send_and_receive_test_vectors.json")
	require.NoError(t, err)
	var cases []bip352Case
	require.NoError(t, json.Unmarshal(raw, &cases))
	require.Len(t, cases, 28, "the BIP-352 vector file has 28 cases")

	msg := sha256.Sum256([]byte("message"))
	aux := sha256.Sum256([]byte("random auxiliary data"))
	var sent, received, wantSent, wantReceived, passed int
	for _, c := range cases {
		wantSent += len(c.Sending)
		wantReceived += len(c.Receiving)
		ok := t.Run(c.Comment, func(t *testing.T) {
			require.NotEmpty(t, c.Sending)
			require.NotEmpty(t, c.Receiving)
			for _, s := range c.Sending {
				ins := inputs(t, s.Given.Vin, true)
				var pubs []string
				for _, in := range ins {
					if pub, _, ok := InputPublicKey(in); ok {
						pubs = append(pubs, hex.EncodeToString(pub.SerializeCompressed()))
					}
				}
				require.Equal(t, s.Expected.InputPubKeys, append([]string{}, pubs...), "input_pub_keys")

				var recipients []Address
				for _, r := range s.Given.Recipients {
					a, err := ParseAddress(r.Address)
					require.NoError(t, err)
					require.Equal(t, r.ScanPubKey, hex.EncodeToString(a.Scan.SerializeCompressed()))
					require.Equal(t, r.SpendPubKey, hex.EncodeToString(a.Spend.SerializeCompressed()))
					require.Equal(t, r.Address, a.String())
					n := max(r.Count, 1)
					for range n {
						recipients = append(recipients, a)
					}
				}

				if s.Expected.InputPrivateKeySum != nil {
					a, err := inputKeySum(ins)
					require.NoError(t, err)
					b := a.Bytes()
					require.Equal(t, *s.Expected.InputPrivateKeySum, hex.EncodeToString(b[:]), "input_private_key_sum")
				}

				outs, shared, err := createOutputs(ins, recipients)
				if len(s.Expected.Outputs) == 1 && len(s.Expected.Outputs[0]) == 0 {
					// Sending fails: no eligible input, keys summing to
					// zero, or a group over K_max.
					require.Error(t, err)
					switch {
					case len(pubs) == 0:
						require.ErrorIs(t, err, ErrNoInputs)
					case len(recipients) > KMax:
						require.ErrorIs(t, err, ErrTooManyRecipients)
					default:
						require.ErrorIs(t, err, ErrInfinity)
					}
					require.Nil(t, outs)
					sent++
					continue
				}
				require.NoError(t, err)
				require.Len(t, outs, len(recipients))
				var xs [][32]byte
				for _, o := range outs {
					xs = append(xs, [32]byte(schnorr.SerializePubKey(o)))
				}
				got := sortedHex(xs)
				match := false
				for _, want := range s.Expected.Outputs {
					if slicesEqual(got, sorted(want)) {
						match = true
					}
				}
				require.True(t, match, "outputs %v are none of the expected sets %v", got, s.Expected.Outputs)
				require.Len(t, s.Expected.SharedSecrets, len(recipients))
				for i, want := range s.Expected.SharedSecrets {
					require.NotNil(t, want)
					require.Equal(t, *want, hex.EncodeToString(shared[i][:]), "shared secret of recipient %d", i)
				}
				sent++
			}

			for _, r := range c.Receiving {
				keys, err := NewKeys(privKey(t, r.Given.KeyMaterial.Scan), privKey(t, r.Given.KeyMaterial.Spend))
				require.NoError(t, err)
				addrs := []string{keys.Address().String()}
				for _, m := range r.Given.Labels {
					a, err := keys.LabelAddress(m)
					require.NoError(t, err)
					addrs = append(addrs, a.String())
				}
				require.Equal(t, r.Expected.Addresses, addrs, "addresses")

				scanner, err := keys.Scanner(r.Given.Labels...)
				require.NoError(t, err)
				ins := inputs(t, r.Given.Vin, false)
				var outputs [][32]byte
				for _, o := range r.Given.Outputs {
					outputs = append(outputs, [32]byte(unhex(t, o)))
				}
				found, err := scanner.Scan(ins, outputs)
				if r.Expected.Tweak == nil {
					// The transaction is skipped: no eligible input, or
					// keys summing to the point at infinity.
					require.Error(t, err)
					require.True(t, errorIsAny(err, ErrNoInputs, ErrInfinity), "%v", err)
					require.Empty(t, found)
					require.NotNil(t, r.Expected.Outputs)
					require.Empty(t, *r.Expected.Outputs)
					received++
					continue
				}
				require.NoError(t, err)

				sum, err := inputPubKeySum(ins)
				require.NoError(t, err)
				serSum := serP(&sum)
				require.Equal(t, *r.Expected.InputPubKeySum, hex.EncodeToString(serSum[:]), "input_pub_key_sum")
				tweak, err := TxTweak(ins)
				require.NoError(t, err)
				require.Equal(t, *r.Expected.Tweak, hex.EncodeToString(tweak.SerializeCompressed()), "tweak")
				shared := scanner.sharedSecret(tweak)
				require.Equal(t, *r.Expected.SharedSecret, hex.EncodeToString(shared[:]), "shared_secret")

				type out struct{ PubKey, Tweak, Sig string }
				var got []out
				for _, f := range found {
					priv, err := keys.PrivateKey(f.Tweak)
					require.NoError(t, err)
					require.Equal(t, f.Output[:], schnorr.SerializePubKey(priv.PubKey()), "the tweak spends the output")
					o := out{PubKey: hex.EncodeToString(f.Output[:]), Tweak: hex.EncodeToString(f.Tweak[:])}
					if r.Expected.Outputs != nil {
						sig, err := schnorr.Sign(priv, msg[:], schnorr.CustomNonce(aux))
						require.NoError(t, err)
						pub, err := schnorr.ParsePubKey(f.Output[:])
						require.NoError(t, err)
						require.True(t, sig.Verify(msg[:], pub))
						o.Sig = hex.EncodeToString(sig.Serialize())
					}
					got = append(got, o)
				}
				if r.Expected.Outputs != nil {
					var want []out
					for _, o := range *r.Expected.Outputs {
						want = append(want, out{o.PubKey, o.PrivKeyTweak, o.Signature})
					}
					require.ElementsMatch(t, want, got)
				} else {
					require.NotNil(t, r.Expected.NOutputs, "either outputs or n_outputs")
					require.Len(t, found, *r.Expected.NOutputs)
				}
				received++
			}
		})
		if ok {
			passed++
		}
	}
	require.Equal(t, 28, passed, "cases passed")
	require.Equal(t, wantSent, sent, "sending tests run")
	require.Equal(t, wantReceived, received, "receiving tests run")
	require.Equal(t, 28, wantSent)
	require.Equal(t, 29, wantReceived)
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func errorIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
