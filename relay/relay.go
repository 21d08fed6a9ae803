// Package relay carries the circuits a node relays: it keeps the circuit
// table (connection ID and path number to upstream and downstream link),
// takes the stream of a known circuit from its upstream, opens the
// matching stream downstream and splices the two: by the streams' own
// ForwardTo where they have it (peer.Stream over GoYamux: a received frame
// goes out in the buffer it arrived in, with no copy), else through pooled
// buffers.
//
//	 upstream link                relay                 downstream link
//	───────────────►  Handle(up, s, hdr)  ── OpenStream(hdr) ──►
//	                  │ circuits[ID,path] │
//	 stream s  ◄═════►│  Splice(s, down)  │◄═════► stream down
//	                  │   Meter.Add(n)    │
//	                  └── Done(ok) ───────┘
//
// Route records a circuit (Table.Add) when it verifies an ack it passes
// upstream, and asks the table first about every circuit stream it gets
// (Table.Handle). A circuit not carrying a stream by its expiry is
// forgotten (Table.Expire); one whose downstream link goes away before
// its stream arrives is dropped (Table.LinkDown).
//
// Nothing on the splice can block on anything but the two streams: each
// chunk is counted with atomic adds and reported to a Meter, which must
// not block either (billing's RelayMeter only adds to atomic counters).
// Relay knows no billing: the refusal of a cut-off neighbour and the
// meter of a circuit are the caller's, through Config.
//
// The table holds circuits to budgets (Config.MaxCircuits, MaxPerLink,
// Memory, MemoryPerLink): every circuit reserves CircuitCost of buffer
// memory while it is in the table, and counts against both its links,
// so one peer cannot pin the node's memory with circuits nobody reads.
package relay

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

const (
	// DefaultOpenTimeout bounds opening the downstream stream of a
	// circuit when Config.OpenTimeout is zero.
	DefaultOpenTimeout = 10 * time.Second
	// spliceBuffer is the copy buffer of each direction of a splice.
	spliceBuffer = 64 << 10
)

// Stream is what a circuit needs of a link stream.
type Stream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// Link is a neighbour as relay sees it. Links are compared with ==: the
// same neighbour must always be the same value.
type Link interface {
	ID() addr.NodeID
	// OpenStream opens a stream to the neighbour and sends hdr on it.
	OpenStream(ctx context.Context, hdr wire.StreamHeader) (Stream, error)
}

// Meter is told of every chunk a circuit carries, either direction. Add
// must not block. A Meter that also has a Close method is closed when its
// circuit ends.
type Meter interface{ Add(n int64) }

// Key names a circuit: a connection ID and one of its path numbers.
type Key struct {
	ID   addr.ConnID
	Path uint32
}

// Circuit is what the table knows of a circuit.
type Circuit struct {
	Up, Down Link     // the stream comes from Up and goes on to Down
	Target   [20]byte // the target the circuit leads to
	// What a MiB through it earns from the upstream (our price and the
	// rest of the path's) and costs toward the downstream.
	UpRate, DownRate uint64
	Expires          time.Time // forgotten then if it never got its stream
}

// Config is the caller's part of a Table. Every field is optional.
type Config struct {
	// OpenTimeout bounds opening a circuit's downstream stream
	// (DefaultOpenTimeout if zero).
	OpenTimeout time.Duration
	// Refuse reports whether a stream from up must be refused (a
	// neighbour cut off for unpaid relaying). It must not block.
	Refuse func(up Link) bool
	// Meter returns the meter of a circuit about to carry a stream, or
	// nil. stop ends the circuit: call it (on any goroutine) to close
	// both its streams.
	Meter func(c Circuit, stop func()) Meter
	// Done is told how a circuit that carried a stream ended: ok when
	// both directions ended with an orderly EOF.
	Done   func(c Circuit, ok bool)
	Logger *slog.Logger
	// Ended, if set, is told of every circuit that carried a stream when
	// it ends, with its key: ok as for Done. It runs on the circuit's
	// goroutine after Done and may wait a moment (not block for long).
	Ended func(k Key, c Circuit, ok bool)
	// Now is the clock that dates circuits for List (time.Now if nil).
	Now func() time.Time

	// Budgets (zero: no limit). Every circuit in the table, waiting for
	// its stream or active, counts against MaxCircuits and against
	// MaxPerLink for both its links; an active one also reserves Cost
	// bytes (see CircuitCost) of Memory and of MemoryPerLink for both
	// (a circuit waiting for its stream holds no buffers). Add refuses a
	// circuit over a count, or when a memory budget has no room left
	// for it; Handle refuses (closes) the stream of a circuit whose
	// activation would exceed a memory budget. Both count in
	// Stats.OverBudget; Add's error wraps ErrOverBudget and names the
	// limit, as does Handle's log.
	MaxCircuits, MaxPerLink int
	Memory, MemoryPerLink   int64
	Cost                    int64
}

