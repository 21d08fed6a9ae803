package noise

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/internal/ecdh"
)

// Primitives shared by the handshake and the frame cipher, named as in
// BOLT 8: ECDH, HKDF, encryptWithAD/decryptWithAD, and the Noise symmetric
// state (ck, h, temp_k).

const (
	noiseNameXK = "Noise_XK_secp256k1_ChaChaPoly_SHA256"
	noiseNameXX = "Noise_XX_secp256k1_ChaChaPoly_SHA256"

	// noisePrologue is BOLT 8's prologue. With a network key the network
	// tag is appended to it.
	noisePrologue = "lightning"

	// noiseNetKeyLabel prefixes the network key before hashing it into the
	// network tag: netTag = SHA256(noiseNetKeyLabel || key).
	noiseNetKeyLabel = "foxtrot network key"

	noisePubKeySize = 33 // compressed secp256k1 point
	noiseMACSize    = chacha20poly1305.Overhead
)

// noiseNetTag returns SHA256("foxtrot network key" || key), or 32 zero bytes
// and false when key is empty.
func noiseNetTag(key []byte) (tag [32]byte, ok bool) {
	if len(key) == 0 {
		return tag, false
	}
	d := sha256.New()
	d.Write([]byte(noiseNetKeyLabel))
	d.Write(key)
	d.Sum(tag[:0])
	return tag, true
}

// noiseECDH is BOLT 8's ECDH: SHA256 of the compressed point priv*pub.
func noiseECDH(priv *btcec.PrivateKey, pub *btcec.PublicKey) [32]byte {
	return ecdh.Shared(priv, pub)
}

// noiseHKDF is BOLT 8's HKDF: HKDF-SHA256 with salt ck, input key material
// ikm and no info, expanded to two 32-byte keys.
func noiseHKDF(ck *[32]byte, ikm []byte) (k1, k2 [32]byte) {
	var out [64]byte
	r := hkdf.New(sha256.New, ikm, ck[:], nil)
	if _, err := io.ReadFull(r, out[:]); err != nil {
		// HKDF-SHA256 can expand to 255*32 bytes; 64 never fails.
		panic("noise: unreachable: hkdf: " + err.Error())
	}
	copy(k1[:], out[:32])
	copy(k2[:], out[32:])
	return k1, k2
}

// noiseNonce writes BOLT 8's 96-bit nonce: 4 zero bytes, then n as 8
// little-endian bytes.
func noiseNonce(dst *[chacha20poly1305.NonceSize]byte, n uint64) {
	binary.LittleEndian.PutUint64(dst[4:], n)
}

// noiseSymmetric is the handshake's Noise symmetric state.
type noiseSymmetric struct {
	ck [32]byte // chaining key
	h  [32]byte // handshake hash
	k  [32]byte // temp_k: the current handshake encryption key
}

// init sets h = SHA256(protocolName), ck = h, h = SHA256(h || prologue).
func (s *noiseSymmetric) init(protocolName string, prologue []byte) {
	s.h = sha256.Sum256([]byte(protocolName))
	s.ck = s.h
	s.mixHash(prologue)
	clear(s.k[:])
}

// mixHash sets h = SHA256(h || data).
func (s *noiseSymmetric) mixHash(data []byte) {
	d := sha256.New()
	d.Write(s.h[:])
	d.Write(data)
	d.Sum(s.h[:0])
}

// mixKey sets ck, temp_k = HKDF(ck, ikm).
func (s *noiseSymmetric) mixKey(ikm []byte) {
	s.ck, s.k = noiseHKDF(&s.ck, ikm)
}

// encrypt is encryptWithAD(temp_k, n, h, plaintext), appended to dst.
func (s *noiseSymmetric) encrypt(dst []byte, n uint64, plaintext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.New(s.k[:])
	if err != nil {
		return dst, fmt.Errorf("noise: handshake cipher: %w", err)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	noiseNonce(&nonce, n)
	return aead.Seal(dst, nonce[:], plaintext, s.h[:]), nil
}

// decrypt is decryptWithAD(temp_k, n, h, ciphertext). It returns the
// plaintext in a new slice, or an error wrapping ErrBadMAC.
func (s *noiseSymmetric) decrypt(n uint64, ciphertext []byte) ([]byte, error) {
	aead, err := chacha20poly1305.New(s.k[:])
	if err != nil {
		return nil, fmt.Errorf("noise: handshake cipher: %w", err)
	}
	var nonce [chacha20poly1305.NonceSize]byte
	noiseNonce(&nonce, n)
	p, err := aead.Open(nil, nonce[:], ciphertext, s.h[:])
	if err != nil {
		return nil, ErrBadMAC
	}
	return p, nil
}

// split derives the two transport keys: first, second = HKDF(ck, empty).
// BOLT 8 names them sk, rk from the initiator's side.
func (s *noiseSymmetric) split() (first, second [32]byte) {
	return noiseHKDF(&s.ck, nil)
}

// wipe clears the handshake secrets.
func (s *noiseSymmetric) wipe() {
	clear(s.ck[:])
	clear(s.h[:])
	clear(s.k[:])
}
