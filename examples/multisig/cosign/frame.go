package cosign

import (
	"encoding/binary"
	"fmt"
	"io"
)

// WriteFrame writes msg as one frame: a 4-byte big-endian length, then msg.
func WriteFrame(w io.Writer, msg []byte) error {
	switch {
	case len(msg) == 0:
		return fmt.Errorf("%w: empty frame", ErrMalformed)
	case len(msg) > MaxFrameSize:
		return fmt.Errorf("%w: %d bytes (at most %d)", ErrFrameTooLarge, len(msg), MaxFrameSize)
	}
	b := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(b, uint32(len(msg)))
	_, err := w.Write(append(b, msg...))
	return err
}

// ReadFrame reads one frame written by WriteFrame. A length above
// MaxFrameSize is refused before anything is allocated for it. A stream
// that ends inside a frame gives io.ErrUnexpectedEOF; one that ends before
// it, io.EOF.
func ReadFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	switch {
	case size == 0:
		return nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	case size > MaxFrameSize:
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrFrameTooLarge, size, MaxFrameSize)
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(r, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}
