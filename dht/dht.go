package dht

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// Config configures a DHT. Set and Key are required; every other field's
// zero value works, with the default documented on it.
type Config struct {
	// Set is the node's peer set; the DHT registers its protocol there
	// and links through it.
	Set *peer.Set
	// Key is the node's identity public key (the Set's identity).
	Key *btcec.PublicKey
	// Addrs returns the multiaddrs this node is reached at, told to the
	// nodes it sends requests to. Default: Set.ListenAddrs.
	Addrs func() []ma.Multiaddr
	// Alpha is how many RPCs a lookup keeps in flight. Default 3.
	Alpha int
	// RPCTimeout bounds one RPC, a link set up for it included. Default 2s.
	RPCTimeout time.Duration
	// MaxPendingPerPeer bounds this node's RPCs in flight to one peer.
	// Default 8.
	MaxPendingPerPeer int
	// MaxLinks bounds the links the DHT made itself, to contacts that
	// were not linked already; beyond it the least recently used is
	// closed, unless streams (circuits) have come to use it, in which
	// case the DHT lets it be and stops counting it. Default 32.
	MaxLinks int
	// Maintain is how often a Node refreshes stale buckets, drops
	// expired records and republishes its own. Default 15 minutes.
	Maintain time.Duration
	// Store bounds the records stored for others.
	Store StoreConfig
	// Clock is the time of timeouts and expiry. Default the system clock.
	Clock Clock
	// Logger receives debug events; nil discards them.
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.Key == nil {
		return fmt.Errorf("%w: Config.Key is required", errConfig)
	}
	if c.Set != nil && addr.NodeIDFromPubKey(c.Key) != c.Set.Self() {
		return fmt.Errorf("%w: Config.Key is not the Set's identity", errConfig)
	}
	if c.Addrs == nil {
		if c.Set == nil {
			return fmt.Errorf("%w: Config.Addrs is required without a Set", errConfig)
		}
		c.Addrs = c.Set.ListenAddrs
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Alpha, 3)
	def(&c.MaxPendingPerPeer, 8)
	def(&c.MaxLinks, 32)
	if c.Maintain <= 0 {
		c.Maintain = 15 * time.Minute
	}
	if c.RPCTimeout <= 0 {
		c.RPCTimeout = 2 * time.Second
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

var errConfig = errors.New("dht: bad config")

// tokenRotation is how often the write-token secret changes; a token is
// good for one to two rotations.
const tokenRotation = 5 * time.Minute

// DHT is one node's part of the DHT: its routing table, the records it
// stores for others, and the RPCs it runs over peer links (its carrier,
// carrier.go). It has no goroutines of its own beyond the liveness checks
// of full buckets it starts (Close waits for them); lookups run on their
// callers' goroutines.
type DHT struct {
	cfg     Config
	carrier carrier
	self    ID
	log     *slog.Logger

	mu      sync.Mutex
	table   *Table
	store   *Store
	pending map[uint64]*call
	perPeer map[addr.NodeID]int
	nextID  uint64
	checks  map[ID]bool // liveness checks in flight
	secret  [2][32]byte
	rotated time.Time
	closed  bool

	done   chan struct{}
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	queries, lookups, sent, timeouts, dropped atomic.Int64
}

type call struct {
	link path
	resp chan *Response
}

// New returns a DHT over cfg.Set's links and registers its protocol there.
func New(cfg Config) (*DHT, error) {
	if cfg.Set == nil {
		return nil, fmt.Errorf("%w: Config.Set is required", errConfig)
	}
	d, err := newDHT(cfg, func(d *DHT) carrier { return newLinkCarrier(d, cfg.Set, d.cfg.MaxLinks) })
	if err != nil {
		return nil, err
	}
	if err := cfg.Set.Register(d.Protocol()); err != nil {
		return nil, err
	}
	return d, nil
}

// newDHT returns a DHT over the carrier mk makes (cfg.Set may be nil when
// it is not a peer set's).
func newDHT(cfg Config, mk func(*DHT) carrier) (*DHT, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &DHT{
		cfg: cfg, self: NodeID(cfg.Key), log: cfg.Logger,
		store:   NewStore(cfg.Store),
		pending: make(map[uint64]*call),
		perPeer: make(map[addr.NodeID]int),
		checks:  make(map[ID]bool),
		done:    make(chan struct{}),
	}
	d.table = NewTable(d.self)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	rand.Read(d.secret[0][:])
	rand.Read(d.secret[1][:])
	d.rotated = cfg.Clock.Now()
	d.carrier = mk(d)
	return d, nil
}

// Protocol is the DHT's peer protocol (registered by New). A DHT on
// another carrier has no peer protocol: it returns the zero Protocol.
func (d *DHT) Protocol() peer.Protocol {
	if lc, ok := d.carrier.(*linkCarrier); ok {
		return lc.protocol()
	}
	return peer.Protocol{}
}

// ID returns this node's DHT ID.
func (d *DHT) ID() ID { return d.self }

// Self returns this node's contact as it tells others.
func (d *DHT) Self() Contact {
	var as []ma.Multiaddr
	for _, a := range d.cfg.Addrs() {
		if base, _ := transport.SplitIdentity(a); len(as) < MaxAddrs && len(base.Bytes()) <= MaxAddrLen {
			as = append(as, base) // the key travels in the contact
		}
	}
	return Contact{ID: d.self, Key: d.cfg.Key, Addrs: as}
}

// Stats are a DHT's counters.
type Stats struct {
	Queries  int64 // RPCs this node answered
	Lookups  int64 // lookups it ran
	Sent     int64 // RPCs it sent
	Timeouts int64 // RPCs that got no answer in time
	Dropped  int64 // requests and responses dropped (bad sender, unknown ID)
	Contacts int   // live contacts in the table
	Records  int   // records stored for others
	Links    int   // links the DHT made and keeps
}

// Stats returns the counters.
func (d *DHT) Stats() Stats {
	links := d.carrier.made()
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Queries: d.queries.Load(), Lookups: d.lookups.Load(), Sent: d.sent.Load(),
		Timeouts: d.timeouts.Load(), Dropped: d.dropped.Load(),
		Contacts: d.table.Len(), Records: d.store.Len(), Links: links}
}

// Contacts returns up to n contacts of the table closest to target.
func (d *DHT) Contacts(target ID, n int) []Contact {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.table.Closest(target, n)
}

// Close stops the DHT: RPCs in flight fail with ErrClosed, the links it
// made are closed, and it returns once its goroutines have. Idempotent.
func (d *DHT) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		d.wg.Wait()
		return nil
	}
	d.closed = true
	close(d.done)
	d.cancel()
	d.mu.Unlock()
	d.carrier.close()
	d.wg.Wait()
	return nil
}

