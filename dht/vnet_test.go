package dht

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// vnet is a simulated network for the DHT, in one process: every node's
// DHT runs on a carrier (a vnode) that hands each message to the
// addressed node's DHT on a goroutine of its own after a one-way latency
// on the clock. Run inside a testing/synctest bubble, that clock is
// virtual: a lookup's time is its round trips and timeouts, and a
// simulation of thousands of nodes costs only the CPU of the DHT code.
//
// It counts every request and response sent. With wire set, each message
// is encoded and decoded on the way, so the receiver sees what a peer
// link would hand it (contacts with unparsed keys included). A dead node
// (kill) stops answering: its DHT is closed and messages to it vanish, so
// RPCs to it time out, as they do to a host that is gone; the nodes that
// know it learn so only by that timeout.
//
// A vnode has no links: reaching a contact always gives a path, and
// Bootstrap pings the node's bootstrap nodes (paths). Production links to
// them first (a connect per contact not yet linked, bounded by
// Config.MaxLinks); the simulation does not count those handshakes.
type vnet struct {
	latency time.Duration
	wire    bool

	mu   sync.Mutex
	byID map[addr.NodeID]*vnode

	requests, responses atomic.Int64
	wg                  sync.WaitGroup // deliveries in flight

	pairs map[[2]addr.NodeID]int // if not nil, messages by pair of nodes (under mu)
}

// countPairs starts counting messages by the pair of nodes that exchange
// them (each pair would be a link), forgetting earlier counts.
func (n *vnet) countPairs() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pairs = make(map[[2]addr.NodeID]int)
}

// pairCounts returns the counts since countPairs.
func (n *vnet) pairCounts() map[[2]addr.NodeID]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return maps.Clone(n.pairs)
}

func newVnet(latency time.Duration, wire bool) *vnet {
	return &vnet{latency: latency, wire: wire, byID: make(map[addr.NodeID]*vnode)}
}

// vnode is one simulated node and its DHT's carrier.
type vnode struct {
	net   *vnet
	key   *btcec.PublicKey
	id    addr.NodeID
	addrs []ma.Multiaddr
	dht   *DHT
	boot  []*vnode
	dead  atomic.Bool
}

// add makes a node of identity key pub running a DHT with cfg (Key, Addrs
// and the carrier are set here), bootstrapping from boot.
func (n *vnet) add(pub *btcec.PublicKey, cfg Config, boot []*vnode) (*vnode, error) {
	n.mu.Lock()
	i := len(n.byID)
	n.mu.Unlock()
	v := &vnode{net: n, key: pub, id: addr.NodeIDFromPubKey(pub), boot: boot,
		addrs: []ma.Multiaddr{ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/udp/4242/quic-v1", i>>16&255, i>>8&255, i&255))}}
	cfg.Key = pub
	cfg.Addrs = func() []ma.Multiaddr { return v.addrs }
	d, err := newDHT(cfg, func(*DHT) carrier { return v })
	if err != nil {
		return nil, err
	}
	v.dht = d
	n.mu.Lock()
	n.byID[v.id] = v
	n.mu.Unlock()
	return v, nil
}

// kill stops v: it answers nothing more and its DHT is closed.
func (n *vnet) kill(v *vnode) {
	v.dead.Store(true)
	v.dht.Close()
}

// close closes every DHT and waits for the deliveries in flight.
func (n *vnet) close() {
	n.mu.Lock()
	var all []*vnode
	for _, v := range n.byID {
		all = append(all, v)
	}
	n.mu.Unlock()
	for _, v := range all {
		v.dht.Close()
	}
	n.wg.Wait()
}

func (v *vnode) reach(_ context.Context, c Contact) (path, error) {
	if v.dead.Load() {
		return nil, ErrClosed
	}
	pub, err := c.PubKey()
	if err != nil {
		return nil, err
	}
	v.net.mu.Lock()
	to := v.net.byID[addr.NodeIDFromPubKey(pub)]
	v.net.mu.Unlock()
	if to == nil {
		return nil, fmt.Errorf("%w: no node of that key", ErrNotFound)
	}
	return &vpath{from: v, to: to}, nil
}

func (v *vnode) paths() []path {
	var out []path
	for _, b := range v.boot {
		out = append(out, &vpath{from: v, to: b})
	}
	return out
}

func (v *vnode) made() int { return 0 }
func (v *vnode) close()    {}

// vpath is from's way to to.
type vpath struct{ from, to *vnode }

func (p *vpath) ID() addr.NodeID             { return p.to.id }
func (p *vpath) RemoteKey() *btcec.PublicKey { return p.to.key }
func (p *vpath) Done() <-chan struct{}       { return nil }
func (p *vpath) Err() error                  { return nil }

func (p *vpath) Send(m wire.Message) error {
	n := p.from.net
	if p.from.dead.Load() {
		return ErrClosed
	}
	switch m.(type) {
	case *Request:
		n.requests.Add(1)
	case *Response:
		n.responses.Add(1)
	}
	n.mu.Lock()
	if n.pairs != nil {
		k := [2]addr.NodeID{p.from.id, p.to.id}
		if bytes.Compare(k[0][:], k[1][:]) > 0 {
			k[0], k[1] = k[1], k[0]
		}
		n.pairs[k]++
	}
	n.mu.Unlock()
	if n.wire {
		body := m.AppendBody(nil)
		var err error
		if m.Type() == TypeRequest {
			m, err = DecodeRequest(body)
		} else {
			m, err = DecodeResponse(body)
		}
		if err != nil {
			return err
		}
	}
	to := p.to
	if to.dead.Load() {
		return nil // it vanishes
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if n.latency > 0 {
			time.Sleep(n.latency)
		}
		if to.dead.Load() {
			return
		}
		back := &vpath{from: to, to: p.from}
		switch m := m.(type) {
		case *Request:
			to.dht.handleRequest(back, m)
		case *Response:
			to.dht.handleResponse(back, m)
		}
	}()
	return nil
}
