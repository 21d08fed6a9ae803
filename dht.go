package foxtrot

import (
	"cmp"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/dht"
	"github.com/foxtrotnet/foxtrot/peer"
)

// DHTConfig configures the node's part of the DHT (package dht): its
// listeners publish blinded listener records, and a dial with no learned
// route looks the target's record up and links to the node it names
// before it sends its request, instead of flooding. With the zero value
// the DHT runs when Config.Bootstrap is set, with the defaults below.
type DHTConfig struct {
	// On runs the DHT even without Config.Bootstrap; Off keeps it off
	// even with Bootstrap (both set is an error). Default: the DHT runs
	// when Bootstrap is set, since a node joining a network through
	// bootstrap nodes finds listeners through it, and not otherwise: a
	// DHT node links to the nodes its lookups find and keeps
	// Config.TargetPeers links, so a node given only Peers would no
	// longer keep exactly the links it was given (DESIGN.md, "DHT and
	// discovery"). Without the DHT the node neither answers DHT requests
	// nor publishes nor looks up, and dials flood (or follow learned
	// routes).
	On, Off bool
	// LookupTimeout bounds the lookup a dial makes before it floods.
	// Default: a quarter of the time left to the dial (Config.DialTimeout
	// or its context's deadline).
	LookupTimeout time.Duration
	// Maintain is how often the DHT refreshes stale buckets and
	// republishes this node's records. Default 15 minutes.
	Maintain time.Duration
	// RPCTimeout bounds one DHT request. Default 2s.
	RPCTimeout time.Duration
	// FloodRadius is the hop limit of a dial's requests when the DHT was
	// asked where the target is (no route to it was known): a request
	// directed to the node its record names is forwarded along learned
	// routes anyway, and the flood that follows when no record was found,
	// or the directed request got no answer, reaches nodes at most
	// FloodRadius+1 links away instead of the whole network. So a
	// listener that is not published (ListenOptions.Unpublished) is
	// reached by a first contact only within that radius, or along
	// learned routes. Default 3; Config.HopLimit or more: no limit beyond
	// the node's.
	FloodRadius uint8
}

// ListenOptions are options of ListenWith.
type ListenOptions struct {
	// Unpublished keeps the listener out of the DHT: no listener record
	// names this node for its key, so diallers find it only by flooding
	// (within their DHTConfig.FloodRadius when they run the DHT) or
	// routes they learned. Default false: published while the DHT runs
	// (Config.DHT).
	Unpublished bool
}

// defaultFloodRadius is DHTConfig.FloodRadius' default.
const defaultFloodRadius = 3

// foundCacheSize bounds the listener records a node remembers from its
// lookups.
const foundCacheSize = 1024

// recordSlack is how long a listener record outlives its period, for
// diallers whose clocks lag.
const recordSlack = time.Hour

// dhtPart is the node's DHT: the dht.Node, its start (bootstrap) and the
// publishers of its listeners, and what dials learned.
type dhtPart struct {
	node   *dht.Node
	peers  *peer.Set
	cfg    DHTConfig
	keeper *keeper       // nil when Config.TargetPeers < 0
	ready  chan struct{} // closed once the first bootstrap ended
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	found map[[20]byte]foundEntry

	dialsFound, dialsMissed, published atomic.Int64
}

type foundEntry struct {
	nodes   []dht.Contact
	expires time.Time
}

