package cosign

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
)

// Version is the message format version this package speaks.
const Version = 1

// Limits of the message format.
const (
	MaxFrameSize = 1 << 20 // largest message, and largest frame payload
	MaxPayees    = 255     // payees in a memo
	MaxAddrLen   = 100     // characters of a payee address
	MaxNoteLen   = 1024    // bytes of a memo's note (UTF-8)
	MaxReasonLen = 512     // bytes of a refusal's reason (UTF-8)
)

// Type is a message type.
type Type uint8

// Message types.
const (
	TypeProposal Type = 1
	TypeApproval Type = 2
	TypeRefusal  Type = 3
)

func (t Type) String() string {
	switch t {
	case TypeProposal:
		return "proposal"
	case TypeApproval:
		return "approval"
	case TypeRefusal:
		return "refusal"
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// ID names a proposal. The proposer picks it at random; answers carry the ID
// of the proposal they answer.
type ID [32]byte

// NewID returns a random ID.
func NewID() (ID, error) {
	var id ID
	_, err := rand.Read(id[:])
	return id, err
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Header holds the fields every message has besides its version and type.
type Header struct {
	ID     ID
	Time   time.Time        // whole seconds on the wire
	Sender *btcec.PublicKey // the key that signs the message
}

// Head returns h; through embedding it makes every message a Message.
func (h *Header) Head() *Header { return h }

// Message is a decoded message: a *Proposal, an *Approval or a *Refusal.
type Message interface {
	Head() *Header
	Type() Type
}

// Proposal asks the wallet's co-signers to sign a spend. Its Sender is the
// proposer, whose partial signature is already on every input of Packet.
type Proposal struct {
	Header
	Memo   Memo
	Packet *psbt.Packet
}

// Approval answers a proposal with the co-signer's copy of the PSBT, which
// carries the co-signer's partial signature on every input.
type Approval struct {
	Header
	Packet *psbt.Packet
}

// Refusal answers a proposal with a reason not to sign it.
type Refusal struct {
	Header
	Code   Code
	Reason string
}

// Type returns TypeProposal.
func (*Proposal) Type() Type { return TypeProposal }

// Type returns TypeApproval.
func (*Approval) Type() Type { return TypeApproval }

// Type returns TypeRefusal.
func (*Refusal) Type() Type { return TypeRefusal }

// Encode returns the message signed with key, which must be p.Sender's.
func (p *Proposal) Encode(key *btcec.PrivateKey) ([]byte, error) {
	if err := p.Memo.validate(); err != nil {
		return nil, err
	}
	body := appendMemo(nil, &p.Memo)
	body, err := appendPacket(body, p.Packet)
	if err != nil {
		return nil, err
	}
	return encode(TypeProposal, &p.Header, body, key)
}

// Encode returns the message signed with key, which must be a.Sender's.
func (a *Approval) Encode(key *btcec.PrivateKey) ([]byte, error) {
	body, err := appendPacket(nil, a.Packet)
	if err != nil {
		return nil, err
	}
	return encode(TypeApproval, &a.Header, body, key)
}

// Encode returns the message signed with key, which must be r.Sender's.
func (r *Refusal) Encode(key *btcec.PrivateKey) ([]byte, error) {
	if err := checkText("reason", r.Reason, MaxReasonLen); err != nil {
		return nil, err
	}
	body := []byte{byte(r.Code)}
	body = binary.BigEndian.AppendUint16(body, uint16(len(r.Reason)))
	body = append(body, r.Reason...)
	return encode(TypeRefusal, &r.Header, body, key)
}

// The envelope, all integers big-endian:
//
//	offset size
//	0      1    version (1)
//	1      1    type (1 proposal, 2 approval, 3 refusal)
//	2      32   proposal ID
//	34     8    timestamp, Unix seconds, signed
//	42     33   sender's compressed public key
//	75     4    body length L
//	79     L    body
//	79+L   1    signature length S (0: unsigned)
//	80+L   S    DER ECDSA signature, canonical (low S), of
//	            SHA-256(sigDomain || bytes [0, 79+L))
//
// Nothing may follow the signature.
const (
	headerLen = 1 + 1 + 32 + 8 + btcec.PubKeyBytesLenCompressed
	envFixed  = headerLen + 4 + 1
)

// sigDomain separates these signatures from any other use of the same key.
const sigDomain = "foxtrot/examples/multisig/cosign v1\x00"

func sigDigest(signed []byte) []byte {
	h := sha256.New()
	h.Write([]byte(sigDomain))
	h.Write(signed)
	return h.Sum(nil)
}

func encode(t Type, h *Header, body []byte, key *btcec.PrivateKey) ([]byte, error) {
	switch {
	case key == nil:
		return nil, fmt.Errorf("cosign: encode %s: no key", t)
	case h.Sender == nil || !h.Sender.IsEqual(key.PubKey()):
		return nil, fmt.Errorf("cosign: encode %s: Sender is not the signing key's public key", t)
	case h.Time.IsZero():
		return nil, fmt.Errorf("cosign: encode %s: no timestamp", t)
	case envFixed+len(body)+ecdsa.MaxSigLen > MaxFrameSize:
		return nil, fmt.Errorf("%w: %s body of %d bytes", ErrFrameTooLarge, t, len(body))
	}
	b := make([]byte, 0, envFixed+len(body)+ecdsa.MaxSigLen)
	b = append(b, Version, byte(t))
	b = append(b, h.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Time.Unix()))
	b = append(b, h.Sender.SerializeCompressed()...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	sig := ecdsa.Sign(key, sigDigest(b)).Serialize()
	b = append(b, byte(len(sig)))
	return append(b, sig...), nil
}

// envelope is a message split into its parts, signature not yet checked.
type envelope struct {
	typ    Type
	hdr    Header
	body   []byte
	signed []byte // the bytes the signature covers
	sig    []byte // DER, possibly empty
}

// parseEnvelope checks the structure of b. It copies nothing: the envelope
// aliases b.
func parseEnvelope(b []byte) (*envelope, error) {
	if len(b) > 0 && b[0] != Version {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrVersion, b[0], Version)
	}
	if len(b) < headerLen+4 {
		return nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrMalformed, len(b))
	}
	e := &envelope{typ: Type(b[1])}
	if e.typ < TypeProposal || e.typ > TypeRefusal {
		return nil, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[1])
	}
	copy(e.hdr.ID[:], b[2:34])
	e.hdr.Time = time.Unix(int64(binary.BigEndian.Uint64(b[34:42])), 0).UTC()
	pub, err := btcec.ParsePubKey(b[42:headerLen])
	if err != nil || b[42] == 0x04 {
		return nil, fmt.Errorf("%w: sender is not a compressed public key", ErrMalformed)
	}
	e.hdr.Sender = pub
	n := binary.BigEndian.Uint32(b[headerLen:])
	rest := b[headerLen+4:]
	if uint64(n) > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: body length %d beyond the message", ErrMalformed, n)
	}
	e.body = rest[:n]
	e.signed = b[:headerLen+4+int(n)]
	rest = rest[n:]
	if len(rest) == 0 || rest[0] == 0 {
		if len(rest) > 1 {
			return nil, fmt.Errorf("%w: %d bytes after an empty signature", ErrMalformed, len(rest)-1)
		}
		return e, nil // unsigned; verify says so
	}
	if int(rest[0]) != len(rest)-1 {
		return nil, fmt.Errorf("%w: signature length %d, %d bytes left", ErrMalformed, rest[0], len(rest)-1)
	}
	e.sig = rest[1:]
	return e, nil
}

