package session

import "sync/atomic"

// Budget is a node-wide allowance of buffer memory that connections'
// windows grow into. Every connection starts with its SendBuffer and
// RecvBuffer, which cost nothing from the budget (so idle connections
// cost what they always did); a window grows past them, up to MaxWindow,
// only with credit taken from the budget, and the credit comes back when
// the connection ends (and, for the send side, whenever its queue is
// back within SendBuffer). So the bytes queued by all connections of a
// node stay within the sum of their base buffers plus the budget, however
// many connections are busy. A nil *Budget grants nothing: windows stay
// at their base.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: max(limit, 0)} }

// Limit is the budget's size in bytes.
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// Used is the credit currently held by connections, in bytes.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// take grants up to n bytes of credit, as much as is left, and returns
// how much.
func (b *Budget) take(n int64) int64 {
	if b == nil || n <= 0 {
		return 0
	}
	for {
		used := b.used.Load()
		g := min(n, b.limit-used)
		if g <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(used, used+g) {
			return g
		}
	}
}

// give returns n bytes of credit.
func (b *Budget) give(n int64) {
	if b != nil && n > 0 {
		b.used.Add(-n)
	}
}

// Take grants up to n bytes of credit, as much as is left, and returns
// how much: for the node's other windows (its peer links' streams, see
// peer.WindowBudget), which share the budget with connections.
func (b *Budget) Take(n int64) int64 { return b.take(n) }

// Give returns n bytes of credit taken with Take.
func (b *Budget) Give(n int64) { b.give(n) }
