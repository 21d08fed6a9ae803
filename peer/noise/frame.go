package noise

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"golang.org/x/crypto/chacha20poly1305"
)

// frameRekeyInterval is the nonce at which a key rotates (BOLT 8: after
// 1000 uses, i.e. every 500 frames).
const frameRekeyInterval = 1000

// Cipher is one direction of a link's transport encryption after the
// handshake: BOLT 8 message framing with key rotation. A frame on the wire
// is
//
//	ENC(k, n, "", uint16be(len(body)))  18 bytes (FrameHeaderSize)
//	ENC(k, n+1, "", body)               len(body)+16 bytes
//
// where n counts up from 0 and, each time it reaches 1000, the key rotates:
// ck, k = HKDF(ck, k) and n = 0. Each Cipher has its own ck, starting at the
// handshake's final ck.
//
// A send Cipher uses [Cipher.SealFrame] and [Cipher.Seal]; a receive Cipher
// uses [Cipher.OpenHeader] then [Cipher.OpenBody], once each per frame.
// A Cipher is not safe for concurrent use; the send and receive Ciphers of a
// link are independent and may each be owned by its own goroutine. The zero
// Cipher is unusable: get Ciphers from [Handshake.Ciphers]. None of
// the methods allocates when dst has enough capacity, except on the rare
// key rotation.
type Cipher struct {
	aead  cipher.AEAD
	suite CipherSuite // CipherChaCha20Poly1305 until Upgrade
	key   [32]byte    // current key, kept for rotation
	ck    [32]byte    // this direction's chaining key
	n     uint64      // next nonce
	nonce [chacha20poly1305.NonceSize]byte
	hdr   [2]byte // OpenHeader's plaintext

	pending bool  // OpenHeader succeeded; OpenBody is due
	bodyLen int   // body length announced by that header
	err     error // first receive error; sticky
}

