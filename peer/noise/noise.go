package noise

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Sizes of the handshake acts and of the frame layout (see [Handshake] and
// [Cipher]).
const (
	ActOneSize   = 50 // both patterns: version || e (33) || tag (16)
	ActTwoSizeXK = 50 // version || e (33) || tag (16)
	ActTwoSizeXX = 99 // version || e (33) || encrypted s (49) || tag (16)
	ActThreeSize = 66 // both patterns: version || encrypted s (49) || tag (16)

	MaxFrameBody    = 65535 // largest body of one frame
	FrameHeaderSize = 18    // encrypted 2-byte length || tag
	FrameOverhead   = 34    // FrameHeaderSize + body tag
)

// Version bytes: the first byte of every act names the pattern.
const (
	noiseVersionXK = 0 // BOLT 8
	noiseVersionXX = 1
)

// Pattern is the Noise handshake pattern of a [Handshake].
type Pattern uint8

// The zero Pattern means "not known yet": a responder learns the pattern
// from the version byte of act one.
const (
	// PatternXK is BOLT 8's Noise_XK: the initiator knows the responder's
	// static key in advance.
	PatternXK Pattern = iota + 1
	// PatternXX is Noise_XX: both static keys travel, encrypted, in the
	// handshake. The initiator learns the responder's key from act two.
	PatternXX
)

// String returns "XK", "XX", or "unknown" for the zero Pattern.
func (p Pattern) String() string {
	switch p {
	case 0:
		return "unknown"
	case PatternXK:
		return "XK"
	case PatternXX:
		return "XX"
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

func (p Pattern) version() byte {
	if p == PatternXX {
		return noiseVersionXX
	}
	return noiseVersionXK
}

// Config configures one side of a handshake. It is read by
// [NewInitiator] and [NewResponder] and not retained, so it may be reused.
type Config struct {
	// Static is this node's identity key. Required.
	Static *btcec.PrivateKey

	// RemoteStatic is the responder's identity key, for initiators only:
	// set, the handshake is Noise_XK (BOLT 8); nil, it is Noise_XX and the
	// responder's key is learnt from act two. A responder must leave it nil
	// (it learns the initiator's key from act three and does no pinning).
	RemoteStatic *btcec.PublicKey

	// NetworkKey is an optional pre-shared key. Empty means none, in which
	// case XK is byte-for-byte BOLT 8. Both sides must hold the same key:
	// a responder rejects act one from an initiator with any other key (or
	// none), before sending a byte, and vice versa. Use at least 32 random
	// bytes; the key is not kept, only a hash of it.
	NetworkKey []byte

	// Ephemeral returns a fresh ephemeral key; it is called once per
	// handshake. Nil means btcec.NewPrivateKey. Tests inject fixed keys.
	Ephemeral func() (*btcec.PrivateKey, error)

	// LinkCipher says whether [Client] and [Server] offer AES-256-GCM for
	// the link's frames. The zero value, CipherAuto, offers it when this
	// machine has AES hardware; CipherChaCha20Poly1305 never offers it.
	// The link uses AES-256-GCM only when both sides offered. The
	// [Handshake] state machine itself ignores this field.
	LinkCipher CipherSuite
}

// noiseStep is where a Handshake is in its sequence of acts.
type noiseStep uint8

const (
	stepActOne   noiseStep = iota // initiator: GenActOne; responder: RecvActOne
	stepActTwo                    // initiator: RecvActTwo; responder: GenActTwo
	stepActThree                  // initiator: GenActThree; responder: RecvActThree
	stepDone                      // Ciphers may be called
	stepSpent                     // Ciphers was called; keys are gone
	stepFailed                    // an error occurred; see Handshake.err
)

// Handshake is one side of one Noise handshake over secp256k1, in the manner
// of Lightning's BOLT 8. It is a pure state machine: it reads and writes
// byte slices, and the caller moves them over the wire. It is not safe for
// concurrent use.
//
// Two patterns share the primitives (ECDH = SHA256(compressed(k*P)),
// HKDF-SHA256 with salt ck, ChaCha20-Poly1305 with nonce 0^32 || LE64(n),
// SHA-256) and the act sizes, except act two. In the diagram e is an
// ephemeral key, s a static key, ENC(k, n, ad, p) ChaCha20-Poly1305 with
// associated data ad, "kN: es = ECDH(e_i, s_r)" means
// ck, kN = HKDF(ck, ECDH(e_i, s_r)), and every public key and ciphertext
// sent is mixed into h (h = SHA256(h || bytes)) right after it is made.
//
//	Noise_XK, version byte 0 (BOLT 8): the initiator knows s_r beforehand.
//	  h mixes prologue, then s_r
//	  initiator                                               responder
//	  GenActOne   --- 0 | e_i | ENC(k1,0,h,"") ------------->  RecvActOne    k1: es = ECDH(e_i, s_r)
//	  RecvActTwo  <-- 0 | e_r | ENC(k2,0,h,"") --------------  GenActTwo     k2: ee = ECDH(e_r, e_i)
//	  GenActThree --- 0 | ENC(k2,1,h,s_i) | ENC(k3,0,h,"") -->  RecvActThree  k3: se = ECDH(s_i, e_r)
//	                  50, 50 and 66 bytes
//
//	Noise_XX, version byte 1: the initiator learns s_r from act two.
//	  h mixes prologue; k0: ck, k0 = HKDF(ck, netTag, or 32 zero bytes)
//	  GenActOne   --- 1 | e_i | ENC(k0,0,h,"") ------------->  RecvActOne
//	  RecvActTwo  <-- 1 | e_r | ENC(k1,0,h,s_r) | ENC(k2,0,h,"")  GenActTwo  k1: ee = ECDH(e_r, e_i)
//	                                                                         k2: es = ECDH(s_r, e_i)
//	  GenActThree --- 1 | ENC(k2,1,h,s_i) | ENC(k3,0,h,"") -->  RecvActThree  k3: se = ECDH(s_i, e_r)
//	                  50, 99 and 66 bytes
//
// Then both sides split: sk, rk = HKDF(ck, ""), the initiator sending with
// sk and the responder with rk; see [Handshake.Ciphers]. The prologue is
// "lightning", or "lightning" || netTag with a network key, where
// netTag = SHA256("foxtrot network key" || key). peer/noise/SPEC.md has the
// byte-level steps of XX and a test vector.
//
// The call sequence, one method per step, each exactly once:
//
//	initiator: NewInitiator → GenActOne → RecvActTwo → GenActThree → Ciphers
//	responder: NewResponder → RecvActOne → GenActTwo → RecvActThree → Ciphers
//
// Any error is final: every later call fails with an error wrapping
// [ErrHandshakeState] and the first error. After Ciphers the handshake is
// spent: every method but Pattern, ActTwoSize and RemoteStatic fails. A responder that gets an error
// from RecvActOne should close the connection without writing anything.
type Handshake struct {
	initiator bool
	pattern   Pattern
	step      noiseStep
	err       error // first error, once step == stepFailed

	s    btcec.PrivateKey // own static key (a copy)
	sPub [noisePubKeySize]byte
	rs   *btcec.PublicKey // remote static key (XK initiator: from config)
	e    btcec.PrivateKey // own ephemeral key (a copy)
	re   *btcec.PublicKey // remote ephemeral key

	ephemeral func() (*btcec.PrivateKey, error)
	prologue  []byte
	netTag    [32]byte // zero when there is no network key
	sym       noiseSymmetric

	send, recv [32]byte // transport keys once step == stepDone
}

// NewInitiator returns the initiating side of a handshake: Noise_XK if
// cfg.RemoteStatic is set, else Noise_XX.
func NewInitiator(cfg Config) (*Handshake, error) {
	h, err := newHandshake(cfg, true)
	if err != nil {
		return nil, err
	}
	if cfg.RemoteStatic == nil {
		h.pattern = PatternXX
	} else {
		h.pattern = PatternXK
		h.rs = cfg.RemoteStatic
	}
	h.initSymmetric()
	return h, nil
}

// NewResponder returns the responding side of a handshake. The pattern is
// chosen by the initiator and learnt from act one.
func NewResponder(cfg Config) (*Handshake, error) {
	if cfg.RemoteStatic != nil {
		return nil, fmt.Errorf("%w: RemoteStatic is for initiators only", ErrHandshakeConfig)
	}
	return newHandshake(cfg, false)
}

func newHandshake(cfg Config, initiator bool) (*Handshake, error) {
	if cfg.Static == nil || cfg.Static.Key.IsZero() {
		return nil, fmt.Errorf("%w: Static key is required", ErrHandshakeConfig)
	}
	h := &Handshake{
		initiator: initiator,
		s:         *cfg.Static,
		ephemeral: cfg.Ephemeral,
	}
	if h.ephemeral == nil {
		h.ephemeral = btcec.NewPrivateKey
	}
	copy(h.sPub[:], cfg.Static.PubKey().SerializeCompressed())
	h.prologue = []byte(noisePrologue)
	if tag, ok := noiseNetTag(cfg.NetworkKey); ok {
		h.netTag = tag
		h.prologue = append(h.prologue, tag[:]...)
	}
	return h, nil
}

// initSymmetric starts the symmetric state for h.pattern: the protocol name,
// the prologue, then XK's pre-message (the responder's static key) or XX's
// network-tag key.
func (h *Handshake) initSymmetric() {
	switch h.pattern {
	case PatternXK:
		h.sym.init(noiseNameXK, h.prologue)
		if h.initiator {
			h.sym.mixHash(h.rs.SerializeCompressed())
		} else {
			h.sym.mixHash(h.sPub[:])
		}
	case PatternXX:
		h.sym.init(noiseNameXX, h.prologue)
		h.sym.mixKey(h.netTag[:])
	}
}

// Pattern returns the handshake pattern. A responder returns the zero
// Pattern until RecvActOne has seen a known version byte.
func (h *Handshake) Pattern() Pattern { return h.pattern }

// ActTwoSize returns the length of act two for this handshake's pattern:
// ActTwoSizeXK or ActTwoSizeXX. An initiator knows it from construction, a
// responder after RecvActOne; before that it returns 0.
func (h *Handshake) ActTwoSize() int {
	switch h.pattern {
	case PatternXK:
		return ActTwoSizeXK
	case PatternXX:
		return ActTwoSizeXX
	}
	return 0
}

// RemoteStatic returns the authenticated static key of the remote side,
// or nil while it is not yet authenticated. An initiator has it once act
// two is received (in XX that is when it learns it, so it can check the
// responder's identity before revealing its own in act three); a responder
// once act three is.
func (h *Handshake) RemoteStatic() *btcec.PublicKey {
	if h.initiator && h.step == stepActThree {
		return h.rs
	}
	if h.step != stepDone && h.step != stepSpent {
		return nil
	}
	return h.rs
}

// GenActOne returns act one (ActOneSize bytes). Initiator only.
func (h *Handshake) GenActOne() ([]byte, error) {
	if err := h.enter(true, stepActOne, "GenActOne"); err != nil {
		return nil, err
	}
	act, err := h.genActOne()
	return act, h.leave(err)
}

// RecvActOne processes act one. Responder only. The version byte picks the
// pattern: 0 is XK, 1 is XX. On error the responder should close the
// connection without a reply.
func (h *Handshake) RecvActOne(b []byte) error {
	if err := h.enter(false, stepActOne, "RecvActOne"); err != nil {
		return err
	}
	return h.leave(h.recvActOne(b))
}

// GenActTwo returns act two (ActTwoSize bytes). Responder only.
func (h *Handshake) GenActTwo() ([]byte, error) {
	if err := h.enter(false, stepActTwo, "GenActTwo"); err != nil {
		return nil, err
	}
	act, err := h.genActTwo()
	return act, h.leave(err)
}

// RecvActTwo processes act two, which must be ActTwoSize bytes. Initiator
// only. In XX it learns and authenticates the responder's static key.
func (h *Handshake) RecvActTwo(b []byte) error {
	if err := h.enter(true, stepActTwo, "RecvActTwo"); err != nil {
		return err
	}
	return h.leave(h.recvActTwo(b))
}

// GenActThree returns act three (ActThreeSize bytes) and completes the
// initiator's side. Initiator only.
func (h *Handshake) GenActThree() ([]byte, error) {
	if err := h.enter(true, stepActThree, "GenActThree"); err != nil {
		return nil, err
	}
	act, err := h.genActThree()
	return act, h.leave(err)
}

// RecvActThree processes act three, learns the initiator's static key and
// completes the responder's side. Responder only.
func (h *Handshake) RecvActThree(b []byte) error {
	if err := h.enter(false, stepActThree, "RecvActThree"); err != nil {
		return err
	}
	return h.leave(h.recvActThree(b))
}

// Ciphers returns the transport ciphers of a completed handshake: send
// encrypts frames to the remote side, recv decrypts frames from it. They
// may be used from two goroutines, one each. Ciphers may be called once:
// the handshake forgets its keys, so no two Ciphers can ever reuse a nonce.
func (h *Handshake) Ciphers() (send, recv *Cipher, err error) {
	if err := h.enter(h.initiator, stepDone, "Ciphers"); err != nil {
		return nil, nil, err
	}
	send, err = newCipher(h.send, h.sym.ck)
	if err == nil {
		recv, err = newCipher(h.recv, h.sym.ck)
	}
	clear(h.send[:])
	clear(h.recv[:])
	h.sym.wipe()
	if err != nil {
		return nil, nil, h.leave(err)
	}
	h.step = stepSpent
	return send, recv, nil
}

// enter checks that the method name may run now, for the given role.
func (h *Handshake) enter(initiator bool, step noiseStep, name string) error {
	switch h.step {
	case stepFailed:
		return fmt.Errorf("%w: %s after failure: %w", ErrHandshakeState, name, h.err)
	case stepSpent:
		// Not a failure: the link built from the Ciphers stands.
		return fmt.Errorf("%w: %s after Ciphers", ErrHandshakeState, name)
	}
	if h.initiator != initiator {
		role := "responder"
		if h.initiator {
			role = "initiator"
		}
		return h.fail(fmt.Errorf("%w: %s called on the %s", ErrHandshakeState, name, role))
	}
	if h.step != step {
		return h.fail(fmt.Errorf("%w: %s called out of order", ErrHandshakeState, name))
	}
	return nil
}

// leave advances to the next step, or records err as final.
func (h *Handshake) leave(err error) error {
	if err != nil {
		return h.fail(err)
	}
	h.step++
	if h.step == stepDone {
		h.e.Zero()
		h.s.Zero()
	}
	return nil
}

func (h *Handshake) fail(err error) error {
	h.step = stepFailed
	h.err = err
	h.sym.wipe()
	h.e.Zero()
	h.s.Zero()
	clear(h.send[:])
	clear(h.recv[:])
	return err
}

// newEphemeral draws this side's ephemeral key.
func (h *Handshake) newEphemeral() error {
	e, err := h.ephemeral()
	if err != nil {
		return fmt.Errorf("noise: generating ephemeral key: %w", err)
	}
	if e == nil || e.Key.IsZero() {
		return fmt.Errorf("%w: Ephemeral returned no key", ErrHandshakeConfig)
	}
	h.e = *e
	return nil
}

// checkAct checks an act's length and version byte.
func (h *Handshake) checkAct(b []byte, size int, act string) error {
	if len(b) != size {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrActSize, act, len(b), size)
	}
	if b[0] != h.pattern.version() {
		return fmt.Errorf("%w: %s version %d in %s handshake", ErrBadVersion, act, b[0], h.pattern)
	}
	return nil
}

func parseActKey(b []byte, what string) (*btcec.PublicKey, error) {
	if len(b) != noisePubKeySize || (b[0] != 2 && b[0] != 3) {
		return nil, fmt.Errorf("%w: %s is not a compressed point", ErrBadKey, what)
	}
	k, err := btcec.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKey, what, err)
	}
	return k, nil
}

