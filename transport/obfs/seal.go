package obfs

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ellswift"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// The wire format (SPEC in the package comment). Everything a datagram
// carries is either uniformly random (nonce, ElligatorSwift key) or
// XChaCha20-Poly1305 output.
const (
	nonceSize  = chacha20poly1305.NonceSizeX // 24, random per datagram
	tagSize    = chacha20poly1305.Overhead   // 16
	headerSize = 8 + 8 + 2                   // sender, sequence, payload length
	ellSize    = 64                          // an ElligatorSwift-encoded public key

	// Overhead is how many bytes the wrapper adds to a datagram keyed by
	// the network key, or sent by a responder to its initiator, before
	// any padding.
	Overhead = nonceSize + headerSize + tagSize
	// InitiatorOverhead is the overhead of a datagram an initiator sends
	// to a responder it dialled by identity: it also carries the
	// initiator's ephemeral key.
	InitiatorOverhead = ellSize + Overhead
	// maxDatagram is the largest UDP payload.
	maxDatagram = 65535 - 8
)

// padSizes are the wire sizes a padded datagram is rounded up to; a
// datagram larger than the last keeps its size. 1452 is the largest UDP
// payload of a 1500-byte IPv6 packet.
var padSizes = [...]int{256, 512, 1024, 1280, 1452}

// header is what a datagram says of itself, inside the encryption.
type header struct {
	// sender is chosen at random by each sending conn: replay windows
	// are kept per sender, not per source address, so a datagram replayed
	// from another address is still caught.
	sender uint64
	// seq is epoch<<32 | counter, epoch in Unix seconds.
	seq uint64
}

func (h header) epoch() int64 { return int64(h.seq >> 32) }

// key seals and opens datagrams; one key serves both directions (every
// nonce is random, and the replay windows tell senders apart).
type key struct{ aead cipher.AEAD }

func newKey(secret, salt []byte, info string, extra ...[]byte) key {
	in := []byte(info)
	for _, e := range extra {
		in = append(in, e...)
	}
	var k [chacha20poly1305.KeySize]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, salt, in), k[:]); err != nil {
		panic(err) // HKDF-SHA256 gives 32 bytes for any input
	}
	aead, err := chacha20poly1305.NewX(k[:])
	if err != nil {
		panic(err) // the key has the right size
	}
	return key{aead}
}

// networkKey is the key every holder of the network's pre-shared key
// shares.
func networkKey(psk []byte) key {
	return newKey(psk, nil, "foxtrot obfs network key")
}

// identityKey is the key of one initiator with one responder: HKDF of the
// x-only ECDH of the initiator's ephemeral key and the responder's static
// key, salted with the network key (if any), bound to the encoded
// ephemeral and the responder's key.
func identityKey(x [32]byte, ell [ellSize]byte, responder *btcec.PublicKey, psk []byte) key {
	return newKey(x[:], psk, "foxtrot obfs identity key", ell[:], responder.SerializeCompressed())
}

// initiate makes an ephemeral key from rnd and returns its ElligatorSwift
// encoding (64 bytes indistinguishable from random; the encoding's own
// randomness comes from crypto/rand, which ellswift does not let us
// inject) and the x coordinate it shares with responder.
func initiate(responder *btcec.PublicKey, rnd io.Reader) (ell [ellSize]byte, x [32]byte, err error) {
	var b [32]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return ell, x, err
	}
	priv, pub := btcec.PrivKeyFromBytes(b[:])
	if priv.Key.IsZero() {
		return ell, x, fmt.Errorf("%w: zero ephemeral key", ErrConfig)
	}
	var px btcec.FieldVal
	px.SetByteSlice(pub.X().Bytes())
	u, t, err := ellswift.XElligatorSwift(&px)
	if err != nil {
		return ell, x, err
	}
	copy(ell[:32], u.Bytes()[:])
	copy(ell[32:], t.Bytes()[:])

	var rp, shared btcec.JacobianPoint
	responder.AsJacobian(&rp)
	btcec.ScalarMultNonConst(&priv.Key, &rp, &shared)
	shared.ToAffine()
	return ell, *shared.X.Bytes(), nil
}

// respond is the responder's half of initiate: the x coordinate it shares
// with the initiator whose encoded key is ell.
func respond(ell [ellSize]byte, identity *btcec.PrivateKey) ([32]byte, error) {
	return ellswift.EllswiftECDHXOnly(ell, identity)
}

// padTo returns the wire size a datagram of natural size n is padded to.
func padTo(n int) int {
	for _, s := range padSizes {
		if n <= s {
			return s
		}
	}
	return n
}

// seal appends to dst the datagram prefix || nonce || AEAD(header ||
// payload || zero padding), with prefix as associated data and a nonce
// read from rnd. With pad, the result's length is rounded up to one of
// padSizes.
func (k key) seal(dst, prefix []byte, h header, payload []byte, pad bool, rnd io.Reader) ([]byte, error) {
	var nonce [nonceSize]byte
	if _, err := io.ReadFull(rnd, nonce[:]); err != nil {
		return dst, err
	}
	return k.sealNonce(dst, prefix, &nonce, h, payload, pad)
}

// sealNonce is seal with the nonce given.
func (k key) sealNonce(dst, prefix []byte, nonce *[nonceSize]byte, h header, payload []byte, pad bool) ([]byte, error) {
	wire := len(prefix) + Overhead + len(payload)
	if wire > maxDatagram {
		return dst, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	padding := 0
	if pad {
		padding = padTo(wire) - wire
	}
	start := len(dst)
	dst = append(dst, prefix...)
	dst = append(dst, nonce[:]...)
	body := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, h.sender)
	dst = binary.BigEndian.AppendUint64(dst, h.seq)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	dst = append(dst, payload...)
	dst = append(dst, make([]byte, padding)...)
	dst = k.aead.Seal(dst[:body], dst[body-nonceSize:body], dst[body:], dst[start:start+len(prefix)])
	return dst, nil
}

// open authenticates and decrypts body (what follows prefix) into dst
// (overwritten, whatever the outcome: an AEAD may scribble on its output
// when a tag does not match, so body is left intact for another key) and
// returns its header and payload (aliasing dst). Padding must be zeros.
func (k key) open(dst, body, prefix []byte) (header, []byte, error) {
	if len(body) < nonceSize+headerSize+tagSize {
		return header{}, nil, errOpen
	}
	nonce, ct := body[:nonceSize], body[nonceSize:]
	pt, err := k.aead.Open(dst[:0], nonce, ct, prefix)
	if err != nil {
		return header{}, nil, errOpen
	}
	h := header{sender: binary.BigEndian.Uint64(pt), seq: binary.BigEndian.Uint64(pt[8:])}
	n := int(binary.BigEndian.Uint16(pt[16:]))
	rest := pt[headerSize:]
	if n > len(rest) {
		return header{}, nil, errOpen
	}
	for _, b := range rest[n:] {
		if b != 0 {
			return header{}, nil, errOpen
		}
	}
	return h, rest[:n], nil
}
