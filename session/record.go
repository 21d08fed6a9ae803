package session

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// The end-to-end record layer (SPEC.md section 5). A record on a path stream is
//
//	type (1) | length (3, big-endian) | AES-256-GCM(key, nonce, ad=type|length, body)
//
// where length counts the sealed body and its 16-byte tag, and the nonce
// is 4 zero bytes then a 64-bit big-endian record counter per direction
// and path (each path has its own keys, see pathKeys). Bodies:
//
//	hello  dialler identity key (33) | BIP-340 signature over helloHash (64) |
//	       relay count (1) | relay HASH160s, dialler side first (20 each)
//	data   offset (8) | bytes (at most maxRecordData)
//	ack    offset (8): every byte before it has arrived | limit (8): the
//	       sender of the ack accepts data up to this offset (its receive
//	       window: see machine.recvLimit); before the first ack a sender may
//	       send up to initialWindow
//	fin    offset (8): the sender's stream ends here
//	reset  code (1): the sender is gone (resetClosed) or gave up (resetAbort)
//	resume connection ID (20) | proof (32) | offset (8) | relay count (1) |
//	       relay HASH160s (20 each) [| hello body]: the dialler moves the
//	       connection onto this path; proof is HMAC-SHA256(master,
//	       "foxtrot/resume" || ID || this path's ID || path number), offset
//	       what it has received. Until the dialler has heard from the
//	       target it appends its hello, in case the first path broke
//	       before the hello got through.
//	resumed offset (8): the target's answer, what it has received
//	ping   (empty): a heartbeat when nothing else was sent for a while
//	direct sender's node (20) | the node its path stream goes to first (20)
//	plain  (empty): every later record from the sender is plaintext
//	ticket (1 to maxTicketRecord bytes, opaque here): the target's
//	       resumption ticket for the dialler (route's SPEC.md section 6);
//	       only the dialler accepts one, and hands it to Config.OnTicket
//	rekey  an ephemeral public key (33): the dialler's offer, the target's
//	       answer; or empty: the dialler's marker. See rekey.go.
//
// Direct paths. When the dialler's path has no relays, its stream runs
// inside one peer link between the two ends' nodes, which that link
// already encrypts and authenticates (peer.SecureConn); sealing every
// record a second time would cost a quarter of the CPU of a direct
// connection for nothing. The dialler then offers, right after its hello,
// a direct record naming its own node and the node its stream goes to. The
// target accepts when both match what it sees (the stream came over a link
// from the named node, to this node, with no relays in the hello) by
// answering with its own direct record, after which it sends records in
// plaintext framing (type | length | body, no tag). The dialler checks
// the answer the same way, sends a plain record and switches too. Both
// announcements travel sealed, so only the two ends can make them; a
// relay that hid itself from the hop list cannot, because the link it
// shares with either end names it, not the other end's node. Paths that
// replace another after a failover are always sealed. Config.EncryptDirect
// turns the offer (and its acceptance) off.
//
// Offsets count application bytes from 0 in each direction. A relay sees
// record types and sizes, never contents, and cannot alter, drop, reorder
// or replay a record without the receiver noticing: the tag fails or the
// counter no longer matches.

// Record types.
const (
	recHello   byte = 1
	recData    byte = 2
	recAck     byte = 3
	recFin     byte = 4
	recReset   byte = 5
	recResume  byte = 6
	recResumed byte = 7
	recPing    byte = 8
	recDirect  byte = 9
	recPlain   byte = 10
	recTicket  byte = 11
	recRekey   byte = 12
)

// Reset codes.
const (
	resetClosed byte = 1 // orderly close: no more reading or writing
	resetAbort  byte = 2 // the session failed
)

const (
	recordHeaderSize = 4
	recordTagSize    = 16
	maxRecordData    = 64 << 10
	// maxSealed is the largest sealed body: offset, data and tag.
	maxSealed = 8 + maxRecordData + recordTagSize
	helloMin  = 33 + 64 + 1
	resumeMin = 20 + 32 + 8 + 1
	ackSize   = 8 + 8
	// maxTicketRecord bounds a ticket record's body.
	maxTicketRecord = 1024
	// initialWindow is the receive window every session starts with on
	// both ends: a sender may send data up to this offset before the
	// other end's first ack names a limit. It is a protocol constant
	// because the sender cannot know the receiver's RecvBuffer; a
	// receiver always accepts at least this much.
	initialWindow = 512 << 10
)

func newAEAD(key [32]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("session: aes: " + err.Error()) // a 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("session: gcm: " + err.Error())
	}
	return aead
}

// sealer seals one direction's records.
type sealer struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [12]byte
	hdr   [recordHeaderSize]byte // here, not on the stack: AEAD's interface call would move it to the heap per record
}

func newSealer(key [32]byte) *sealer { return &sealer{aead: newAEAD(key)} }

// plain makes every later record plaintext (a direct path: see above).
func (s *sealer) plain() { s.aead = nil }

