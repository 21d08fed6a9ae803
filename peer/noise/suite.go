package noise

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"runtime"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// CipherSuite names the AEAD that seals a link's frames, or, in
// [Config.LinkCipher], which one a side is willing to use.
//
// Every link starts with BOLT 8's ChaCha20-Poly1305. Each side whose
// setting allows it offers AES-256-GCM in its first frame; when both
// offered, each direction switches to AES-256-GCM at a marker frame (see
// [Cipher.Upgrade] and peer/noise/SPEC.md, "Frame cipher negotiation").
// A peer that knows nothing of the offer (wave 1) skips the empty frames
// that carry it and keeps ChaCha20-Poly1305, as does a peer that did not
// offer.
type CipherSuite uint8

const (
	// CipherAuto, the zero value, offers AES-256-GCM when this machine has
	// AES and carry-less multiply instructions (x86 AES-NI and PCLMULQDQ,
	// arm64 AES and PMULL, s390x AES-GCM), where it is faster than
	// ChaCha20-Poly1305, and does not otherwise.
	CipherAuto CipherSuite = iota
	// CipherChaCha20Poly1305 never offers AES-256-GCM: the link stays on
	// BOLT 8's ChaCha20-Poly1305, exactly as a wave-1 peer's.
	CipherChaCha20Poly1305
	// CipherAES256GCM offers AES-256-GCM whatever the hardware (for tests
	// and benchmarks; on a machine without AES instructions Go's constant
	// time software AES is several times slower than ChaCha20-Poly1305).
	CipherAES256GCM
)

// String returns "auto", "chacha20-poly1305" or "aes-256-gcm".
func (s CipherSuite) String() string {
	switch s {
	case CipherAuto:
		return "auto"
	case CipherChaCha20Poly1305:
		return "chacha20-poly1305"
	case CipherAES256GCM:
		return "aes-256-gcm"
	}
	return fmt.Sprintf("CipherSuite(%d)", uint8(s))
}

// offersAES reports whether a side configured with s offers AES-256-GCM on
// this machine.
func (s CipherSuite) offersAES() bool {
	switch s {
	case CipherAuto:
		return HasAESHardware()
	case CipherAES256GCM:
		return true
	}
	return false
}

// HasAESHardware reports whether this machine runs AES-256-GCM in
// hardware (AES rounds and GHASH's carry-less multiply), which is what
// CipherAuto offers AES-256-GCM on.
func HasAESHardware() bool {
	switch runtime.GOARCH {
	case "amd64", "386":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	}
	return false
}

// newAEAD returns the suite's AEAD keyed with a 32-byte key. Both have a
// 12-byte nonce and a 16-byte tag, so the frame layout is the same.
func (s CipherSuite) newAEAD(key []byte) (cipher.AEAD, error) {
	if s != CipherAES256GCM {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// aesUpgradeLabel separates the AES-256-GCM key from the ChaCha20-Poly1305
// key and chaining key it is derived from (see Cipher.Upgrade).
const aesUpgradeLabel = "foxtrot/link/aes-256-gcm"

// Suite returns the AEAD this Cipher seals or opens with now:
// CipherChaCha20Poly1305, or CipherAES256GCM after [Cipher.Upgrade].
func (c *Cipher) Suite() CipherSuite { return c.suite }

// Upgrade switches this direction from ChaCha20-Poly1305 to AES-256-GCM
// for every later frame: ck, k = HKDF(ck, "foxtrot/link/aes-256-gcm" || k)
// and n = 0, then AES-256-GCM with the same nonce layout and the same
// rotation (every 1000 nonces, ck, k = HKDF(ck, k)). Sender and receiver
// call it at the same frame boundary (after the marker frame; see
// peer/noise/SPEC.md). It fails on a Cipher that is not on ChaCha20-
// Poly1305 at a frame boundary.
func (c *Cipher) Upgrade() error {
	if c.aead == nil || c.suite != CipherChaCha20Poly1305 || c.pending || c.err != nil {
		return fmt.Errorf("%w: Upgrade of a %s cipher", ErrFrameState, c.suite)
	}
	ikm := make([]byte, 0, len(aesUpgradeLabel)+len(c.key))
	ikm = append(append(ikm, aesUpgradeLabel...), c.key[:]...)
	ck, key := noiseHKDF(&c.ck, ikm)
	clear(ikm)
	c.suite = CipherAES256GCM
	c.ck, c.key, c.n = ck, key, 0
	if err := c.setKey(); err != nil {
		return c.fail(err)
	}
	return nil
}