// CircuitCost is the most buffer memory a circuit can pin with streams
// whose per-stream window is window: each direction may fill the window
// of the stream it reads from while the other end does not read, and
// each splice direction holds one copy buffer.
func CircuitCost(window int) int64 { return 2*int64(window) + 2*spliceBuffer }

// Stats are a table's counters.
type Stats struct {
	Relayed  int64 // circuits that carried a stream
	Active   int64 // circuits carrying a stream now
	Bytes    int64 // bytes spliced, both directions
	Refused  int64 // streams refused by Config.Refuse
	Circuits int64 // circuits in the table now, active or waiting
	// OverBudget counts circuits Add refused for a budget; Reserved is
	// the memory the table's circuits reserve now.
	OverBudget, Reserved int64
}

// Table is a node's circuit table. Its methods are safe for concurrent
// use; none calls back into Config while holding the table's lock.
type Table struct {
	cfg    Config
	ctx    context.Context // cancelled by Close: opens in progress give up
	cancel context.CancelFunc

	mu       sync.Mutex
	circuits map[Key]*circuit
	closed   bool
	usage    map[Link]*usage // per link: circuits and reserved bytes
	reserved int64           // bytes reserved by all circuits

	relayed, active, bytes, refused, overBudget atomic.Int64
}

// usage is what one link's circuits take of the budgets.
type usage struct {
	n     int
	bytes int64
}

type circuit struct {
	Circuit
	active bool // guarded by Table.mu

	// Set before the circuit is active, read-only after: when its
	// stream arrived.
	started time.Time
	// Bytes spliced up to down and down to up: atomic adds on the
	// splice, loads in List.
	upDown, downUp atomic.Int64

	smu      sync.Mutex
	streams  []Stream // while active
	stopping bool
}

// stop ends an active circuit: both its streams are closed, now or as
// soon as they are both open.
func (c *circuit) stop() {
	c.smu.Lock()
	c.stopping = true
	ss := c.streams
	c.smu.Unlock()
	for _, s := range ss {
		s.Close()
	}
}

// New returns an empty table.
func New(cfg Config) *Table {
	if cfg.OpenTimeout == 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	t := &Table{cfg: cfg, circuits: make(map[Key]*circuit), usage: make(map[Link]*usage)}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t
}

// Add records a circuit waiting for its stream. It fails with
// ErrDuplicate if the key is taken, ErrClosed after Close.
func (t *Table) Add(k Key, c Circuit) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if _, dup := t.circuits[k]; dup {
		return ErrDuplicate
	}
	if err := t.checkBudgetLocked(c); err != nil {
		t.overBudget.Add(1)
		return err
	}
	t.circuits[k] = &circuit{Circuit: c}
	t.countLocked(c, 1)
	return nil
}

// links returns the distinct links of c.
func (c Circuit) links() []Link {
	if c.Up == c.Down {
		return []Link{c.Up}
	}
	return []Link{c.Up, c.Down}
}

// checkBudgetLocked reports which budget, if any, one more circuit c
// would exceed: the counts, and the memory budgets were it active.
func (t *Table) checkBudgetLocked(c Circuit) error {
	if m := t.cfg.MaxCircuits; m > 0 && len(t.circuits) >= m {
		return fmt.Errorf("%w: %d circuits (MaxCircuits)", ErrOverBudget, m)
	}
	for _, l := range c.links() {
		if u, m := t.usage[l], t.cfg.MaxPerLink; u != nil && m > 0 && u.n >= m {
			return fmt.Errorf("%w: %d circuits through %s (MaxCircuitsPerPeer)", ErrOverBudget, m, l.ID())
		}
	}
	return t.checkMemoryLocked(c)
}

// checkMemoryLocked reports which memory budget, if any, c's activation
// would exceed.
func (t *Table) checkMemoryLocked(c Circuit) error {
	cost := t.cfg.Cost
	if m := t.cfg.Memory; m > 0 && t.reserved+cost > m {
		return fmt.Errorf("%w: %d bytes reserved of %d (CircuitMemory)", ErrOverBudget, t.reserved, m)
	}
	for _, l := range c.links() {
		u := t.usage[l]
		if u == nil {
			continue
		}
		if m := t.cfg.MemoryPerLink; m > 0 && u.bytes+cost > m {
			return fmt.Errorf("%w: %d bytes reserved through %s of %d (CircuitMemoryPerPeer)", ErrOverBudget, u.bytes, l.ID(), m)
		}
	}
	return nil
}