func badMAC(act string) error {
	return fmt.Errorf("%w: %s", ErrBadMAC, act)
}

// genActOne, initiator, both patterns:
//
//	e = generateKey(); h = SHA256(h || e.pub)
//	XK: ck, temp_k1 = HKDF(ck, ECDH(e, rs))   (XX: temp_k from the network tag)
//	c = ENC(temp_k, 0, h, ""); h = SHA256(h || c)
//	act one = version || e.pub || c
func (h *Handshake) genActOne() ([]byte, error) {
	if err := h.newEphemeral(); err != nil {
		return nil, err
	}
	ePub := h.e.PubKey().SerializeCompressed()
	act := make([]byte, 0, ActOneSize)
	act = append(act, h.pattern.version())
	act = append(act, ePub...)

	h.sym.mixHash(ePub)
	if h.pattern == PatternXK {
		es := noiseECDH(&h.e, h.rs)
		h.sym.mixKey(es[:])
	}
	act, err := h.sym.encrypt(act, 0, nil)
	if err != nil {
		return nil, err
	}
	h.sym.mixHash(act[1+noisePubKeySize:])
	return act, nil
}

// recvActOne, responder: the mirror of genActOne. In XX the tag is checked
// before the key is parsed, so act one with the wrong network key costs the
// responder two hashes and one HKDF, and no curve arithmetic.
func (h *Handshake) recvActOne(b []byte) error {
	if len(b) != ActOneSize {
		return fmt.Errorf("%w: act one is %d bytes, want %d", ErrActSize, len(b), ActOneSize)
	}
	switch b[0] {
	case noiseVersionXK:
		h.pattern = PatternXK
	case noiseVersionXX:
		h.pattern = PatternXX
	default:
		return fmt.Errorf("%w: act one version %d", ErrBadVersion, b[0])
	}
	h.initSymmetric()
	eBytes, tag := b[1:1+noisePubKeySize], b[1+noisePubKeySize:]

	switch h.pattern {
	case PatternXK:
		re, err := parseActKey(eBytes, "act one ephemeral key")
		if err != nil {
			return err
		}
		h.re = re
		h.sym.mixHash(eBytes)
		es := noiseECDH(&h.s, h.re)
		h.sym.mixKey(es[:])
		if _, err := h.sym.decrypt(0, tag); err != nil {
			return badMAC("act one")
		}
	case PatternXX:
		h.sym.mixHash(eBytes)
		if _, err := h.sym.decrypt(0, tag); err != nil {
			return badMAC("act one")
		}
		re, err := parseActKey(eBytes, "act one ephemeral key")
		if err != nil {
			return err
		}
		h.re = re
	}
	h.sym.mixHash(tag)
	return nil
}

