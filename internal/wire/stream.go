package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/foxtrotnet/foxtrot/addr"
)

// StreamHeaderSize is the size of the header that opens every circuit
// stream on a peer link.
const StreamHeaderSize = 26

// Stream kinds.
const (
	// StreamCircuit carries one hop of a connection's data path.
	StreamCircuit uint8 = 1
)

const streamVersion = 1

// StreamHeader opens a stream: which connection and which of its paths
// the stream belongs to.
type StreamHeader struct {
	Kind uint8
	ID   addr.ConnID
	Path uint32
}

// Append appends the encoded header: version, kind, ID, path.
func (h StreamHeader) Append(b []byte) []byte {
	b = append(b, streamVersion, h.Kind)
	b = append(b, h.ID[:]...)
	return binary.BigEndian.AppendUint32(b, h.Path)
}

// ParseStreamHeader decodes a header of exactly StreamHeaderSize bytes.
func ParseStreamHeader(b []byte) (StreamHeader, error) {
	var h StreamHeader
	if len(b) != StreamHeaderSize {
		return h, fmt.Errorf("%w: stream header of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != streamVersion {
		return h, fmt.Errorf("%w: stream header version %d", ErrMalformed, b[0])
	}
	h.Kind = b[1]
	if h.Kind != StreamCircuit {
		return h, fmt.Errorf("%w: stream kind %d", ErrMalformed, h.Kind)
	}
	copy(h.ID[:], b[2:22])
	h.Path = binary.BigEndian.Uint32(b[22:])
	return h, nil
}