// newDHT makes the node's DHT and registers its protocol with the peer
// set (before any link comes up). It returns nil when the DHT is off
// (DHTConfig.On and Off).
func newDHT(cfg Config, set *peer.Set, key *btcec.PrivateKey) (*dhtPart, error) {
	if !cfg.DHT.On && (cfg.DHT.Off || len(cfg.Bootstrap) == 0) {
		return nil, nil
	}
	dn, err := dht.NewNode(dht.Config{Set: set, Key: key.PubKey(), Maintain: cfg.DHT.Maintain,
		RPCTimeout: cfg.DHT.RPCTimeout, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	p := &dhtPart{node: dn, peers: set, cfg: cfg.DHT, ready: make(chan struct{}), found: make(map[[20]byte]foundEntry)}
	if target := cmp.Or(cfg.TargetPeers, defaultTargetPeers); target > 0 {
		p.keeper = newKeeper(target, set, dn.DHT())
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// start bootstraps the DHT once a link is up (Config.Peers and
// Config.Bootstrap are kept by the peer set): it pings the linked peers
// and looks up its own ID, linking to the nodes that answer.
func (p *dhtPart) start(expectLinks bool) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(p.ready)
		if expectLinks {
			if p.peers.WaitLink(p.ctx) != nil {
				return
			}
		}
		if p.keeper != nil {
			// Beside the bootstrap, not after it: a slow bootstrap lookup
			// must not hold back the links; the keeper's own lookups and
			// retries fill its candidates meanwhile.
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.keeper.run(p.ctx, &p.wg)
			}()
		}
		p.node.Start(p.ctx) // a failed bootstrap is retried by maintenance
	}()
}

// close stops the publishers and the DHT. Idempotent.
func (p *dhtPart) close() error {
	p.cancel()
	p.wg.Wait()
	return p.node.Close()
}

// waitReady waits for the first bootstrap to end, or ctx.
func (p *dhtPart) waitReady(ctx context.Context) bool {
	select {
	case <-p.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// publish keeps key's listener record published until stop is called:
// one record per period (dht.DefaultPeriod), republished by the dht.Node
// until the listener closes. A failed publish is retried with backoff.
func (p *dhtPart) publish(key *btcec.PrivateKey, log func(msg string, args ...any)) (stop func()) {
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(done)
		if !p.waitReady(ctx) {
			return
		}
		d := p.node.DHT()
		var last *dht.Record
		defer func() {
			if last != nil {
				p.node.Unpublish(last.Target(), last.Key)
			}
		}()
		backoff := time.Second
		for {
			now := d.Now()
			t := dht.PeriodOf(now, dht.DefaultPeriod)
			end := time.Unix(int64((t+1)*uint64(dht.DefaultPeriod/time.Second)), 0)
			wait := end.Sub(now)
			self := d.Self()
			if len(self.Addrs) == 0 {
				log("dht: not publishing: the node has no listen address")
				return
			}
			rec, err := dht.NewListenerRecord(key, []dht.Contact{self}, t, uint64(now.UnixNano()), end.Add(recordSlack), rand.Reader)
			if err == nil {
				_, err = p.node.Publish(ctx, rec)
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log("dht: publishing a listener record failed", "err", err, "retry", backoff)
				wait, backoff = backoff, min(2*backoff, time.Minute)
			} else {
				if last != nil && last.Target() != rec.Target() {
					p.node.Unpublish(last.Target(), last.Key) // it expires on its own
				}
				last, backoff = rec, time.Second
				p.published.Add(1)
			}
			tm := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				tm.Stop()
				return
			case <-tm.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// learnRoute looks up the listener record of target (unless a route to it is
// known, or a record was found before and is still good), links to a node
// it names and teaches the router that target is reached through that
// link, so the dial's request goes there first. It spends at most
// LookupTimeout of ctx; any failure leaves the dial to flood. It returns
// the hop limit for the dial's requests: 0 (the node's) without the DHT
// or with a known route, else DHTConfig.FloodRadius.
func (n *Node) learnRoute(ctx context.Context, target Addr) (hopLimit uint8) {
	p := n.dht
	if p == nil || n.router.HasRoute(target.Hash160()) {
		return 0
	}
	hopLimit = cmp.Or(p.cfg.FloodRadius, defaultFloodRadius)
	timeout := p.cfg.LookupTimeout
	if timeout <= 0 {
		timeout = n.dialTimeout / 4
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) / 4
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	nodes := p.cached(target)
	if nodes == nil {
		if !p.waitReady(ctx) {
			p.dialsMissed.Add(1)
			return hopLimit
		}
		d := p.node.DHT()
		li, _, err := d.FindListener(ctx, target, dht.PeriodOf(d.Now(), dht.DefaultPeriod))
		if err != nil {
			n.log.Debug("dht: no listener record", "target", target.String(), "err", err)
			p.dialsMissed.Add(1)
			return hopLimit
		}
		nodes = li.Nodes
		p.remember(target, nodes, d.Now().Add(dht.DefaultPeriod))
	}
	self := p.node.DHT().ID()
	for _, c := range nodes {
		if c.ID == self {
			return hopLimit // the listener is here: the router finds it locally
		}
		l, err := p.node.DHT().Link(ctx, c)
		if err != nil {
			n.log.Debug("dht: linking to a listener's node failed", "target", target.String(), "err", err)
			continue
		}
		if n.router.Hint(target.Hash160(), l) {
			p.dialsFound.Add(1)
			return hopLimit
		}
	}
	p.forget(target) // no named node was reachable: look up afresh next time
	p.dialsMissed.Add(1)
	return hopLimit
}

func (p *dhtPart) cached(target Addr) []dht.Contact {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.found[target.Hash160()]
	if !ok {
		return nil
	}
	if p.node.DHT().Now().After(e.expires) {
		delete(p.found, target.Hash160())
		return nil
	}
	return e.nodes
}

func (p *dhtPart) remember(target Addr, nodes []dht.Contact, expires time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.found) >= foundCacheSize {
		for k := range p.found { // a random one: map order
			delete(p.found, k)
			break
		}
	}
	p.found[target.Hash160()] = foundEntry{nodes: nodes, expires: expires}
}

func (p *dhtPart) forget(target Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.found, target.Hash160())
}

// DHTStats are the DHT's counters in Stats.
type DHTStats struct {
	// Sent counts DHT requests this node sent, Timeouts those that got
	// no answer in time.
	Sent, Timeouts int64
	// Contacts are the live contacts of the routing table, Records the
	// records stored for others, Links the links the DHT made and keeps.
	Contacts, Records, Links int
	// DialsFound counts dials that found their target's listener record
	// and linked to its node; DialsMissed those whose lookup failed or
	// timed out, so they flooded.
	DialsFound, DialsMissed int64
	// Published counts listener records this node published.
	Published int64
	// Kept are the links the node made to reach Config.TargetPeers and
	// keeps up now; PeerExchanges counts the lookups it ran to learn
	// more nodes for them.
	Kept          int
	PeerExchanges int64
}

// dhtStats fills the DHT counters of s.
func (n *Node) dhtStats(s *Stats) {
	p := n.dht
	if p == nil {
		return
	}
	st := p.node.DHT().Stats()
	s.DHTQueries, s.DHTLookups = st.Queries, st.Lookups
	s.DHT = DHTStats{Sent: st.Sent, Timeouts: st.Timeouts, Contacts: st.Contacts, Records: st.Records, Links: st.Links,
		DialsFound: p.dialsFound.Load(), DialsMissed: p.dialsMissed.Load(), Published: p.published.Load()}
	if k := p.keeper; k != nil {
		s.DHT.Kept, s.DHT.PeerExchanges = k.keptCount(), k.exchanges.Load()
	}
}
