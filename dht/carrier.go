package dht

import (
	"container/list"
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// path is the way to one peer that the DHT's messages travel: a peer link
// in production (*peer.Link is one). The DHT sends a Request or Response
// on it and learns who is at the far end; a path whose Done closes has
// failed, and RPCs waiting on it end with its Err.
type path interface {
	ID() addr.NodeID
	RemoteKey() *btcec.PublicKey
	Send(m wire.Message) error
	Done() <-chan struct{}
	Err() error
}

// carrier carries the DHT's messages: it reaches contacts, and it hands
// the DHT what arrives (handleRequest, handleResponse with the path it
// came on). Production's carrier is linkCarrier, over peer links; the
// tests' simulated network is another, so the same tables, lookups,
// tokens and stores run at sizes peer links cannot reach in one process.
// Nothing above rpc and Bootstrap knows which carrier it runs on.
type carrier interface {
	// reach returns a path to c: one up now, or one it makes within ctx.
	reach(ctx context.Context, c Contact) (path, error)
	// paths returns the paths up now (Bootstrap pings their peers).
	paths() []path
	// made returns how many paths the carrier made for the DHT and keeps
	// (Stats.Links).
	made() int
	// close closes the paths it made; later reaches fail with ErrClosed.
	close()
}

// linkCarrier carries the DHT over a peer set's links, linking on demand
// to contacts that are not neighbours: at most max such links, the least
// recently used closed first unless streams (circuits) came to use it.
type linkCarrier struct {
	d   *DHT
	set *peer.Set
	max int

	mu      sync.Mutex
	lru     *list.List // *peer.Link the DHT made, least recently used first
	el      map[*peer.Link]*list.Element
	linking map[addr.NodeID]int // links link is making, by peer
	closed  bool
}

func newLinkCarrier(d *DHT, set *peer.Set, max int) *linkCarrier {
	return &linkCarrier{d: d, set: set, max: max, lru: list.New(),
		el: make(map[*peer.Link]*list.Element), linking: make(map[addr.NodeID]int)}
}

// protocol is the DHT's peer protocol.
func (lc *linkCarrier) protocol() peer.Protocol {
	d := lc.d
	return peer.Protocol{
		Name: "dht",
		Messages: []peer.MessageType{
			{Type: TypeRequest, Decode: DecodeRequest, Handle: func(l *peer.Link, m wire.Message) { d.handleRequest(l, m.(*Request)) }},
			{Type: TypeResponse, Decode: DecodeResponse, Handle: func(l *peer.Link, m wire.Message) { d.handleResponse(l, m.(*Response)) }},
		},
		LinkUp:   lc.linkUp,
		LinkDown: lc.linkDown,
	}
}

// linkUp counts a link coming up as hearing from its peer, if the table
// knows it: liveness from what links observe, without an RPC. A peer the
// table does not know, on a link this node dialled other than for an RPC
// of its own, is pinged: the ping and its answer carry both contacts, so
// neighbours enter each other's tables as their links come up (one ping
// per link, from the end that dialled).
func (lc *linkCarrier) linkUp(l *peer.Link) {
	lc.mu.Lock()
	forRPC := lc.linking[l.ID()] > 0
	lc.mu.Unlock()
	d := lc.d
	d.mu.Lock()
	defer d.mu.Unlock()
	id := NodeID(l.RemoteKey())
	d.table.Seen(id, d.cfg.Clock.Now())
	if _, known := d.table.Get(id); known || !l.Outbound() || forRPC {
		return
	}
	d.goLocked(func() {
		ctx, cancel := d.context(context.Background())
		defer cancel()
		d.rpcOver(ctx, l, Contact{ID: id, Key: l.RemoteKey()}, &Request{Op: OpPing})
	})
}

func (lc *linkCarrier) linkDown(l *peer.Link, _ error) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if e := lc.el[l]; e != nil {
		lc.lru.Remove(e)
		delete(lc.el, l)
	}
}

func (lc *linkCarrier) paths() []path {
	var out []path
	for _, l := range lc.set.Links() {
		out = append(out, l)
	}
	return out
}

func (lc *linkCarrier) made() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.lru.Len()
}

func (lc *linkCarrier) close() {
	lc.mu.Lock()
	lc.closed = true
	var links []*peer.Link
	for e := lc.lru.Front(); e != nil; e = e.Next() {
		links = append(links, e.Value.(*peer.Link))
	}
	lc.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
}

func (lc *linkCarrier) reach(ctx context.Context, c Contact) (path, error) {
	l, err := lc.link(ctx, c)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// link returns a link to c: an existing one, or one it makes (bounded by
// max, least recently used closed first).
func (lc *linkCarrier) link(ctx context.Context, c Contact) (*peer.Link, error) {
	pub, err := c.PubKey()
	if err != nil {
		return nil, err
	}
	id := addr.NodeIDFromPubKey(pub)
	if l := lc.set.Link(id); l != nil {
		lc.mu.Lock()
		if e := lc.el[l]; e != nil {
			lc.lru.MoveToBack(e)
		}
		lc.mu.Unlock()
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
		lc.mu.Lock()
		lc.linking[id]++
		lc.mu.Unlock()
		l, err = lc.set.Connect(ctx, full)
		lc.mu.Lock()
		if lc.linking[id]--; lc.linking[id] <= 0 {
			delete(lc.linking, id)
		}
		lc.mu.Unlock()
		if err != nil {
			continue
		}
		var evict []*peer.Link
		lc.mu.Lock()
		if lc.closed {
			lc.mu.Unlock()
			l.Close()
			return nil, ErrClosed
		}
		if lc.el[l] == nil {
			lc.el[l] = lc.lru.PushBack(l)
		}
		for lc.lru.Len() > lc.max {
			e := lc.lru.Front()
			old := e.Value.(*peer.Link)
			lc.lru.Remove(e)
			delete(lc.el, old)
			if old.NumStreams() <= 1 { // the control stream only
				evict = append(evict, old)
			} // else circuits use it now: it is no longer the DHT's to close
		}
		lc.mu.Unlock()
		for _, old := range evict {
			old.Close()
		}
		return l, nil
	}
	return nil, err
}
