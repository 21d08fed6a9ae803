package dht

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
)

// LookupStats describe one lookup.
type LookupStats struct {
	// Hops is the longest chain of contacts learned one from another that
	// the lookup queried before it ended (1: only contacts from the own
	// table), or, when a record ended it, the chain to the node that gave
	// it.
	Hops int
	// Messages counts the RPCs the lookup sent.
	Messages int
	// Failed counts RPCs that failed or timed out.
	Failed int
}

type candidate struct {
	c       Contact
	depth   int
	queried bool
	failed  bool
	token   []byte // from a Get answer
}

type answer struct {
	cand *candidate
	resp *Response
	err  error
}

// lookup runs Kademlia's iterative lookup of target with op (FindNode or
// Get): up to Alpha RPCs in flight to the closest contacts not yet asked,
// each answer's closer contacts merged in, until the K closest known have
// all answered or failed. With accept, a Get lookup returns as soon as an
// answer carries a record accept takes (early return). It returns the
// answering contacts closest first, with their Get tokens.
func (d *DHT) lookup(ctx context.Context, target ID, op Op, accept func(*Record) bool) ([]*candidate, []*Record, LookupStats, error) {
	d.lookups.Add(1)
	ctx, cancel := d.context(ctx)
	defer cancel()
	var st LookupStats
	var found []*Record
	seen := map[ID]*candidate{}
	var short []*candidate // sorted by distance to target
	add := func(c Contact, depth int) {
		if c.ID == d.self || seen[c.ID] != nil {
			return
		}
		cand := &candidate{c: c, depth: depth}
		seen[c.ID] = cand
		short = append(short, cand)
	}
	d.mu.Lock()
	for _, c := range d.table.Closest(target, K) {
		add(c, 1)
	}
	d.mu.Unlock()
	sortShort := func() {
		cs := make([]Contact, len(short))
		byID := make(map[ID]*candidate, len(short))
		for i, s := range short {
			cs[i] = s.c
			byID[s.c.ID] = s
		}
		SortByDistance(target, cs)
		for i, c := range cs {
			short[i] = byID[c.ID]
		}
	}
	sortShort()

	answers := make(chan answer, d.cfg.Alpha)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // ends RPCs still in flight before wg.Wait
	inflight := 0
	for {
		// Ask the closest not yet asked among the K closest live.
		live := 0
		for _, s := range short {
			if inflight >= d.cfg.Alpha || live >= K {
				break
			}
			if s.failed {
				continue
			}
			live++
			if s.queried {
				continue
			}
			s.queried = true
			if _, err := s.c.PubKey(); err != nil { // parsed only when dialled
				s.failed = true
				st.Failed++
				live--
				continue
			}
			inflight++
			st.Messages++
			wg.Add(1)
			go func(s *candidate) {
				defer wg.Done()
				req := &Request{Op: op, Target: target}
				resp, err := d.rpc(ctx, s.c, req)
				answers <- answer{s, resp, err}
			}(s)
		}
		if inflight == 0 {
			break
		}
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			// The RPCs in flight see ctx done; answers has room for
			// each, and the deferred wg.Wait waits for them.
			if d.isClosed() {
				return nil, nil, st, ErrClosed
			}
			return nil, nil, st, ctx.Err()
		}
		inflight--
		if a.err != nil {
			a.cand.failed = true
			st.Failed++
			continue
		}
		st.Hops = max(st.Hops, a.cand.depth)
		a.cand.token = a.resp.Token
		for _, c := range a.resp.Nodes {
			add(c, a.cand.depth+1)
		}
		sortShort()
		for _, r := range a.resp.Records {
			if r.Target() != target || r.Verify() != nil {
				continue
			}
			found = append(found, r)
			if accept != nil && accept(r) {
				st.Hops = a.cand.depth
				return nil, found, st, nil
			}
		}
	}
	var out []*candidate
	for _, s := range short {
		if s.queried && !s.failed && len(out) < K {
			out = append(out, s)
		}
	}
	return out, found, st, nil
}

func (d *DHT) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// FindNode returns the K contacts closest to target that answered.
func (d *DHT) FindNode(ctx context.Context, target ID) ([]Contact, LookupStats, error) {
	cands, _, st, err := d.lookup(ctx, target, OpFindNode, nil)
	var out []Contact
	for _, c := range cands {
		out = append(out, c.c)
	}
	return out, st, err
}

