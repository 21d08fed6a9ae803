package dht

import (
	"context"
	"sync"
	"time"
)

// Node runs a DHT: Start bootstraps it and starts its maintenance, which
// every Config.Maintain refreshes the buckets not heard from in that
// time, drops expired records, and republishes the records published
// through it until they expire (so they reach nodes that joined closer to
// their targets, and storers that restarted). Close stops it.
//
//	New ──Start──▶ running ──Close──▶ closed
//	                 │ every Maintain: Refresh(stale), Expire, republish
type Node struct {
	dht *DHT
	clk Clock

	mu        sync.Mutex
	published map[ID]map[[32]byte]*Record // by target and key
	started   bool

	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	// rounds, if set (tests), receives after each maintenance round.
	rounds chan struct{}
}

// NewNode returns a Node around a new DHT (see New).
func NewNode(cfg Config) (*Node, error) {
	d, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return nodeOf(d), nil
}

// nodeOf returns a Node around d.
func nodeOf(d *DHT) *Node {
	return &Node{dht: d, clk: d.cfg.Clock, published: make(map[ID]map[[32]byte]*Record), stop: make(chan struct{})}
}

// DHT returns the node's DHT, for lookups and statistics.
func (n *Node) DHT() *DHT { return n.dht }

// Start bootstraps the DHT from the links up now (Bootstrap) and starts
// maintenance. A failed bootstrap is returned, and maintenance runs
// anyway: later rounds refresh from links that come up.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.started || n.dht.isClosed() {
		n.mu.Unlock()
		return nil
	}
	n.started = true
	n.mu.Unlock()
	err := n.dht.Bootstrap(ctx)
	n.wg.Add(1)
	go n.loop()
	return err
}

func (n *Node) loop() {
	defer n.wg.Done()
	every := n.dht.cfg.Maintain
	for {
		t := n.clk.NewTimer(every)
		select {
		case <-n.stop:
			t.Stop()
			return
		case <-t.C():
		}
		ctx, cancel := n.dht.context(context.Background())
		n.round(ctx, every)
		cancel()
		if n.rounds != nil {
			n.rounds <- struct{}{}
		}
	}
}

// round is one maintenance round.
func (n *Node) round(ctx context.Context, every time.Duration) {
	d := n.dht
	d.Refresh(ctx, every) // stale buckets only: none while links are busy
	now := n.clk.Now()
	d.mu.Lock()
	d.store.Expire(now)
	d.mu.Unlock()
	var again []*Record
	n.mu.Lock()
	for t, keys := range n.published {
		for k, r := range keys {
			if !r.Expires.After(now) {
				delete(keys, k)
				continue
			}
			again = append(again, r)
		}
		if len(keys) == 0 {
			delete(n.published, t)
		}
	}
	n.mu.Unlock()
	for _, r := range again {
		d.Put(ctx, r, nil)
	}
}

// Publish stores r at the K nodes closest to its target and keeps
// republishing it until it expires (or a newer record of the same target
// and key is published). It returns how many nodes stored it.
func (n *Node) Publish(ctx context.Context, r *Record) (int, error) {
	stored, _, err := n.dht.Put(ctx, r, nil)
	if err != nil {
		return stored, err
	}
	t := r.Target()
	n.mu.Lock()
	if n.published[t] == nil {
		n.published[t] = make(map[[32]byte]*Record)
	}
	if old := n.published[t][r.Key]; old == nil || old.Seq <= r.Seq {
		n.published[t][r.Key] = r
	}
	n.mu.Unlock()
	return stored, nil
}

// Unpublish stops republishing the record of target and key (a listener
// that closed). Storers keep what they hold until it expires.
func (n *Node) Unpublish(target ID, key [32]byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if keys := n.published[target]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(n.published, target)
		}
	}
}

// Lookup returns the valid records stored under locator (a record's
// Target).
func (n *Node) Lookup(ctx context.Context, locator ID) ([]*Record, error) {
	recs, _, err := n.dht.Get(ctx, locator, nil)
	return recs, err
}

// Close stops maintenance and the DHT; it returns once their goroutines
// have. Idempotent.
func (n *Node) Close() error {
	n.once.Do(func() { close(n.stop) })
	err := n.dht.Close()
	n.wg.Wait()
	return err
}
