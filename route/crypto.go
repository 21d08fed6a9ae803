package route

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/ecdh"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// This file is the pure cryptography of connection setup: making and
// checking requests, acks, refusals and the dialler's hello, and deriving
// the end-to-end session keys. It does no I/O.

// A keyPair is a private key with its public key derived once: btcec's
// PrivateKey.PubKey does a scalar multiplication on every call, which
// connection setup would otherwise repeat a dozen times across a path.
type keyPair struct {
	priv *btcec.PrivateKey
	pub  *btcec.PublicKey
	ser  [33]byte // pub, compressed
}

// publicKeyOps counts the elliptic-curve operations of connection setup
// this process did (key generation and derivation, signing,
// verification, ECDH): the tests of ticket dials check a repeat dial adds
// none. One atomic add beside operations of 30-250 µs.
var publicKeyOps atomic.Int64

func newKeyPair(k *btcec.PrivateKey) *keyPair {
	publicKeyOps.Add(1)
	p := &keyPair{priv: k, pub: k.PubKey()}
	p.ser = ser(p.pub)
	return p
}

// newRequest makes a signed connect request for target with a fresh
// ephemeral key, which it returns for the session key derivation.
func newRequest(target [20]byte, hopLimit, flags uint8, maxPrice uint64, now time.Time, rnd io.Reader) (*wire.ConnectRequest, *keyPair, error) {
	return newRequestKind(wire.TargetAddr, target, hopLimit, flags, maxPrice, now, rnd)
}

// newRequestKind makes a request for a target of the given kind.
func newRequestKind(kind uint8, target [20]byte, hopLimit, flags uint8, maxPrice uint64, now time.Time, rnd io.Reader) (*wire.ConnectRequest, *keyPair, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	eph, err := newKey(rnd)
	if err != nil {
		return nil, nil, err
	}
	var nonce [16]byte
	if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
		return nil, nil, err
	}
	return newRequestWith(kind, target, hopLimit, flags, maxPrice, now, eph, nonce), eph, nil
}

// newRequestWith makes a signed request with a given ephemeral key and
// nonce: a stealth target is derived from them, so every request of one
// connection repeats them.
func newRequestWith(kind uint8, target [20]byte, hopLimit, flags uint8, maxPrice uint64, now time.Time, eph *keyPair, nonce [16]byte) *wire.ConnectRequest {
	req := &wire.ConnectRequest{
		HopLimit: hopLimit,
		Kind:     kind,
		Flags:    flags,
		Target:   target,
		Time:     uint64(now.UnixMilli()),
		MaxPrice: maxPrice,
	}
	req.Ephemeral = eph.ser
	req.Nonce = nonce
	req.Sig = sign(eph.priv, req.SigHash())
	return req
}

// newKey returns a key pair drawn from rnd.
func newKey(rnd io.Reader) (*keyPair, error) {
	if rnd == nil || rnd == rand.Reader {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		return newKeyPair(k), nil
	}
	var b [32]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return nil, err
		}
		k, _ := btcec.PrivKeyFromBytes(b[:])
		if k.Key.IsZero() {
			continue
		}
		return newKeyPair(k), nil
	}
}

// checkRequestTime refuses a request made more than skew from now: with
// deduplication inside that window, a replay is always caught.
func checkRequestTime(req *wire.ConnectRequest, now time.Time, skew time.Duration) error {
	t := time.UnixMilli(int64(req.Time))
	if d := now.Sub(t); d > skew || d < -skew {
		return fmt.Errorf("%w: request time %v is %v from ours", ErrBadRequest, t.UTC(), d.Round(time.Millisecond))
	}
	return nil
}

// checkRequest checks a request's time and signature; it returns the
// dialler's ephemeral key.
func checkRequest(req *wire.ConnectRequest, now time.Time, skew time.Duration) (*btcec.PublicKey, error) {
	if err := checkRequestTime(req, now, skew); err != nil {
		return nil, err
	}
	eph, err := btcec.ParsePubKey(req.Ephemeral[:])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %v", ErrBadRequest, err)
	}
	if err := verify(eph, req.SigHash(), req.Sig); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return eph, nil
}

func verify(pub *btcec.PublicKey, hash [32]byte, sigBytes [64]byte) error {
	publicKeyOps.Add(1)
	sig, err := schnorr.ParseSignature(sigBytes[:])
	if err != nil {
		return err
	}
	if !sig.Verify(hash[:], pub) {
		return fmt.Errorf("signature does not verify")
	}
	return nil
}

// sign makes a BIP-340 signature. It skips btcec's check of its own
// signature (FastSign), which would cost a whole verification: every
// signature here is verified by whoever receives it.
func sign(key *btcec.PrivateKey, hash [32]byte) [64]byte {
	publicKeyOps.Add(1)
	var out [64]byte
	sig, err := schnorr.Sign(key, hash[:], schnorr.FastSign())
	if err != nil {
		// schnorr.Sign fails only for a zero key or a broken RNG.
		panic("route: schnorr sign: " + err.Error())
	}
	copy(out[:], sig.Serialize())
	return out
}