// verify checks the envelope's signature against its sender key.
func (e *envelope) verify() error {
	if len(e.sig) == 0 {
		return ErrUnsigned
	}
	sig, err := ecdsa.ParseDERSignature(e.sig)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	if !bytes.Equal(sig.Serialize(), e.sig) {
		return fmt.Errorf("%w: signature is not canonical (low-S, minimal DER)", ErrBadSignature)
	}
	if !sig.Verify(sigDigest(e.signed), e.hdr.Sender) {
		return fmt.Errorf("%w: signature does not verify against sender %s", ErrBadSignature, shortKey(e.hdr.Sender))
	}
	return nil
}

// Parse decodes a message and checks its structure, version, signature and
// body. It does not check the timestamp or replays, nor who the sender is:
// Decoder.Decode does. Parse never panics, whatever b holds.
func Parse(b []byte) (Message, error) {
	e, err := parseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if err := e.verify(); err != nil {
		return nil, err
	}
	return parseBody(e.typ, e.hdr, e.body)
}

func parseBody(t Type, h Header, body []byte) (Message, error) {
	switch t {
	case TypeProposal:
		return parseProposalBody(h, body)
	case TypeApproval:
		return parseApprovalBody(h, body)
	case TypeRefusal:
		return parseRefusalBody(h, body)
	}
	return nil, fmt.Errorf("%w: unknown type %d", ErrMalformed, t)
}

// Proposal body:
//
//	1    payee count P
//	P ×  1 address length A, A bytes address (printable ASCII), 8 amount (sat)
//	8    fee (sat)
//	2    note length N, N bytes note (UTF-8, no control characters)
//	4    PSBT length, PSBT (BIP 174 binary)
func parseProposalBody(h Header, body []byte) (*Proposal, error) {
	r := reader{b: body}
	p := &Proposal{Header: h}
	count := int(r.u8())
	for i := 0; i < count && r.err == nil; i++ {
		addr := string(r.take(int(r.u8())))
		amt := btcutil.Amount(r.u64())
		p.Memo.Payees = append(p.Memo.Payees, Payee{Address: addr, Amount: amt})
	}
	p.Memo.Fee = btcutil.Amount(r.u64())
	p.Memo.Note = string(r.take(int(r.u16())))
	raw := r.take(int(r.u32()))
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: proposal body: %w", ErrMalformed, err)
	}
	if err := p.Memo.validate(); err != nil {
		return nil, err
	}
	pkt, err := parsePacket(raw)
	if err != nil {
		return nil, err
	}
	p.Packet = pkt
	return p, nil
}

