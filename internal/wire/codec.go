package wire

import (
	"encoding/binary"

	"github.com/foxtrotnet/foxtrot/internal/codec"
)

// decoder reads a message body (see internal/codec); Decode wraps its
// first problem in ErrMalformed.
type decoder struct{ *codec.Reader }

// count reads a one-byte list length and checks it against max.
func (d decoder) count(max int) int {
	n := int(d.U8())
	if d.Err() == nil && n > max {
		d.Fail("list of %d exceeds %d", n, max)
		return 0
	}
	return n
}

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