// goLocked runs f on a goroutine Close waits for, unless closed.
func (d *DHT) goLocked(f func()) {
	if d.closed {
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
}

// context returns ctx, also cancelled by Close.
func (d *DHT) context(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(d.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// heard records that c answered or asked: it enters the table, and a full
// bucket's oldest contact is checked.
func (d *DHT) heardLocked(c Contact) {
	if len(c.Addrs) == 0 {
		if old, ok := d.table.Get(c.ID); ok {
			c.Addrs = old.Addrs
		} else {
			return // nothing to reach it by
		}
	}
	c.Seen = d.cfg.Clock.Now()
	added, check := d.table.Add(c)
	if added || check == nil || d.checks[check.ID] || len(d.checks) >= 4 {
		return
	}
	old := *check
	d.checks[old.ID] = true
	d.goLocked(func() {
		ctx, cancel := d.context(context.Background())
		defer cancel()
		_, err := d.rpc(ctx, old, &Request{Op: OpPing})
		d.mu.Lock()
		delete(d.checks, old.ID)
		if err == nil {
			d.table.Seen(old.ID, d.cfg.Clock.Now())
		}
		d.mu.Unlock()
	})
}

// token returns the write token of requester for target under secret i.
func (d *DHT) tokenLocked(i int, requester, target ID) []byte {
	m := hmac.New(sha256.New, d.secret[i][:])
	m.Write(requester[:])
	m.Write(target[:])
	return m.Sum(nil)[:TokenSize]
}

func (d *DHT) rotateLocked(now time.Time) {
	if now.Sub(d.rotated) < tokenRotation {
		return
	}
	d.secret[1] = d.secret[0]
	rand.Read(d.secret[0][:])
	d.rotated = now
}

// handleRequest serves a request on the link's reader: it never blocks.
func (d *DHT) handleRequest(l path, m *Request) {
	if !m.From.isKey(l.RemoteKey()) {
		d.dropped.Add(1)
		return // a contact that is not the link's own
	}
	d.queries.Add(1)
	now := d.cfg.Clock.Now()
	resp := &Response{ID: m.ID, Op: m.Op, From: d.Self()} // before d.mu: Self reads the Set
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.rotateLocked(now)
	d.heardLocked(m.From)
	switch m.Op {
	case OpFindNode:
		resp.Nodes = d.closestLocked(m.Target, m.From.ID)
	case OpGet:
		resp.Nodes = d.closestLocked(m.Target, m.From.ID)
		resp.Token = d.tokenLocked(0, m.From.ID, m.Target)
		recs := d.store.Get(m.Target, now)
		if len(recs) > MaxRecords {
			recs = recs[:MaxRecords]
		}
		resp.Records = recs
	case OpPut:
		t := m.Record.Target()
		if !hmac.Equal(m.Token, d.tokenLocked(0, m.From.ID, t)) && !hmac.Equal(m.Token, d.tokenLocked(1, m.From.ID, t)) {
			resp.Refused = true
		} else if err := d.store.Put(m.Record, m.From.ID, m.CAS, now); err != nil {
			d.log.Debug("dht: put refused", "from", l.ID(), "err", err)
			resp.Refused = true
		}
	}
	d.mu.Unlock()
	l.Send(resp) // a full queue drops the answer; the asker times out
}

// closestLocked returns K contacts closest to target, leaving out who
// asked.
func (d *DHT) closestLocked(target, asker ID) []Contact {
	cs := d.table.Closest(target, K+1)
	out := cs[:0]
	for _, c := range cs {
		if c.ID != asker && len(out) < K {
			out = append(out, c)
		}
	}
	return out
}

func (d *DHT) handleResponse(l path, m *Response) {
	d.mu.Lock()
	c := d.pending[m.ID]
	if c == nil || c.link.ID() != l.ID() { // a link that replaced the asked one may carry it
		d.mu.Unlock()
		d.dropped.Add(1)
		return
	}
	delete(d.pending, m.ID)
	d.mu.Unlock()
	c.resp <- m // buffered, one response per call
}

// rpc sends req to c, linking to it if need be, and waits for its answer
// for at most RPCTimeout. A contact that fails is dropped from the table;
// one that answers is marked seen.
func (d *DHT) rpc(ctx context.Context, c Contact, req *Request) (*Response, error) {
	tctx, cancel := context.WithTimeout(ctx, d.cfg.RPCTimeout)
	l, err := d.carrier.reach(tctx, c)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.mu.Lock()
			d.table.Failed(c.ID)
			d.mu.Unlock()
		}
		return nil, err
	}
	return d.rpcOver(ctx, l, c, req)
}

func (d *DHT) rpcOver(ctx context.Context, l path, c Contact, req *Request) (*Response, error) {
	ch := &call{link: l, resp: make(chan *Response, 1)}
	pid := l.ID()
	self := d.Self() // reads the Set: never under d.mu
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	if d.perPeer[pid] >= d.cfg.MaxPendingPerPeer {
		d.mu.Unlock()
		return nil, ErrBusy
	}
	d.nextID++
	req.ID = d.nextID
	req.From = self
	d.pending[req.ID] = ch
	d.perPeer[pid]++
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.pending, req.ID)
		if d.perPeer[pid]--; d.perPeer[pid] <= 0 {
			delete(d.perPeer, pid)
		}
		d.mu.Unlock()
	}()
	d.sent.Add(1)
	if err := l.Send(req); err != nil {
		return nil, err
	}
	t := d.cfg.Clock.NewTimer(d.cfg.RPCTimeout)
	defer t.Stop()
	select {
	case m := <-ch.resp:
		if m.Op != req.Op {
			return nil, fmt.Errorf("%w: answer to %s is %s", ErrMalformed, req.Op, m.Op)
		}
		if !m.From.isKey(l.RemoteKey()) {
			d.dropped.Add(1)
			return nil, fmt.Errorf("%w: answer from another key", ErrMalformed)
		}
		d.mu.Lock()
		d.heardLocked(m.From)
		d.mu.Unlock()
		return m, nil
	case <-t.C():
		d.timeouts.Add(1)
		d.mu.Lock()
		d.table.Failed(c.ID)
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: %s to %s", ErrTimeout, req.Op, pid)
	case <-l.Done():
		return nil, fmt.Errorf("dht: %s: %w", req.Op, l.Err())
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.done:
		return nil, ErrClosed
	}
}

// Link returns a link to c for a caller outside the DHT (the root's dial
// linking to a listener's node): an existing one, or one made as lookups
// make theirs, counted under MaxLinks and closed least recently used
// first unless streams (circuits) came to use it.
func (d *DHT) Link(ctx context.Context, c Contact) (*peer.Link, error) {
	lc, ok := d.carrier.(*linkCarrier)
	if !ok {
		return nil, fmt.Errorf("%w: the DHT does not run over peer links", errConfig)
	}
	return lc.link(ctx, c)
}