// genActTwo, responder:
//
//	e = generateKey(); h = SHA256(h || e.pub)
//	ck, temp_k2 = HKDF(ck, ECDH(e, re))
//	XK: c = ENC(temp_k2, 0, h, ""); h = SHA256(h || c)
//	    act two = 0 || e.pub || c
//	XX: c = ENC(temp_k2, 0, h, s.pub); h = SHA256(h || c)
//	    ck, temp_k3 = HKDF(ck, ECDH(s, re))
//	    t = ENC(temp_k3, 0, h, ""); h = SHA256(h || t)
//	    act two = 1 || e.pub || c || t
func (h *Handshake) genActTwo() ([]byte, error) {
	if err := h.newEphemeral(); err != nil {
		return nil, err
	}
	ePub := h.e.PubKey().SerializeCompressed()
	act := make([]byte, 0, h.ActTwoSize())
	act = append(act, h.pattern.version())
	act = append(act, ePub...)

	h.sym.mixHash(ePub)
	ee := noiseECDH(&h.e, h.re)
	h.sym.mixKey(ee[:])
	var err error
	switch h.pattern {
	case PatternXK:
		act, err = h.sym.encrypt(act, 0, nil)
		if err != nil {
			return nil, err
		}
		h.sym.mixHash(act[1+noisePubKeySize:])
	case PatternXX:
		const cEnd = 1 + noisePubKeySize + noisePubKeySize + noiseMACSize
		act, err = h.sym.encrypt(act, 0, h.sPub[:])
		if err != nil {
			return nil, err
		}
		h.sym.mixHash(act[1+noisePubKeySize : cEnd])
		es := noiseECDH(&h.s, h.re)
		h.sym.mixKey(es[:])
		act, err = h.sym.encrypt(act, 0, nil)
		if err != nil {
			return nil, err
		}
		h.sym.mixHash(act[cEnd:])
	}
	return act, nil
}