// newAck makes the target's signed answer on one path.
func newAck(id addr.ConnID, dialerEph [33]byte, key, eph *keyPair, path uint32) *wire.ConnectAck {
	ack := &wire.ConnectAck{ID: id, Path: path, TargetKey: key.ser, Ephemeral: eph.ser}
	ack.Sig = sign(key.priv, wire.AckSigHash(id, dialerEph, ack.TargetKey, ack.Ephemeral, path))
	return ack
}

// checkAck verifies that an ack comes from the holder of the key whose
// HASH160 is target, for the request with dialerEph. It returns the
// target's static and ephemeral keys.
func checkAck(ack *wire.ConnectAck, target [20]byte, dialerEph [33]byte) (tKey, tEph *btcec.PublicKey, err error) {
	if tKey, err = btcec.ParsePubKey(ack.TargetKey[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: target key: %v", ErrBadAck, err)
	}
	if addr.FromPubKey(tKey).Hash160() != target {
		return nil, nil, fmt.Errorf("%w: key of %s, not of %s", ErrBadAck, addr.FromPubKey(tKey).String(), addr.FromHash160(target).String())
	}
	if tEph, err = btcec.ParsePubKey(ack.Ephemeral[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: ephemeral key: %v", ErrBadAck, err)
	}
	if err := verify(tKey, wire.AckSigHash(ack.ID, dialerEph, ack.TargetKey, ack.Ephemeral, ack.Path), ack.Sig); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadAck, err)
	}
	return tKey, tEph, nil
}

func newRefuse(id addr.ConnID, key *keyPair, reason uint8) *wire.ConnectRefuse {
	m := &wire.ConnectRefuse{ID: id, Reason: reason, TargetKey: key.ser}
	m.Sig = sign(key.priv, wire.RefuseSigHash(id, m.TargetKey, reason))
	return m
}

func checkRefuse(m *wire.ConnectRefuse, target [20]byte) error {
	tKey, err := btcec.ParsePubKey(m.TargetKey[:])
	if err != nil || addr.FromPubKey(tKey).Hash160() != target {
		return fmt.Errorf("%w: refusal not from the target", ErrBadAck)
	}
	if err := verify(tKey, wire.RefuseSigHash(m.ID, m.TargetKey, m.Reason), m.Sig); err != nil {
		return fmt.Errorf("%w: refusal: %v", ErrBadAck, err)
	}
	return nil
}

// sessionSecret derives the connection's master secret from the
// ephemeral ECDH, bound to the connection ID and all three public keys:
//
//	ee = ECDH(e_d, e_t)   forward secrecy
//	master = HKDF-SHA256(salt = "foxtrot/e2e/v2" || ID, ikm = ee,
//	                     info = E_d || S_t || E_t)
//
// The target's static key S_t authenticates E_t by signing the ack (ID,
// E_d, S_t, E_t), which the dialler checks before using it: the SIGMA
// pattern TLS 1.3 follows. A second ECDH with S_t would add nothing the
// signature does not give, and would cost each side a scalar
// multiplication on the connection's critical path.
func sessionSecret(id addr.ConnID, ee [32]byte, dEph, tKey, tEph [33]byte) [32]byte {
	salt := append([]byte("foxtrot/e2e/v2"), id[:]...)
	info := make([]byte, 0, 99)
	info = append(append(append(info, dEph[:]...), tKey[:]...), tEph[:]...)
	var out [32]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, ee[:], salt, info), out[:]); err != nil {
		panic("route: unreachable: hkdf: " + err.Error())
	}
	return out
}

// dialerSecret is the dialler's side of sessionSecret.
func dialerSecret(id addr.ConnID, eph *keyPair, tKey, tEph *btcec.PublicKey) [32]byte {
	publicKeyOps.Add(1)
	return sessionSecret(id, ecdh.Shared(eph.priv, tEph), eph.ser, ser(tKey), ser(tEph))
}

// targetSecret is the target's side of sessionSecret.
func targetSecret(id addr.ConnID, key, eph *keyPair, dEph *btcec.PublicKey) [32]byte {
	publicKeyOps.Add(1)
	return sessionSecret(id, ecdh.Shared(eph.priv, dEph), ser(dEph), key.ser, eph.ser)
}

func parseKey(b [33]byte) (*btcec.PublicKey, error) { return btcec.ParsePubKey(b[:]) }

func ser(p *btcec.PublicKey) [33]byte {
	var b [33]byte
	copy(b[:], p.SerializeCompressed())
	return b
}

// helloMin is the size of a hello body without relays: the dialler's
// identity key (33), its signature (64) and the relay count (1).
const helloMin = 33 + 64 + 1

// helloHash is what the dialler signs with its identity key to prove who
// it is; it binds the connection ID and all the key material.
func helloHash(id addr.ConnID, dEph, tKey, tEph [33]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("foxtrot/e2e-hello"))
	h.Write(id[:])
	h.Write(dEph[:])
	h.Write(tKey[:])
	h.Write(tEph[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}
