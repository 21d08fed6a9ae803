package wire

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/foxtrotnet/foxtrot/addr"
)

// StreamHeaderSize is the size of the header that opens every circuit
// stream on a peer link: the whole of a version-1 header, and the fixed
// part of a version-2 one.
const StreamHeaderSize = 26

// Stream kinds. Kind 0 is never valid; other kinds than these belong to
// protocols registered with the peer layer, which refuses a stream of a
// kind nobody registered (the stream, not the link).
const (
	// StreamCircuit carries one hop of a connection's data path.
	StreamCircuit uint8 = 1
)

// Stream header versions. Version 1 is the fixed 26-byte header; version 2
// is the same followed by kind-specific bytes (Meta), for protocols that
// need more than an ID and a number to say what a stream is for.
const (
	streamVersion     = 1
	streamVersionMeta = 2
)

// MaxStreamMeta bounds StreamHeader.Meta.
const MaxStreamMeta = 1024

// StreamHeader opens a stream: its kind, and what the kind needs to know
// which stream it is. For a circuit (StreamCircuit) that is the
// connection and which of its paths the stream belongs to; another kind
// may use ID and Path as it likes, and carry up to MaxStreamMeta more
// bytes in Meta.
type StreamHeader struct {
	Kind uint8
	ID   addr.ConnID
	Path uint32
	// Meta holds kind-specific bytes. Empty, the header is version 1, as
	// every circuit's; otherwise version 2.
	Meta []byte
}

// Append appends the encoded header: version, kind, ID, path, and for a
// header with Meta, its length (2 bytes) and Meta. Meta beyond
// MaxStreamMeta is an error for the receiver (ParseStreamHeader).
func (h StreamHeader) Append(b []byte) []byte {
	v := byte(streamVersion)
	if len(h.Meta) > 0 {
		v = streamVersionMeta
	}
	b = append(b, v, h.Kind)
	b = append(b, h.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, h.Path)
	if v == streamVersionMeta {
		b = binary.BigEndian.AppendUint16(b, uint16(len(h.Meta)))
		b = append(b, h.Meta...)
	}
	return b
}

// Size returns the encoded size of h.
func (h StreamHeader) Size() int {
	if len(h.Meta) == 0 {
		return StreamHeaderSize
	}
	return StreamHeaderSize + 2 + len(h.Meta)
}

// ParseStreamHeader decodes exactly one whole header (either version).
// Errors wrap ErrMalformed.
func ParseStreamHeader(b []byte) (StreamHeader, error) {
	h, n, err := parseFixed(b)
	if err != nil {
		return h, err
	}
	if n == 0 {
		if len(b) != StreamHeaderSize {
			return h, fmt.Errorf("%w: stream header of %d bytes", ErrMalformed, len(b))
		}
		return h, nil
	}
	if len(b) != StreamHeaderSize+2+n {
		return h, fmt.Errorf("%w: stream header of %d bytes with %d of meta", ErrMalformed, len(b), n)
	}
	h.Meta = append([]byte(nil), b[StreamHeaderSize+2:]...)
	return h, nil
}

// ReadStreamHeader reads one header from r: StreamHeaderSize bytes, and
// for a version-2 header its meta, never more. Bad bytes wrap
// ErrMalformed; I/O errors are returned as io.ReadFull gives them.
func ReadStreamHeader(r io.Reader) (StreamHeader, error) {
	var b [StreamHeaderSize + 2]byte
	if _, err := io.ReadFull(r, b[:StreamHeaderSize]); err != nil {
		return StreamHeader{}, err
	}
	if b[0] == streamVersionMeta {
		if _, err := io.ReadFull(r, b[StreamHeaderSize:]); err != nil {
			return StreamHeader{}, err
		}
	}
	h, n, err := parseFixed(b[:])
	if err != nil || n == 0 {
		return h, err
	}
	h.Meta = make([]byte, n)
	if _, err := io.ReadFull(r, h.Meta); err != nil {
		return StreamHeader{}, err
	}
	return h, nil
}

// parseFixed decodes the fixed part of a header from b and, for version 2,
// the meta length that follows it (checked, at least 1); it returns the
// meta length, 0 for version 1.
func parseFixed(b []byte) (StreamHeader, int, error) {
	var h StreamHeader
	if len(b) < StreamHeaderSize {
		return h, 0, fmt.Errorf("%w: stream header of %d bytes", ErrMalformed, len(b))
	}
	switch b[0] {
	case streamVersion, streamVersionMeta:
	default:
		return h, 0, fmt.Errorf("%w: stream header version %d", ErrMalformed, b[0])
	}
	h.Kind = b[1]
	if h.Kind == 0 {
		return h, 0, fmt.Errorf("%w: stream kind 0", ErrMalformed)
	}
	copy(h.ID[:], b[2:22])
	h.Path = binary.BigEndian.Uint32(b[22:])
	if b[0] == streamVersion {
		return h, 0, nil
	}
	if len(b) < StreamHeaderSize+2 {
		return h, 0, fmt.Errorf("%w: version-2 stream header of %d bytes", ErrMalformed, len(b))
	}
	n := int(binary.BigEndian.Uint16(b[StreamHeaderSize:]))
	if n == 0 || n > MaxStreamMeta {
		// 0 would be a second encoding of a version-1 header.
		return h, 0, fmt.Errorf("%w: stream header meta of %d bytes", ErrMalformed, n)
	}
	return h, n, nil
}