// Bootstrap fills the table: it pings every peer linked now (each
// answer and request carries its sender's contact, so both ends learn each
// other), then looks up the own ID.
func (d *DHT) Bootstrap(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, l := range d.carrier.paths() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.rpcOver(ctx, l, Contact{ID: NodeID(l.RemoteKey()), Key: l.RemoteKey()}, &Request{Op: OpPing})
		}()
	}
	wg.Wait()
	_, _, err := d.FindNode(ctx, d.self)
	return err
}

// Put stores r at the K nodes closest to its target that answered a Get
// (which gives the write tokens), with cas if not nil. It returns how many
// stored it; none is an error.
func (d *DHT) Put(ctx context.Context, r *Record, cas *uint64) (int, LookupStats, error) {
	if err := r.Verify(); err != nil {
		return 0, LookupStats{}, err
	}
	cands, _, st, err := d.lookup(ctx, r.Target(), OpGet, nil)
	if err != nil {
		return 0, st, err
	}
	var (
		mu     sync.Mutex
		stored int
		last   error = ErrNotFound
		wg     sync.WaitGroup
	)
	for _, c := range cands {
		if c.token == nil {
			continue
		}
		st.Messages++
		wg.Add(1)
		go func(c *candidate) {
			defer wg.Done()
			resp, err := d.rpc(ctx, c.c, &Request{Op: OpPut, Token: c.token, CAS: cas, Record: r})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				last = err
			case resp.Refused:
				last = fmt.Errorf("dht: put refused by %s", c.c.ID)
			default:
				stored++
			}
		}(c)
	}
	wg.Wait()
	if stored == 0 {
		return 0, st, last
	}
	return stored, st, nil
}

// Get returns the valid records under target: at once if this node
// stores some, else from a lookup that ends at the first answer carrying
// one accept takes (any valid one if accept is nil).
func (d *DHT) Get(ctx context.Context, target ID, accept func(*Record) bool) ([]*Record, LookupStats, error) {
	if accept == nil {
		accept = func(*Record) bool { return true }
	}
	d.mu.Lock()
	local := d.store.Get(target, d.cfg.Clock.Now())
	d.mu.Unlock()
	for _, r := range local {
		if accept(r) {
			return local, LookupStats{}, nil
		}
	}
	_, found, st, err := d.lookup(ctx, target, OpGet, accept)
	if err != nil {
		return nil, st, err
	}
	if len(found) == 0 {
		return nil, st, ErrNotFound
	}
	return found, st, nil
}

// FindListener looks up the listener record of address a for period t
// and returns its content: the nodes that reach a's key.
func (d *DHT) FindListener(ctx context.Context, a addr.Addr, t uint64) (*ListenerInfo, LookupStats, error) {
	var li *ListenerInfo
	accept := func(r *Record) bool {
		got, err := OpenListenerRecord(a, t, r)
		if err == nil {
			li = got
		}
		return err == nil
	}
	_, st, err := d.Get(ctx, Blind(a, t).Locator, accept)
	if err != nil {
		return nil, st, err
	}
	if li == nil {
		return nil, st, ErrNotFound
	}
	return li, st, nil
}

// Now returns the DHT clock's time.
func (d *DHT) Now() time.Time { return d.cfg.Clock.Now() }

// Refresh looks up a random ID in the range of every bucket whose newest
// contact was seen before stale ago (every bucket, with stale 0), as
// Kademlia's bucket refresh does: it fills sparse buckets and finds the
// nodes that joined since.
func (d *DHT) Refresh(ctx context.Context, stale time.Duration) error {
	d.mu.Lock()
	idx := d.table.Stale(d.cfg.Clock.Now().Add(-stale))
	if stale == 0 {
		idx = idx[:0]
		for i := range d.table.Buckets() {
			idx = append(idx, i)
		}
	}
	d.mu.Unlock()
	for _, i := range idx {
		if _, _, err := d.FindNode(ctx, randomInBucket(d.self, i)); err != nil {
			return err
		}
	}
	return nil
}

// randomInBucket returns a random ID sharing exactly i leading bits with
// self.
func randomInBucket(self ID, i int) ID {
	var id ID
	rand.Read(id[:])
	for b := 0; b < i && b < IDSize*8; b++ {
		mask := byte(0x80 >> (b % 8))
		id[b/8] = id[b/8]&^mask | self[b/8]&mask
	}
	if i < IDSize*8 {
		mask := byte(0x80 >> (i % 8))
		id[i/8] = id[i/8]&^mask | ^self[i/8]&mask
	}
	return id
}