// countLocked adds (sign 1) or takes away (-1) circuit c from the
// counts of its links.
func (t *Table) countLocked(c Circuit, sign int) {
	for _, l := range c.links() {
		u := t.usage[l]
		if u == nil {
			u = &usage{}
			t.usage[l] = u
		}
		u.n += sign
		if u.n <= 0 {
			delete(t.usage, l)
		}
	}
}

// reserveLocked reserves (sign 1) or gives back (-1) an active circuit
// c's memory; its links are in usage while it is in the table.
func (t *Table) reserveLocked(c Circuit, sign int) {
	cost := t.cfg.Cost * int64(sign)
	t.reserved += cost
	for _, l := range c.links() {
		if u := t.usage[l]; u != nil {
			u.bytes += cost
		}
	}
}

// deleteLocked forgets circuit k, which is c, and returns its budget.
func (t *Table) deleteLocked(k Key, c *circuit) {
	delete(t.circuits, k)
	if c.active {
		t.reserveLocked(c.Circuit, -1)
	}
	t.countLocked(c.Circuit, -1)
}

// Has reports whether a circuit with key k is known.
func (t *Table) Has(k Key) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.circuits[k]
	return ok
}

// Handle takes stream s, which arrived from up with header h, if it
// names a circuit from up still waiting for its stream, and reports
// whether it did. A taken stream is the table's: refused (closed) if
// Config.Refuse says so, otherwise relayed on the caller's goroutine,
// Handle returning when the circuit ends. A stream Handle does not take
// is left untouched for the caller.
func (t *Table) Handle(up Link, s Stream, h wire.StreamHeader) bool {
	k := Key{h.ID, h.Path}
	t.mu.Lock()
	c := t.circuits[k]
	if c == nil || c.Up != up || c.active {
		t.mu.Unlock()
		return false
	}
	t.mu.Unlock()
	if t.cfg.Refuse != nil && t.cfg.Refuse(up) {
		t.refused.Add(1)
		s.Close()
		return true
	}
	t.mu.Lock()
	if t.circuits[k] != c || c.active {
		t.mu.Unlock()
		return false // expired, dropped or taken in between
	}
	if err := t.checkMemoryLocked(c.Circuit); err != nil {
		t.deleteLocked(k, c)
		t.mu.Unlock()
		t.overBudget.Add(1)
		t.cfg.Logger.Debug("circuit refused", "conn", h.ID, "path", h.Path, "err", err)
		s.Close()
		return true
	}
	c.started = t.cfg.Now()
	c.active = true
	t.reserveLocked(c.Circuit, 1)
	t.mu.Unlock()
	t.run(k, c, s, h)
	return true
}

// run opens the downstream half of a circuit and splices it to up.
func (t *Table) run(k Key, c *circuit, up Stream, h wire.StreamHeader) {
	defer func() {
		t.mu.Lock()
		if t.circuits[k] == c {
			t.deleteLocked(k, c)
		}
		t.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.OpenTimeout)
	down, err := c.Down.OpenStream(ctx, h)
	cancel()
	if err != nil {
		t.cfg.Logger.Debug("circuit's next hop unreachable", "conn", h.ID, "path", h.Path, "err", fmt.Errorf("%w: %w", ErrUnreachable, err))
		up.Close()
		return
	}
	c.smu.Lock()
	c.streams = []Stream{up, down}
	stopped := c.stopping
	c.smu.Unlock()
	if stopped {
		up.Close()
		down.Close()
		return
	}
	t.relayed.Add(1)
	t.active.Add(1)
	defer t.active.Add(-1)
	var m Meter
	if t.cfg.Meter != nil {
		m = t.cfg.Meter(c.Circuit, c.stop)
	}
	if cl, ok := m.(interface{ Close() }); ok {
		defer cl.Close()
	}
	moved := func(n int64) {
		t.bytes.Add(n)
		if m != nil {
			m.Add(n)
		}
	}
	ok := splice(up, down, func(n int64) {
		c.upDown.Add(n)
		moved(n)
	}, func(n int64) {
		c.downUp.Add(n)
		moved(n)
	})
	if t.cfg.Done != nil {
		t.cfg.Done(c.Circuit, ok)
	}
	if t.cfg.Ended != nil {
		t.cfg.Ended(k, c.Circuit, ok)
	}
}

// Stop ends the active circuit k (closing both its streams) and reports
// whether there was one.
func (t *Table) Stop(k Key) bool {
	t.mu.Lock()
	c := t.circuits[k]
	t.mu.Unlock()
	if c == nil || !c.active {
		return false
	}
	c.stop()
	return true
}

// Expire forgets the circuits that never got their stream and expired
// before now.
func (t *Table) Expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.circuits {
		if !c.active && now.After(c.Expires) {
			t.deleteLocked(k, c)
		}
	}
}