// Approval body: 4 PSBT length, PSBT.
func parseApprovalBody(h Header, body []byte) (*Approval, error) {
	r := reader{b: body}
	raw := r.take(int(r.u32()))
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: approval body: %w", ErrMalformed, err)
	}
	pkt, err := parsePacket(raw)
	if err != nil {
		return nil, err
	}
	return &Approval{Header: h, Packet: pkt}, nil
}

// Refusal body: 1 code, 2 reason length R, R bytes reason (UTF-8, no
// control characters).
func parseRefusalBody(h Header, body []byte) (*Refusal, error) {
	r := reader{b: body}
	code := Code(r.u8())
	reason := string(r.take(int(r.u16())))
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("%w: refusal body: %w", ErrMalformed, err)
	}
	if err := checkText("reason", reason, MaxReasonLen); err != nil {
		return nil, err
	}
	return &Refusal{Header: h, Code: code, Reason: reason}, nil
}

func appendMemo(b []byte, m *Memo) []byte {
	b = append(b, byte(len(m.Payees)))
	for _, p := range m.Payees {
		b = append(b, byte(len(p.Address)))
		b = append(b, p.Address...)
		b = binary.BigEndian.AppendUint64(b, uint64(p.Amount))
	}
	b = binary.BigEndian.AppendUint64(b, uint64(m.Fee))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Note)))
	return append(b, m.Note...)
}

func appendPacket(b []byte, pkt *psbt.Packet) ([]byte, error) {
	if pkt == nil {
		return nil, fmt.Errorf("%w: no PSBT", ErrMalformed)
	}
	var buf bytes.Buffer
	if err := pkt.Serialize(&buf); err != nil {
		return nil, fmt.Errorf("%w: PSBT: %w", ErrMalformed, err)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(buf.Len()))
	return append(b, buf.Bytes()...), nil
}

// parsePacket parses a binary PSBT. psbt v1.1.8's parser can panic on
// malformed input: a BIP 32 derivation with an empty value indexes past its
// end (btcd issue #2351, still open in v1.1.10). A peer's bytes must not
// crash a co-signer, so a panic inside the parser is turned into
// ErrMalformed; the recover covers that one call and nothing of ours.
func parsePacket(raw []byte) (pkt *psbt.Packet, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkt, err = nil, fmt.Errorf("%w: PSBT parser panicked: %v", ErrMalformed, r)
		}
	}()
	pkt, err = psbt.NewFromRawBytes(bytes.NewReader(raw), false)
	if err != nil {
		return nil, fmt.Errorf("%w: PSBT: %w", ErrMalformed, err)
	}
	return pkt, nil
}

// validate checks the memo against the format's limits.
func (m *Memo) validate() error {
	if len(m.Payees) > MaxPayees {
		return fmt.Errorf("%w: %d payees (at most %d)", ErrMalformed, len(m.Payees), MaxPayees)
	}
	for i, p := range m.Payees {
		if len(p.Address) == 0 || len(p.Address) > MaxAddrLen {
			return fmt.Errorf("%w: payee %d: address of %d characters", ErrMalformed, i, len(p.Address))
		}
		for _, c := range []byte(p.Address) {
			if c <= ' ' || c > '~' {
				return fmt.Errorf("%w: payee %d: address is not printable ASCII", ErrMalformed, i)
			}
		}
		if p.Amount <= 0 || p.Amount > btcutil.MaxSatoshi {
			return fmt.Errorf("%w: payee %d: amount %d sat out of range", ErrMalformed, i, int64(p.Amount))
		}
	}
	if m.Fee < 0 || m.Fee > btcutil.MaxSatoshi {
		return fmt.Errorf("%w: fee %d sat out of range", ErrMalformed, int64(m.Fee))
	}
	return checkText("note", m.Note, MaxNoteLen)
}

// checkText admits UTF-8 text with no control or bidirectional-override
// characters, so what a co-signer is shown is what was signed.
func checkText(what, s string, max int) error {
	if len(s) > max {
		return fmt.Errorf("%w: %s of %d bytes (at most %d)", ErrMalformed, what, len(s), max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, what)
	}
	for _, c := range s {
		if unicode.IsControl(c) || unicode.Is(unicode.Bidi_Control, c) {
			return fmt.Errorf("%w: %s contains control character %U", ErrMalformed, what, c)
		}
	}
	return nil
}

// reader consumes a byte slice; its first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("want %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// done reports the first error, or trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}
