package budget

import (
	"sync"
	"sync/atomic"
)

// Kind names a resource, in the singular: "inbound handshake", "stream".
// It appears in refusals' messages.
type Kind string

// Limit is one pool's bounds. Zero in a field means no bound.
type Limit struct {
	// Total bounds what the whole node holds of the kind.
	Total int
	// PerKey bounds what one key (a peer, a source address) holds.
	PerKey int
	// Scope names the keys in refusals: "per-peer", "per-address". Empty
	// means "per-key".
	Scope string
}

// Usage is a pool's state at one moment.
type Usage struct {
	InUse   int    // units held now
	Keys    int    // keys holding at least one unit
	Refused uint64 // reservations refused since the Budget was made
	Limit   Limit
}

// Budget is a set of pools, one per Kind. Make one with [New].
type Budget struct {
	mu    sync.Mutex
	pools map[Kind]*pool
}

type pool struct {
	limit   Limit
	mu      sync.Mutex
	inUse   int
	perKey  map[string]int
	refused atomic.Uint64
}

// New returns a Budget with the given limits. A Kind not named here may
// still be reserved: it is unbounded, but its use and refusals (none) are
// tracked.
func New(limits map[Kind]Limit) *Budget {
	b := &Budget{pools: make(map[Kind]*pool, len(limits))}
	for k, l := range limits {
		b.pools[k] = newPool(l)
	}
	return b
}

func newPool(l Limit) *pool {
	if l.Scope == "" {
		l.Scope = "per-key"
	}
	return &pool{limit: l, perKey: make(map[string]int)}
}

func (b *Budget) pool(k Kind) *pool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.pools[k]
	if !ok {
		p = newPool(Limit{})
		b.pools[k] = p
	}
	return p
}

// Reserve takes one unit of kind k for key (a peer's ID, a source IP; ""
// for none, which is then bound only by the system-wide limit). It returns
// a func that gives the unit back, safe to call more than once, or a
// [*LimitError] naming the limit reached.
func (b *Budget) Reserve(k Kind, key string) (release func(), err error) {
	return b.ReserveN(k, key, 1)
}

// ReserveN is [Budget.Reserve] for n units at once (bytes of buffer, for
// instance); n below 1 is taken as 1. A reservation larger than a limit
// is refused.
func (b *Budget) ReserveN(k Kind, key string, n int) (release func(), err error) {
	if b == nil {
		return func() {}, nil
	}
	if n < 1 {
		n = 1
	}
	p := b.pool(k)
	if err := p.reserve(k, key, n); err != nil {
		return nil, err
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			p.release(key, n)
		}
	}, nil
}

func (p *pool) reserve(k Kind, key string, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.limit.Total > 0 && p.inUse+n > p.limit.Total {
		p.refused.Add(1)
		return &LimitError{Kind: k, Scope: "system-wide", Limit: p.limit.Total}
	}
	if key != "" && p.limit.PerKey > 0 && p.perKey[key]+n > p.limit.PerKey {
		p.refused.Add(1)
		return &LimitError{Kind: k, Scope: p.limit.Scope, Limit: p.limit.PerKey}
	}
	p.inUse += n
	if key != "" {
		p.perKey[key] += n
	}
	return nil
}

func (p *pool) release(key string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inUse -= n
	if key != "" {
		if left := p.perKey[key] - n; left > 0 {
			p.perKey[key] = left
		} else {
			delete(p.perKey, key)
		}
	}
}

// Refuse counts a refusal of kind k that the caller decided on its own
// (a table full in its own way, say), so that it shows with the rest.
func (b *Budget) Refuse(k Kind) {
	if b == nil {
		return
	}
	b.pool(k).refused.Add(1)
}

// Usage returns the state of kind k's pool.
func (b *Budget) Usage(k Kind) Usage {
	if b == nil {
		return Usage{}
	}
	p := b.pool(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	return Usage{InUse: p.inUse, Keys: len(p.perKey), Refused: p.refused.Load(), Limit: p.limit}
}

// InUseBy returns the units of kind k that key holds.
func (b *Budget) InUseBy(k Kind, key string) int {
	if b == nil {
		return 0
	}
	p := b.pool(k)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.perKey[key]
}

// Refused returns how many reservations of kind k were refused.
func (b *Budget) Refused(k Kind) uint64 {
	if b == nil {
		return 0
	}
	return b.pool(k).refused.Load()
}

// Scarce reports whether kind k's pool is more than half full, the moment
// at which callers shorten their timeouts. An unbounded pool is never
// scarce.
func (b *Budget) Scarce(k Kind) bool {
	u := b.Usage(k)
	return u.Limit.Total > 0 && 2*u.InUse > u.Limit.Total
}
