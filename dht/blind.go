package dht

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/codec"
)

// Blinded listener records (SPEC.md, "Listener records").
//
// A foxtrot address is A = HASH160(P) of the listen key P, and a dialler
// knows only A. Everything a dialler needs is therefore derived from A and
// the period number t = floor(unix time / period):
//
//	h       = SHA-256("foxtrot/dht/blind/v1"   || A || t) mod n   blinding factor
//	L       = SHA-256("foxtrot/dht/locator/v1" || A || t)         locator (the record's target)
//	k       = SHA-256("foxtrot/dht/content/v1" || A || t)         ChaCha20-Poly1305 key
//	P_t     = h·P, d_t = h·d                                      blinded key pair
//
// The listener signs the record with d_t (BIP-340, so Key is x-only P_t),
// stores it under L (a locator record), and encrypts its content, which
// begins with P itself, under k with AAD L || x(P_t). A dialler computes L
// and k from A, fetches, decrypts, and accepts only if HASH160(P) = A and
// x(h·P) = x(P_t): then only the holder of d can have signed. A node
// storing or crawling records sees L, P_t and ciphertext: without A it can
// link none of them to P, to A, or to the same listener's records of other
// periods (each is a fresh hash or a fresh multiple of P).
//
// The price of deriving from A rather than P: a storer cannot check that
// a record's key belongs to its locator, so anyone who knows A can put
// records under L with keys of their own. Diallers discard them (they
// fail the proof); storers keep at most StoreConfig.MaxKeysPerTarget keys
// per locator, so squatting is a denial of service bounded per storer,
// not a forgery.

// DefaultPeriod is the listener record period: a fresh locator and blinded
// key every 24 hours, as Tor v3 does.
const DefaultPeriod = 24 * time.Hour

const (
	tagBlind   = "foxtrot/dht/blind/v1"
	tagLocator = "foxtrot/dht/locator/v1"
	tagContent = "foxtrot/dht/content/v1"
)

// PeriodOf returns the period number of now: whole periods since the Unix
// epoch. A zero period means DefaultPeriod.
func PeriodOf(now time.Time, period time.Duration) uint64 {
	if period <= 0 {
		period = DefaultPeriod
	}
	return uint64(now.Unix()) / uint64(period/time.Second)
}

// Blinding is what address A gives for period T.
type Blinding struct {
	Addr    [20]byte
	Period  uint64
	Factor  btcec.ModNScalar // h
	Locator ID               // L
	Content [32]byte         // k
}

func tagged(tag string, a [20]byte, t uint64) [32]byte {
	h := sha256.New()
	h.Write([]byte(tag))
	h.Write(a[:])
	var tb [8]byte
	binary.BigEndian.PutUint64(tb[:], t)
	h.Write(tb[:])
	return [32]byte(h.Sum(nil))
}

// Blind derives the blinding of address a for period t.
func Blind(a addr.Addr, t uint64) Blinding {
	b := Blinding{Addr: a.Hash160(), Period: t}
	f := tagged(tagBlind, b.Addr, t)
	b.Factor.SetBytes(&f) // reduced mod n; zero with negligible odds, refused below
	b.Locator = ID(tagged(tagLocator, b.Addr, t))
	b.Content = tagged(tagContent, b.Addr, t)
	return b
}

// BlindPub returns x(h·P), the x-only blinded key.
func (b *Blinding) BlindPub(pub *btcec.PublicKey) [32]byte {
	var p, r btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarMultNonConst(&b.Factor, &p, &r)
	r.ToAffine()
	return [32]byte(schnorr.SerializePubKey(btcec.NewPublicKey(&r.X, &r.Y)))
}

// BlindPriv returns d_t = h·d.
func (b *Blinding) BlindPriv(key *btcec.PrivateKey) *btcec.PrivateKey {
	var d btcec.ModNScalar
	d.Set(&key.Key)
	d.Mul(&b.Factor)
	return &btcec.PrivateKey{Key: d}
}

// ListenerInfo is a listener record's content: the listen key and the
// nodes that reach it (its own node, relays fronting for it).
type ListenerInfo struct {
	Key   *btcec.PublicKey
	Nodes []Contact
}