// seal appends one record of type typ whose body is prefix||payload.
func (s *sealer) seal(dst []byte, typ byte, prefix, payload []byte) []byte {
	n := len(prefix) + len(payload)
	if s.aead != nil {
		n += recordTagSize
	}
	s.hdr = [recordHeaderSize]byte{typ, byte(n >> 16), byte(n >> 8), byte(n)}
	dst = slices.Grow(dst, recordHeaderSize+n) // so the sealed body stays in dst
	dst = append(dst, s.hdr[:]...)
	start := len(dst)
	dst = append(dst, prefix...)
	dst = append(dst, payload...)
	if s.aead == nil {
		return dst
	}
	binary.BigEndian.PutUint64(s.nonce[4:], s.seq)
	s.seq++
	out := s.aead.Seal(dst[start:start], s.nonce[:], dst[start:], s.hdr[:])
	return dst[:start+len(out)]
}

// sealU64 appends a record whose body is one 64-bit number.
func (s *sealer) sealU64(dst []byte, typ byte, v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return s.seal(dst, typ, b[:], nil)
}

// sealAck appends an ack record: every byte before off arrived, and data
// up to limit is welcome.
func (s *sealer) sealAck(dst []byte, off, limit uint64) []byte {
	var b [ackSize]byte
	binary.BigEndian.PutUint64(b[:8], off)
	binary.BigEndian.PutUint64(b[8:], limit)
	return s.seal(dst, recAck, b[:], nil)
}

// opener opens one direction's records, in order.
type opener struct {
	aead  cipher.AEAD
	seq   uint64
	nonce [12]byte
	hdr   [recordHeaderSize]byte // as in sealer
}

func newOpener(key [32]byte) *opener { return &opener{aead: newAEAD(key)} }

// plain makes the opener take every later record as plaintext.
func (o *opener) plain() { o.aead = nil }

// header checks a record header against what this opener expects.
func (o *opener) header(hdr [recordHeaderSize]byte) (byte, int, error) {
	minLen := 0
	if o.aead != nil {
		minLen = recordTagSize
	}
	return parseRecordHeader(hdr, minLen)
}

// parseRecordHeader checks a record header and returns its type and the
// body length, which must be at least minLen (the tag, if sealed).
func parseRecordHeader(hdr [recordHeaderSize]byte, minLen int) (byte, int, error) {
	typ := hdr[0]
	n := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if typ < recHello || typ > recRekey {
		return 0, 0, fmt.Errorf("%w: record type %d", ErrProtocol, typ)
	}
	if n < minLen || n > maxSealed {
		return 0, 0, fmt.Errorf("%w: record of %d bytes", ErrProtocol, n)
	}
	return typ, n, nil
}

// open authenticates and decrypts body in place; hdr is its header.
func (o *opener) open(hdr [recordHeaderSize]byte, body []byte) ([]byte, error) {
	if o.aead == nil {
		if err := checkBody(hdr[0], body); err != nil {
			return nil, err
		}
		return body, nil
	}
	binary.BigEndian.PutUint64(o.nonce[4:], o.seq)
	o.hdr = hdr
	plain, err := o.aead.Open(body[:0], o.nonce[:], body, o.hdr[:])
	if err != nil {
		return nil, ErrTampered
	}
	o.seq++
	if err := checkBody(hdr[0], plain); err != nil {
		return nil, err
	}
	return plain, nil
}

// checkBody checks the size of an opened body against its type.
func checkBody(typ byte, b []byte) error {
	ok := true
	switch typ {
	case recHello:
		ok = len(b) >= helloMin && len(b) == helloMin+20*int(b[helloMin-1]) && int(b[helloMin-1]) < wire.MaxHops
	case recData:
		ok = len(b) > 8
	case recAck:
		ok = len(b) == ackSize
	case recFin, recResumed:
		ok = len(b) == 8
	case recReset:
		ok = len(b) == 1
	case recResume:
		if ok = len(b) >= resumeMin && int(b[resumeMin-1]) < wire.MaxHops; ok {
			rest := len(b) - resumeMin - 20*int(b[resumeMin-1])
			ok = rest == 0 || rest >= helloMin
		}
	case recPing, recPlain:
		ok = len(b) == 0
	case recDirect:
		ok = len(b) == 40
	case recTicket:
		ok = len(b) > 0 && len(b) <= maxTicketRecord
	case recRekey:
		ok = len(b) == 0 || len(b) == 33
	}
	if !ok {
		return fmt.Errorf("%w: record type %d with a %d-byte body", ErrProtocol, typ, len(b))
	}
	return nil
}

// pathKeys derives the two directional record keys for one path of a
// session: each path a connection uses gets fresh keys, so record nonces
// never repeat under one key even when data is resent.
func pathKeys(master [32]byte, num uint32) (dialerToTarget, targetToDialer [32]byte) {
	info := fmt.Appendf(nil, "foxtrot/e2e/path/%d", num)
	var out [64]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, master[:], nil, info), out[:]); err != nil {
		panic("session: unreachable: hkdf: " + err.Error())
	}
	copy(dialerToTarget[:], out[:32])
	copy(targetToDialer[:], out[32:])
	return
}