// LinkDown drops the circuits still waiting for a stream that would go
// out over l. Circuits through l end as their streams fail. A circuit
// waiting for its stream from l is kept until it expires: the stream may
// have arrived just before the link went down, and its bytes are still
// there to relay.
func (t *Table) LinkDown(l Link) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.circuits {
		if !c.active && c.Down == l {
			t.deleteLocked(k, c)
		}
	}
}

// Close makes Add fail and gives up the opens of downstream streams in
// progress. Circuits already carrying a stream end with their streams
// (their links are closed by their owner). Idempotent.
func (t *Table) Close() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	return nil
}

// Stats returns the table's counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	n, reserved := len(t.circuits), t.reserved
	t.mu.Unlock()
	return Stats{Relayed: t.relayed.Load(), Active: t.active.Load(), Bytes: t.bytes.Load(),
		Refused: t.refused.Load(), Circuits: int64(n), OverBudget: t.overBudget.Load(), Reserved: reserved}
}

// Status describes a circuit carrying a stream now, for an operator.
type Status struct {
	Key
	Circuit
	Started time.Time // when its stream arrived
	// Bytes spliced from upstream to downstream (toward the target) and
	// back (toward the dialler) so far.
	UpDown, DownUp int64
}

// List returns up to limit of the circuits carrying a stream now (all of
// them if limit <= 0), oldest first, and how many there are. It holds the
// table's lock only to collect the circuits; their byte counts are the
// splices' atomics, read without stopping them.
func (t *Table) List(limit int) ([]Status, int) {
	t.mu.Lock()
	cs := make([]Status, 0, len(t.circuits))
	var live []*circuit
	for k, c := range t.circuits {
		if c.active {
			cs = append(cs, Status{Key: k, Circuit: c.Circuit, Started: c.started})
			live = append(live, c)
		}
	}
	t.mu.Unlock()
	for i, c := range live {
		cs[i].UpDown, cs[i].DownUp = c.upDown.Load(), c.downUp.Load()
	}
	slices.SortFunc(cs, func(a, b Status) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.Path, b.Path)
	})
	total := len(cs)
	if limit > 0 && len(cs) > limit {
		cs = slices.Clip(cs[:limit])
	}
	return cs, total
}

// Splice copies a<->b until both directions end: an EOF on one side
// half-closes the other, an error closes both. It returns when both
// copies are done, with both streams closed, and reports whether both
// ended with an orderly EOF. moved is told of every chunk written.
func Splice(a, b Stream, moved func(n int64)) bool { return splice(a, b, moved, moved) }

// splice is Splice telling the two directions apart: ab is told of the
// chunks copied from a to b, ba of those from b to a.
func splice(a, b Stream, ab, ba func(n int64)) bool {
	var wg sync.WaitGroup
	var okBA bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		okBA = pump(b, a, ab)
	}()
	okAB := pump(a, b, ba)
	wg.Wait()
	a.Close()
	b.Close()
	return okAB && okBA
}

// forwarder is a Stream that can move what it received into another
// without copying it through a buffer of ours (peer.Stream): one frame's
// worth per call, io.EOF at the end, an error wrapping
// errors.ErrUnsupported (nothing moved) when it cannot for this dst.
type forwarder interface {
	ForwardTo(dst io.Writer) (int, error)
}

// forward is pump by src's ForwardTo; done is false when src cannot
// forward to dst (nothing was moved).
func forward(dst, src Stream, f forwarder, moved func(n int64)) (eof, done bool) {
	for {
		n, err := f.ForwardTo(dst)
		if n > 0 {
			moved(int64(n))
		}
		switch {
		case err == nil:
			continue
		case n == 0 && errors.Is(err, errors.ErrUnsupported):
			return false, false
		case err == io.EOF:
			dst.CloseWrite()
			return true, true
		}
		src.Close()
		dst.Close()
		return false, true
	}
}

// pump copies src to dst, reporting each chunk to moved; it reports
// whether src ended with EOF (rather than an error). Where src can
// forward to dst it does, else it copies through a pooled buffer.
func pump(dst, src Stream, moved func(n int64)) bool {
	if f, ok := src.(forwarder); ok {
		if eof, done := forward(dst, src, f, moved); done {
			return eof
		}
	}
	buf := bufpool.Get(spliceBuffer)
	defer bufpool.Put(buf)
	for {
		n, err := src.Read(*buf)
		if n > 0 {
			if _, werr := dst.Write((*buf)[:n]); werr != nil {
				src.Close()
				dst.Close()
				return false
			}
			moved(int64(n))
		}
		if err != nil {
			if err == io.EOF {
				dst.CloseWrite()
				return true
			}
			src.Close()
			dst.Close()
			return false
		}
	}
}
