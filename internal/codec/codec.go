// Package codec is the one big-endian field reader foxtrot's decoders of
// network bytes share (the control messages of internal/wire, the
// payment-channel messages and snapshots of package channel): fixed-size
// reads with a sticky first error, so a decoder reads a whole layout and
// checks once, never panics, and never allocates beyond its input.
package codec

import (
	"encoding/binary"
	"fmt"
)

// Reader consumes fields from a byte slice. The first failure sticks:
// every later read returns zero values and Err reports the failure.
type Reader struct {
	b    []byte
	err  error
	wrap error
}

// NewReader reads b; errors it reports wrap wrap (if not nil).
func NewReader(b []byte, wrap error) *Reader { return &Reader{b: b, wrap: wrap} }

// Fail records a problem, unless one is recorded already.
func (r *Reader) Fail(format string, a ...any) {
	if r.err != nil {
		return
	}
	if r.wrap != nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{r.wrap}, a...)...)
	} else {
		r.err = fmt.Errorf(format, a...)
	}
}

// Err returns the first problem, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns how many bytes are left.
func (r *Reader) Len() int { return len(r.b) }

// Take returns the next n bytes (a slice of the input, capacity n), or nil
// after a failure or if fewer are left.
func (r *Reader) Take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.Fail("truncated")
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// Copy fills dst with the next len(dst) bytes.
func (r *Reader) Copy(dst []byte) { copy(dst, r.Take(len(dst))) }

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if p := r.Take(1); p != nil {
		return p[0]
	}
	return 0
}

// U16 reads a big-endian uint16.
func (r *Reader) U16() uint16 {
	if p := r.Take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// U32 reads a big-endian uint32.
func (r *Reader) U32() uint32 {
	if p := r.Take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// U64 reads a big-endian uint64.
func (r *Reader) U64() uint64 {
	if p := r.Take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}