// recvActTwo, initiator: the mirror of genActTwo. In XX it decrypts,
// parses and authenticates the responder's static key.
func (h *Handshake) recvActTwo(b []byte) error {
	if err := h.checkAct(b, h.ActTwoSize(), "act two"); err != nil {
		return err
	}
	eBytes := b[1 : 1+noisePubKeySize]
	re, err := parseActKey(eBytes, "act two ephemeral key")
	if err != nil {
		return err
	}
	h.re = re
	h.sym.mixHash(eBytes)
	ee := noiseECDH(&h.e, h.re)
	h.sym.mixKey(ee[:])

	switch h.pattern {
	case PatternXK:
		tag := b[1+noisePubKeySize:]
		if _, err := h.sym.decrypt(0, tag); err != nil {
			return badMAC("act two")
		}
		h.sym.mixHash(tag)
	case PatternXX:
		const cEnd = 1 + noisePubKeySize + noisePubKeySize + noiseMACSize
		c, tag := b[1+noisePubKeySize:cEnd], b[cEnd:]
		rsBytes, err := h.sym.decrypt(0, c)
		if err != nil {
			return badMAC("act two static key")
		}
		h.sym.mixHash(c)
		rs, err := parseActKey(rsBytes, "act two static key")
		if err != nil {
			return err
		}
		es := noiseECDH(&h.e, rs)
		h.sym.mixKey(es[:])
		if _, err := h.sym.decrypt(0, tag); err != nil {
			return badMAC("act two")
		}
		h.sym.mixHash(tag)
		h.rs = rs
	}
	return nil
}

