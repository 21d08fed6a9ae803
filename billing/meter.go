package billing

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Meter is how the data path reports the bytes it moved: a relay's splice
// per circuit, a dialler's session per path. Add must not block: the
// engine's meters only do atomic adds.
type Meter interface {
	Add(n int64)
}

// MaxRate bounds the rates meters charge (satoshis per MiB); a higher
// rate is metered as MaxRate. It keeps the millisatoshi arithmetic far
// from overflow whatever prices the network quotes.
const MaxRate = 1 << 24

// rateOf is a price as the meters use it: millisatoshis per MiB, clamped.
func rateOf(price uint64) int64 { return int64(min(price, MaxRate)) * 1000 }

// millisat is what n bytes cost at rate millisatoshis per MiB.
func millisat(n, rate int64) int64 { return n * rate >> 20 }

// tally is the data path's side of one neighbour's account: what was
// metered since the loop last folded it in, and the cut-off flag the data
// path reads. The loop owns the account itself.
type tally struct {
	id     addr.NodeID
	toUs   atomic.Int64 // millisatoshis the neighbour owes us, not yet folded
	byUs   atomic.Int64 // millisatoshis we owe it, not yet folded
	nudge  atomic.Int64 // toUs at which the loop must look (ask or cut off)
	cutOff atomic.Bool

	mu       sync.Mutex // guards circuits only; never held across anything else
	circuits map[*RelayMeter]struct{}
}

// charge adds d millisatoshis the neighbour owes us and nudges the loop
// when that crosses the point it waits for.
func (t *tally) charge(d int64, nudge chan<- struct{}) {
	v := t.toUs.Add(d)
	if at := t.nudge.Load(); v >= at && v-d < at {
		select {
		case nudge <- struct{}{}:
		default: // a nudge is pending already
		}
	}
}

// tally returns the neighbour's tally, making it on first use.
func (e *Engine) tally(id addr.NodeID) *tally {
	if t, ok := e.tallies.Load(id); ok {
		return t.(*tally)
	}
	t := &tally{id: id, circuits: make(map[*RelayMeter]struct{})}
	t.nudge.Store(e.cfg.Chunk * 1000)
	got, _ := e.tallies.LoadOrStore(id, t)
	return got.(*tally)
}

// CutOff reports whether the neighbour owes more than the credit limit:
// relay nothing for it and refuse its requests. It never blocks.
func (e *Engine) CutOff(peer addr.NodeID) bool {
	t, ok := e.tallies.Load(peer)
	return ok && t.(*tally).cutOff.Load()
}

// RelayMeter meters one relayed circuit: its upstream owes us upRate per
// MiB, we owe its downstream downRate. Close it when the circuit ends.
type RelayMeter struct {
	up, down         *tally
	upRate, downRate int64 // millisatoshis per MiB
	stop             func()
	nudge            chan<- struct{}
	once             sync.Once
}

// Relay returns the meter of a circuit from neighbour up to neighbour
// down, at the rates per MiB the quotes gave (our price plus the rest of
// the path's from up; the rest of the path's to down). stop ends the
// circuit; the engine calls it (on a goroutine of its own) if up is cut
// off while the circuit lives, or at once if it already is.
func (e *Engine) Relay(up, down addr.NodeID, upRate, downRate uint64, stop func()) *RelayMeter {
	m := &RelayMeter{up: e.tally(up), down: e.tally(down), upRate: rateOf(upRate), downRate: rateOf(downRate),
		stop: stop, nudge: e.nudge}
	m.up.mu.Lock()
	m.up.circuits[m] = struct{}{}
	m.up.mu.Unlock()
	if m.up.cutOff.Load() && stop != nil {
		stop()
	}
	return m
}

// Add charges n bytes that crossed the circuit (either direction).
func (m *RelayMeter) Add(n int64) {
	if d := millisat(n, m.upRate); d > 0 {
		m.up.charge(d, m.nudge)
	}
	if m.downRate > 0 {
		m.down.byUs.Add(millisat(n, m.downRate))
	}
}

// Close forgets the circuit. Idempotent.
func (m *RelayMeter) Close() {
	m.once.Do(func() {
		m.up.mu.Lock()
		delete(m.up.circuits, m)
		m.up.mu.Unlock()
	})
}

// OriginMeter meters this node's own connection over a path whose first
// relay is one neighbour: we owe it the path's rate.
type OriginMeter struct {
	first *tally
	rate  int64
}

// Origin returns the meter of this node's own connection whose path
// starts at neighbour first and whose relays quoted rate per MiB in all.
func (e *Engine) Origin(first addr.NodeID, rate uint64) OriginMeter {
	return OriginMeter{first: e.tally(first), rate: rateOf(rate)}
}

// Add charges n bytes of the connection (either direction).
func (m OriginMeter) Add(n int64) {
	if m.first != nil && m.rate > 0 {
		m.first.byUs.Add(millisat(n, m.rate))
	}
}

var (
	_ Meter = (*RelayMeter)(nil)
	_ Meter = OriginMeter{}
)

// nudgeAt is the ledger-relative point (millisatoshis) at which the loop
// must look at an account again: when it would have to be asked to pay,
// or cut off. Past both (asked and cut off) only the tick looks.
func nudgeAt(owed, chunk, credit int64, asked, cutOff bool) int64 {
	at := int64(math.MaxInt64)
	if !cutOff {
		at = (credit+1)*1000 - owed
	}
	if !asked {
		at = min(at, chunk*1000-owed)
	}
	return max(at, 1)
}
