// Package bufpool hands out reusable byte buffers in a few size classes,
// so hot paths (frame sealing, relay splices, record layers) do not
// allocate per operation and idle connections hold no large buffers.
package bufpool

import "sync"

// Size classes. The largest fits a 256 KiB payload plus framing overhead.
var classes = [...]int{2 << 10, 16 << 10, 72 << 10, 288 << 10}

var pools [len(classes)]sync.Pool

func init() {
	for i, n := range classes {
		n := n
		pools[i].New = func() any { b := make([]byte, n); return &b }
	}
}

// Get returns a buffer of length n (contents undefined). Buffers larger
// than the largest class are allocated and not pooled.
func Get(n int) *[]byte {
	for i, c := range classes {
		if n <= c {
			b := pools[i].Get().(*[]byte)
			*b = (*b)[:n]
			return b
		}
	}
	b := make([]byte, n)
	return &b
}

// Put returns a buffer obtained from Get. Put(nil) does nothing.
func Put(b *[]byte) {
	if b == nil {
		return
	}
	c := cap(*b)
	for i, n := range classes {
		if c == n {
			*b = (*b)[:c]
			pools[i].Put(b)
			return
		}
	}
}
