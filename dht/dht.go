package dht

import (
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
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
	if c.Set == nil || c.Key == nil {
		return fmt.Errorf("%w: Config.Set and Config.Key are required", errConfig)
	}
	if addr.NodeIDFromPubKey(c.Key) != c.Set.Self() {
		return fmt.Errorf("%w: Config.Key is not the Set's identity", errConfig)
	}
	if c.Addrs == nil {
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
// stores for others, and the RPCs it runs over peer links. It has no
// goroutines of its own beyond the liveness checks of full buckets it
// starts (Close waits for them); lookups run on their callers' goroutines.
type DHT struct {
	cfg  Config
	set  *peer.Set
	self ID
	log  *slog.Logger

	mu      sync.Mutex
	table   *Table
	store   *Store
	pending map[uint64]*call
	perPeer map[addr.NodeID]int
	nextID  uint64
	links   *list.List // *peer.Link the DHT made, least recently used first
	linkEl  map[*peer.Link]*list.Element
	checks  map[ID]bool         // liveness checks in flight
	linking map[addr.NodeID]int // links linkTo is making, by peer
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
	link *peer.Link
	resp chan *Response
}

// New returns a DHT and registers its protocol with cfg.Set.
func New(cfg Config) (*DHT, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &DHT{
		cfg: cfg, set: cfg.Set, self: NodeID(cfg.Key), log: cfg.Logger,
		store:   NewStore(cfg.Store),
		pending: make(map[uint64]*call),
		perPeer: make(map[addr.NodeID]int),
		links:   list.New(),
		linkEl:  make(map[*peer.Link]*list.Element),
		checks:  make(map[ID]bool),
		linking: make(map[addr.NodeID]int),
		done:    make(chan struct{}),
	}
	d.table = NewTable(d.self)
	d.ctx, d.cancel = context.WithCancel(context.Background())
	rand.Read(d.secret[0][:])
	rand.Read(d.secret[1][:])
	d.rotated = cfg.Clock.Now()
	if err := cfg.Set.Register(d.Protocol()); err != nil {
		return nil, err
	}
	return d, nil
}

// Protocol is the DHT's peer protocol (registered by New).
func (d *DHT) Protocol() peer.Protocol {
	return peer.Protocol{
		Name: "dht",
		Messages: []peer.MessageType{
			{Type: TypeRequest, Decode: DecodeRequest, Handle: func(l *peer.Link, m wire.Message) { d.handleRequest(l, m.(*Request)) }},
			{Type: TypeResponse, Decode: DecodeResponse, Handle: func(l *peer.Link, m wire.Message) { d.handleResponse(l, m.(*Response)) }},
		},
		LinkUp:   d.linkUp,
		LinkDown: d.linkDown,
	}
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
	d.mu.Lock()
	defer d.mu.Unlock()
	return Stats{Queries: d.queries.Load(), Lookups: d.lookups.Load(), Sent: d.sent.Load(),
		Timeouts: d.timeouts.Load(), Dropped: d.dropped.Load(),
		Contacts: d.table.Len(), Records: d.store.Len(), Links: d.links.Len()}
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
	var links []*peer.Link
	for e := d.links.Front(); e != nil; e = e.Next() {
		links = append(links, e.Value.(*peer.Link))
	}
	d.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
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

// linkUp counts a link coming up as hearing from its peer, if the table
// knows it: liveness from what links observe, without an RPC. A peer the
// table does not know, on a link this node dialled other than for an RPC
// of its own, is pinged: the ping and its answer carry both contacts, so
// neighbours enter each other's tables as their links come up (one ping
// per link, from the end that dialled).
func (d *DHT) linkUp(l *peer.Link) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := NodeID(l.RemoteKey())
	d.table.Seen(id, d.cfg.Clock.Now())
	if _, known := d.table.Get(id); known || !l.Outbound() || d.linking[l.ID()] > 0 {
		return
	}
	d.goLocked(func() {
		ctx, cancel := d.context(context.Background())
		defer cancel()
		d.rpcOver(ctx, l, Contact{ID: id, Key: l.RemoteKey()}, &Request{Op: OpPing})
	})
}

func (d *DHT) linkDown(l *peer.Link, _ error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e := d.linkEl[l]; e != nil {
		d.links.Remove(e)
		delete(d.linkEl, l)
	}
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
func (d *DHT) handleRequest(l *peer.Link, m *Request) {
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

func (d *DHT) handleResponse(l *peer.Link, m *Response) {
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

// linkTo returns a link to c: an existing one, or one the DHT makes
// (bounded by MaxLinks, least recently used closed first).
func (d *DHT) linkTo(ctx context.Context, c Contact) (*peer.Link, error) {
	pub, err := c.PubKey()
	if err != nil {
		return nil, err
	}
	id := addr.NodeIDFromPubKey(pub)
	if l := d.set.Link(id); l != nil {
		d.mu.Lock()
		if e := d.linkEl[l]; e != nil {
			d.links.MoveToBack(e)
		}
		d.mu.Unlock()
		return l, nil
	}
	hexKey := hex.EncodeToString(pub.SerializeCompressed())
	err = fmt.Errorf("%w: contact has no address", ErrNotFound)
	for _, a := range c.Addrs {
		base, _ := transport.SplitIdentity(a)
		full, werr := transport.WithIdentity(base, hexKey)
		if werr != nil {
			err = werr
			continue
		}
		var l *peer.Link
		d.mu.Lock()
		d.linking[id]++
		d.mu.Unlock()
		l, err = d.set.Connect(ctx, full)
		d.mu.Lock()
		if d.linking[id]--; d.linking[id] <= 0 {
			delete(d.linking, id)
		}
		d.mu.Unlock()
		if err != nil {
			continue
		}
		var evict []*peer.Link
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			l.Close()
			return nil, ErrClosed
		}
		if d.linkEl[l] == nil {
			d.linkEl[l] = d.links.PushBack(l)
		}
		for d.links.Len() > d.cfg.MaxLinks {
			e := d.links.Front()
			old := e.Value.(*peer.Link)
			d.links.Remove(e)
			delete(d.linkEl, old)
			if old.NumStreams() <= 1 { // the control stream only
				evict = append(evict, old)
			} // else circuits use it now: it is no longer the DHT's to close
		}
		d.mu.Unlock()
		for _, old := range evict {
			old.Close()
		}
		return l, nil
	}
	return nil, err
}

// rpc sends req to c, linking to it if need be, and waits for its answer
// for at most RPCTimeout. A contact that fails is dropped from the table;
// one that answers is marked seen.
func (d *DHT) rpc(ctx context.Context, c Contact, req *Request) (*Response, error) {
	tctx, cancel := context.WithTimeout(ctx, d.cfg.RPCTimeout)
	l, err := d.linkTo(tctx, c)
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

func (d *DHT) rpcOver(ctx context.Context, l *peer.Link, c Contact, req *Request) (*Response, error) {
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
	return d.linkTo(ctx, c)
}
