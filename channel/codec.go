package channel

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// writer appends big-endian fields to a byte slice.
type writer struct{ b []byte }

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *writer) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }
func (w *writer) bool(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// bytes writes a 16-bit length and p.
func (w *writer) bytes(p []byte) {
	w.u16(uint16(len(p)))
	w.raw(p)
}

func (w *writer) amount(a btcutil.Amount) { w.u64(uint64(a)) }
func (w *writer) key(k *btcec.PublicKey)  { w.raw(k.SerializeCompressed()) }

func (w *writer) outpoint(op wire.OutPoint) {
	w.raw(op.Hash[:])
	w.u32(op.Index)
}

// reader consumes fields written by writer. The first failure sticks: every
// later read returns zero values, and err reports the first problem. It
// never panics and never allocates more than the input's length.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("truncated")
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if p := r.take(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) bool() bool {
	switch r.u8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail("bad boolean")
	return false
}

// bytes reads a 16-bit length (at most max) and that many bytes, copied.
func (r *reader) bytes(max int) []byte {
	n := int(r.u16())
	if n > max {
		r.fail("field of %d bytes exceeds %d", n, max)
		return nil
	}
	p := r.take(n)
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

func (r *reader) fixed32() (out [32]byte) {
	copy(out[:], r.take(32))
	return out
}

func (r *reader) amount() btcutil.Amount {
	v := r.u64()
	if v > uint64(btcutil.MaxSatoshi) {
		r.fail("amount %d exceeds the money supply", v)
		return 0
	}
	return btcutil.Amount(v)
}

func (r *reader) key() *btcec.PublicKey {
	p := r.take(33)
	if p == nil {
		return nil
	}
	k, err := btcec.ParsePubKey(p)
	if err != nil || (p[0] != 2 && p[0] != 3) {
		r.fail("bad public key")
		return nil
	}
	return k
}

func (r *reader) outpoint() wire.OutPoint {
	var op wire.OutPoint
	copy(op.Hash[:], r.take(32))
	op.Index = r.u32()
	return op
}

// count reads an 8-bit count and checks it against max.
func (r *reader) count(max int) int {
	n := int(r.u8())
	if n > max {
		r.fail("count %d exceeds %d", n, max)
		return 0
	}
	return n
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}
