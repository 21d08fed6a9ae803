package channel

import (
	"encoding/binary"

	"github.com/foxtrotnet/foxtrot/internal/codec"

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

// reader consumes fields written by writer (see internal/codec): the
// first failure sticks, wrapped in ErrMalformed; it never panics and never
// allocates more than the input's length.
type reader struct{ *codec.Reader }

func newReader(b []byte) *reader { return &reader{codec.NewReader(b, ErrMalformed)} }

func (r *reader) bool() bool {
	switch r.U8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail("bad boolean")
	return false
}

// bytes reads a 16-bit length (at most max) and that many bytes, copied.
func (r *reader) bytes(max int) []byte {
	n := int(r.U16())
	if n > max {
		r.Fail("field of %d bytes exceeds %d", n, max)
		return nil
	}
	p := r.Take(n)
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

func (r *reader) fixed32() (out [32]byte) {
	copy(out[:], r.Take(32))
	return out
}

func (r *reader) amount() btcutil.Amount {
	v := r.U64()
	if v > uint64(btcutil.MaxSatoshi) {
		r.Fail("amount %d exceeds the money supply", v)
		return 0
	}
	return btcutil.Amount(v)
}

func (r *reader) key() *btcec.PublicKey {
	p := r.Take(33)
	if p == nil {
		return nil
	}
	k, err := btcec.ParsePubKey(p)
	if err != nil || (p[0] != 2 && p[0] != 3) {
		r.Fail("bad public key")
		return nil
	}
	return k
}

func (r *reader) outpoint() wire.OutPoint {
	var op wire.OutPoint
	copy(op.Hash[:], r.Take(32))
	op.Index = r.U32()
	return op
}

// count reads an 8-bit count and checks it against max.
func (r *reader) count(max int) int {
	n := int(r.U8())
	if n > max {
		r.Fail("count %d exceeds %d", n, max)
		return 0
	}
	return n
}

func (r *reader) done() error {
	if r.Err() == nil && r.Len() != 0 {
		r.Fail("%d trailing bytes", r.Len())
	}
	return r.Err()
}