func newCipher(key, ck [32]byte) (*Cipher, error) {
	c := &Cipher{key: key, ck: ck, suite: CipherChaCha20Poly1305}
	if err := c.setKey(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cipher) setKey() error {
	aead, err := c.suite.newAEAD(c.key[:])
	if err != nil {
		return fmt.Errorf("noise: frame cipher: %w", err)
	}
	c.aead = aead
	return nil
}

// nextNonce returns the nonce for the next operation and advances the
// counter. Callers must call c.advance after using it.
func (c *Cipher) nextNonce() []byte {
	noiseNonce(&c.nonce, c.n)
	return c.nonce[:]
}

// advance counts one use of the key and rotates it at the interval.
func (c *Cipher) advance() {
	c.n++
	if c.n < frameRekeyInterval {
		return
	}
	c.ck, c.key = noiseHKDF(&c.ck, c.key[:])
	c.n = 0
	if err := c.setKey(); err != nil {
		// The AEADs fail only for a bad key size, or (ChaCha) in FIPS
		// 140-only mode, which newCipher or Upgrade would already have
		// reported.
		panic("noise: unreachable: " + err.Error())
	}
}

// SealFrame appends one frame carrying body to dst and returns the extended
// slice. len(body) must be at most MaxFrameBody; a longer body is a
// programming error and SealFrame returns dst unchanged (use [Cipher.Seal]
// to split), as it does on the zero Cipher. An empty body makes a valid
// empty frame.
//
// For zero-copy sealing, body may alias the frame's body position in dst's
// spare capacity, dst[len(dst)+FrameHeaderSize:][:len(body)], when
// cap(dst) >= len(dst)+len(body)+FrameOverhead: copy the plaintext there and
// it is encrypted in place. Any other overlap of body with dst's spare
// capacity is also handled, by moving body into place first.
func (c *Cipher) SealFrame(dst, body []byte) []byte {
	if len(body) > MaxFrameBody || c.aead == nil {
		return dst
	}
	n := len(body)
	start := len(dst)
	dst = slices.Grow(dst, n+FrameOverhead)
	frame := dst[start : start+n+FrameOverhead]
	bodyOut := frame[FrameHeaderSize : FrameHeaderSize+n]
	if n > 0 && &body[0] != &bodyOut[0] && anyOverlap(frame, body) {
		copy(bodyOut, body) // memmove; now body is exactly in place
		body = bodyOut
	}

	binary.BigEndian.PutUint16(frame, uint16(n))
	c.aead.Seal(frame[:0], c.nextNonce(), frame[:2], nil)
	c.advance()
	c.aead.Seal(bodyOut[:0], c.nextNonce(), body, nil)
	c.advance()
	return dst[:start+len(frame)]
}

// Seal appends p to dst as ceil(len(p)/MaxFrameBody) frames, each
// carrying up to MaxFrameBody bytes, and returns the extended slice. An
// empty p appends nothing. Unlike SealFrame, Seal does not encrypt in
// place: if p overlaps dst's spare capacity it is first copied aside (one
// allocation).
func (c *Cipher) Seal(dst, p []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	frames := (len(p) + MaxFrameBody - 1) / MaxFrameBody
	total := len(p) + frames*FrameOverhead
	start := len(dst)
	dst = slices.Grow(dst, total)
	if anyOverlap(dst[start:start+total], p) {
		p = slices.Clone(p)
	}
	for len(p) > 0 {
		m := min(len(p), MaxFrameBody)
		dst = c.SealFrame(dst, p[:m])
		p = p[m:]
	}
	return dst
}

// OpenHeader decrypts a frame header of exactly FrameHeaderSize bytes and
// returns the length of the frame's body; the caller then reads that many
// bytes plus 16 and passes them to OpenBody. Any error is final: the
// stream is out of step and must be closed. An authentication failure
// wraps ErrFrameAuth.
func (c *Cipher) OpenHeader(hdr []byte) (int, error) {
	if c.err != nil {
		return 0, c.sticky()
	}
	if c.aead == nil {
		return 0, fmt.Errorf("%w: zero Cipher", ErrFrameState)
	}
	if c.pending {
		return 0, c.fail(fmt.Errorf("%w: OpenHeader called before OpenBody", ErrFrameState))
	}
	if len(hdr) != FrameHeaderSize {
		return 0, c.fail(fmt.Errorf("%w: header is %d bytes, want %d", ErrFrameSize, len(hdr), FrameHeaderSize))
	}
	if _, err := c.aead.Open(c.hdr[:0], c.nextNonce(), hdr, nil); err != nil {
		return 0, c.fail(fmt.Errorf("%w: header", ErrFrameAuth))
	}
	c.advance()
	c.bodyLen = int(binary.BigEndian.Uint16(c.hdr[:]))
	c.pending = true
	return c.bodyLen, nil
}

// OpenBody decrypts the body of the frame whose header OpenHeader just
// returned: ct is the body ciphertext and its tag, exactly n+16 bytes for
// the n OpenHeader returned. It appends the plaintext to dst and returns
// the extended slice. Decrypting in place is allowed: pass dst = ct[:0].
// Any error is final; an authentication failure wraps ErrFrameAuth.
func (c *Cipher) OpenBody(dst, ct []byte) ([]byte, error) {
	if c.err != nil {
		return dst, c.sticky()
	}
	if !c.pending || c.aead == nil {
		return dst, c.fail(fmt.Errorf("%w: OpenBody called before OpenHeader", ErrFrameState))
	}
	n := c.bodyLen
	if len(ct) != n+chacha20poly1305.Overhead {
		return dst, c.fail(fmt.Errorf("%w: body is %d bytes, header says %d", ErrFrameSize, len(ct), n+chacha20poly1305.Overhead))
	}
	start := len(dst)
	dst = slices.Grow(dst, n)
	if inexactOverlap(dst[start:start+n], ct) {
		// Only exact in-place decryption is supported by the AEAD, and the
		// tag must not be overwritten before it is checked.
		ct = slices.Clone(ct)
	}
	out, err := c.aead.Open(dst[:start], c.nextNonce(), ct, nil)
	if err != nil {
		return dst[:start], c.fail(fmt.Errorf("%w: body", ErrFrameAuth))
	}
	c.advance()
	c.pending = false
	return out, nil
}

func (c *Cipher) fail(err error) error {
	c.err = err
	return err
}

func (c *Cipher) sticky() error {
	return fmt.Errorf("%w: cipher unusable after: %w", ErrFrameState, c.err)
}

// anyOverlap reports whether x and y share any memory.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

// inexactOverlap reports whether x and y share memory other than at the
// same starting position. (As crypto/internal/alias; the AEAD supports only
// exact overlap.)
func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return anyOverlap(x, y)
}
