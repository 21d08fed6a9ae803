package obfs

// windowBits is how far behind the newest sequence number a datagram may
// arrive and still be accepted (once). WireGuard keeps 2048-64 bits;
// IPsec's RFC 6479 the same order.
const windowBits = 2048

// window is a sliding replay window over 64-bit sequence numbers, as
// WireGuard and IPsec keep one per sender: the newest number seen, and a
// ring of bits for the windowBits numbers below it. A number above the
// newest slides the window; one within it is accepted once; one below it
// is refused. It is not safe for concurrent use.
type window struct {
	top  uint64
	seen bool
	bits [windowBits / 64]uint64
}

// accept reports whether seq is new, and records it. Call it only for a
// datagram that has authenticated.
func (w *window) accept(seq uint64) bool {
	if !w.seen || seq > w.top {
		if !w.seen || seq-w.top >= windowBits {
			w.bits = [windowBits / 64]uint64{}
		} else {
			for s := w.top + 1; s != seq; s++ {
				w.clear(s)
			}
		}
		w.seen, w.top = true, seq
		w.set(seq)
		return true
	}
	if w.top-seq >= windowBits {
		return false
	}
	i, b := (seq%windowBits)/64, uint64(1)<<(seq%64)
	if w.bits[i]&b != 0 {
		return false
	}
	w.bits[i] |= b
	return true
}

func (w *window) set(seq uint64)   { w.bits[(seq%windowBits)/64] |= 1 << (seq % 64) }
func (w *window) clear(seq uint64) { w.bits[(seq%windowBits)/64] &^= 1 << (seq % 64) }
