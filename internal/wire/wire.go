// Package wire is the one codec for foxtrot's control messages: the typed
// messages peers exchange on a link's control stream (pings, connect
// requests and acks, ...) and the header that opens a circuit stream.
//
// A control frame is
//
//	length (4 bytes, big-endian, counts type and body) | type (1 byte) | body
//
// and no frame is longer than MaxMessageSize. Bodies are fixed-layout
// big-endian fields; variable-length lists carry a one-byte count. Decoding
// is strict: a short body, trailing bytes or an out-of-range count are
// errors wrapping ErrMalformed, so a peer sending garbage is detected at
// once. Every valid message has exactly one encoding (Decode then Append
// returns the input), which the fuzz target checks.
//
// Types with the high bit set are optional: a receiver that does not know
// one may ignore it (ErrUnknownType, with Type.Optional() true); an unknown
// type without it is a protocol error. SPEC.md at the repository root gives
// every layout.
//
// The types this package decodes itself are the built-in ones (Known).
// Protocols added later (the DHT, pub/sub) bring their own messages: they
// implement Message in their own package and register a DecodeFunc with the
// peer layer, which reads frames with Reader.ReadFrame and decodes them with
// DecodeWith. This package's switch never learns of them.
package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/foxtrotnet/foxtrot/internal/codec"
)

// MaxMessageSize bounds a control frame (type and body).
const MaxMessageSize = 64 << 10

// Type identifies a message.
type Type uint8

// Message types.
const (
	TypePing           Type = 0x01
	TypePong           Type = 0x02
	TypeConnectRequest Type = 0x10
	TypeConnectAck     Type = 0x11
	TypeConnectRefuse  Type = 0x12
	TypeChannel        Type = 0x20
	TypePaymentRequest Type = 0x21
)

// Optional reports whether a receiver that does not know t may ignore it.
func (t Type) Optional() bool { return t&0x80 != 0 }

func (t Type) String() string {
	switch t {
	case TypePing:
		return "ping"
	case TypePong:
		return "pong"
	case TypeConnectRequest:
		return "connect-request"
	case TypeConnectAck:
		return "connect-ack"
	case TypeConnectRefuse:
		return "connect-refuse"
	case TypeChannel:
		return "channel"
	case TypePaymentRequest:
		return "payment-request"
	}
	return fmt.Sprintf("type-%#02x", uint8(t))
}

// Message is one control message. A protocol outside this package
// implements it for its own types and decodes them with a DecodeFunc.
type Message interface {
	Type() Type
	// AppendBody appends the message body (without the type) to b.
	AppendBody(b []byte) []byte
}

// builtin is a message this package decodes itself.
type builtin interface {
	Message
	// decodeBody parses a body; d's sticky error reports problems.
	decodeBody(d decoder)
}

// DecodeFunc decodes the body of one message type (the frame's payload
// after its type byte) that a protocol outside this package defines. The
// body is the function's to keep. It returns an error for a body that does
// not parse; it must not panic, whatever the bytes, and should be strict as
// this package's decoders are (one encoding per message), which its fuzz
// target checks.
type DecodeFunc func(body []byte) (Message, error)

// Known reports whether this package decodes t itself.
func Known(t Type) bool { return newMessage(t) != nil }

func newMessage(t Type) builtin {
	switch t {
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeConnectRequest:
		return new(ConnectRequest)
	case TypeConnectAck:
		return new(ConnectAck)
	case TypeConnectRefuse:
		return new(ConnectRefuse)
	case TypeChannel:
		return new(ChannelMessage)
	case TypePaymentRequest:
		return new(PaymentRequest)
	}
	return nil
}

// Append appends m as one frame (length, type, body) to dst.
func Append(dst []byte, m Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(m.Type()))
	dst = m.AppendBody(dst)
	n := len(dst) - start - 4
	if n > MaxMessageSize {
		return dst[:start], fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, m.Type(), n)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// Decode parses a frame's payload (type and body, without the length).
func Decode(payload []byte) (Message, error) { return DecodeWith(payload, nil) }

// DecodeWith is Decode for a receiver that knows more types than this
// package: ext, if not nil, returns the decoder of a type (or nil), and
// takes precedence over the built-in types. An error of ext's decoder is
// wrapped in ErrMalformed, as is a decoder that returns a message of
// another type; a type neither knows is an *UnknownTypeError.
func DecodeWith(payload []byte, ext func(Type) DecodeFunc) (Message, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	t := Type(payload[0])
	if ext != nil {
		if dec := ext(t); dec != nil {
			return decodeExt(t, dec, payload[1:])
		}
	}
	m := newMessage(t)
	if m == nil {
		return nil, &UnknownTypeError{Type: t}
	}
	d := decoder{codec.NewReader(payload[1:], nil)}
	m.decodeBody(d)
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("%d trailing bytes", d.Len())
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, t, d.Err())
	}
	return m, nil
}

func decodeExt(t Type, dec DecodeFunc, body []byte) (Message, error) {
	m, err := dec(body)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, t, err)
	case m == nil || m.Type() != t:
		return nil, fmt.Errorf("%w: %s: the registered decoder returned %T", ErrMalformed, t, m)
	}
	return m, nil
}

// Reader reads frames from a stream. It allocates a frame buffer only
// while a frame is being read, so an idle Reader holds a few bytes.
type Reader struct {
	r   io.Reader
	hdr [4]byte
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Read reads and decodes the next message. An I/O error is returned as
// is (io.EOF at a frame boundary); a bad frame wraps ErrMalformed,
// ErrTooLarge or is an *UnknownTypeError.
func (r *Reader) Read() (Message, error) {
	payload, err := r.ReadFrame()
	if err != nil {
		return nil, err
	}
	return Decode(payload)
}

// ReadFrame reads the next frame and returns its payload (type and body)
// undecoded, for DecodeWith. An I/O error is returned as is (io.EOF at a
// frame boundary); an oversize frame wraps ErrTooLarge and is not read.
// The payload is the caller's to keep.
func (r *Reader) ReadFrame() ([]byte, error) {
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n > MaxMessageSize {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrTooLarge, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	return buf, nil
}