// genActThree, initiator, both patterns:
//
//	c = ENC(temp_k, 1, h, s.pub); h = SHA256(h || c)
//	ck, temp_k3 = HKDF(ck, ECDH(s, re))
//	t = ENC(temp_k3, 0, h, "")
//	sk, rk = HKDF(ck, "")
//	act three = version || c || t
func (h *Handshake) genActThree() ([]byte, error) {
	act := make([]byte, 0, ActThreeSize)
	act = append(act, h.pattern.version())
	act, err := h.sym.encrypt(act, 1, h.sPub[:])
	if err != nil {
		return nil, err
	}
	h.sym.mixHash(act[1:])
	se := noiseECDH(&h.s, h.re)
	h.sym.mixKey(se[:])
	act, err = h.sym.encrypt(act, 0, nil)
	if err != nil {
		return nil, err
	}
	h.sym.mixHash(act[1+noisePubKeySize+noiseMACSize:])
	h.send, h.recv = h.sym.split()
	return act, nil
}

// recvActThree, responder: the mirror of genActThree. The responder's
// receive key is the initiator's sk.
func (h *Handshake) recvActThree(b []byte) error {
	if err := h.checkAct(b, ActThreeSize, "act three"); err != nil {
		return err
	}
	const cEnd = 1 + noisePubKeySize + noiseMACSize
	c, tag := b[1:cEnd], b[cEnd:]
	rsBytes, err := h.sym.decrypt(1, c)
	if err != nil {
		return badMAC("act three static key")
	}
	h.sym.mixHash(c)
	rs, err := parseActKey(rsBytes, "act three static key")
	if err != nil {
		return err
	}
	se := noiseECDH(&h.e, rs)
	h.sym.mixKey(se[:])
	if _, err := h.sym.decrypt(0, tag); err != nil {
		return badMAC("act three")
	}
	h.sym.mixHash(tag)
	h.rs = rs
	h.recv, h.send = h.sym.split()
	return nil
}