func (li *ListenerInfo) appendTo(b []byte) []byte {
	b = append(b, li.Key.SerializeCompressed()...)
	b = append(b, byte(len(li.Nodes)))
	for i := range li.Nodes {
		b = appendContact(b, &li.Nodes[i])
	}
	return b
}

func decodeListenerInfo(p []byte) (*ListenerInfo, error) {
	d := codec.NewReader(p, ErrMalformed)
	kb := d.Take(keySize)
	if d.Err() != nil {
		return nil, d.Err()
	}
	pub, err := btcec.ParsePubKey(kb)
	if err != nil || kb[0] != 2 && kb[0] != 3 {
		return nil, fmt.Errorf("%w: listener key", ErrMalformed)
	}
	li := &ListenerInfo{Key: pub}
	n := int(d.U8())
	if n > K {
		d.Fail("listener: %d nodes", n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		c := decodeContact(d)
		if d.Err() == nil {
			if _, err := c.PubKey(); err != nil { // signed content: parse now
				d.Fail("listener: node key")
			}
		}
		li.Nodes = append(li.Nodes, c)
	}
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("listener: %d trailing bytes", d.Len())
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return li, nil
}

func listenerAAD(loc ID, key [32]byte) []byte {
	return append(append([]byte(tagContent), loc[:]...), key[:]...)
}

// NewListenerRecord returns the record of listen key key for period t:
// info encrypted to whoever knows key's address, under its locator,
// signed by its blinded key. rand supplies the 12-byte nonce.
func NewListenerRecord(key *btcec.PrivateKey, info []Contact, t, seq uint64, expires time.Time, rand io.Reader) (*Record, error) {
	b := Blind(addr.FromPubKey(key.PubKey()), t)
	if b.Factor.IsZero() {
		return nil, fmt.Errorf("%w: zero blinding factor", ErrMalformed)
	}
	li := ListenerInfo{Key: key.PubKey(), Nodes: info}
	plain := li.appendTo(nil)
	if len(plain)+chacha20poly1305.NonceSize+chacha20poly1305.Overhead > MaxValue {
		return nil, fmt.Errorf("%w: listener content of %d bytes", ErrTooLarge, len(plain))
	}
	aead, _ := chacha20poly1305.New(b.Content[:])
	nonce := make([]byte, chacha20poly1305.NonceSize)
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, err
	}
	blinded := b.BlindPriv(key)
	r := &Record{Locator: true, Salt: b.Locator[:], Seq: seq, Expires: expires}
	copy(r.Key[:], schnorr.SerializePubKey(blinded.PubKey()))
	r.Value = aead.Seal(nonce, nonce, plain, listenerAAD(b.Locator, r.Key))
	if err := r.Sign(blinded); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenListenerRecord checks r against address a and period t and returns
// its content: it must sit under a's locator, verify, decrypt under a's
// content key, and prove a (HASH160 of its key is a, and that key blinded
// is r's signer); else ErrNotListener (or the verification error).
func OpenListenerRecord(a addr.Addr, t uint64, r *Record) (*ListenerInfo, error) {
	b := Blind(a, t)
	if !r.Locator || r.Target() != b.Locator {
		return nil, fmt.Errorf("%w: not under the locator", ErrNotListener)
	}
	if err := r.Verify(); err != nil {
		return nil, err
	}
	if len(r.Value) < chacha20poly1305.NonceSize+chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: content too short", ErrNotListener)
	}
	aead, _ := chacha20poly1305.New(b.Content[:])
	nonce, ct := r.Value[:chacha20poly1305.NonceSize], r.Value[chacha20poly1305.NonceSize:]
	plain, err := aead.Open(nil, nonce, ct, listenerAAD(b.Locator, r.Key))
	if err != nil {
		return nil, fmt.Errorf("%w: content does not decrypt", ErrNotListener)
	}
	li, err := decodeListenerInfo(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotListener, err)
	}
	if addr.FromPubKey(li.Key).Hash160() != b.Addr || b.BlindPub(li.Key) != r.Key {
		return nil, fmt.Errorf("%w: key does not prove the address", ErrNotListener)
	}
	return li, nil
}
