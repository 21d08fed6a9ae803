package route

import (
	"sort"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/peer"
)

// table is a node's route table: for each target it has seen answer,
// the neighbours that led to it, with what was observed of each. It is
// learned, never configured:
//
//   - a verified ack coming back from neighbour D for target T says "T is
//     len(hops)+1 hops away through D", and the time since the request went
//     to D is a latency sample;
//   - a circuit or connection through D that carried data and ended well
//     is a success; one that broke is a failure.
//
// Candidates expire (Config.RouteTTL after they were last confirmed) and
// vanish with their link. The table holds at most Config.MaxRoutes
// targets; the least recently confirmed go first. It is fair-shared among
// next hops as the seen table is among peers (see seen.go): a neighbour
// that already leads to its share of targets, max(MaxRoutes/peers, 64),
// teaches the table no new one until some of its candidates expire, so a
// peer answering requests for made-up targets cannot push out the routes
// learned through others. It is guarded by the router's mutex.
type table struct {
	ttl     time.Duration
	max     int
	targets map[[20]byte]*routeEntry
	perLink map[*peer.Link]int // candidates through each link
}

// minRouteShare is the least number of targets one next hop may lead to
// in the table, however many peers there are (bounded by MaxRoutes).
const minRouteShare = 64

type routeEntry struct {
	target  [20]byte
	updated time.Time
	cands   []*candidate
}

// candidate is one next hop toward a target.
type candidate struct {
	link      *peer.Link
	hops      int           // links from us to the target through link
	latency   time.Duration // EWMA of request-to-ack time through link
	successes int
	failures  int
	price     uint64 // the path's price per MiB, as acks quoted it
	updated   time.Time
}

func newTable(ttl time.Duration, max int) *table {
	return &table{ttl: ttl, max: max, targets: make(map[[20]byte]*routeEntry), perLink: make(map[*peer.Link]int)}
}

// share is how many candidates one link may have among peers links.
func (t *table) share(peers int) int {
	return max(t.max/max(peers, 1), min(minRouteShare, t.max))
}

// learn records that target answered through link, hops away, latency
// after the request went out, at price, and reports whether it did: a
// new candidate through a link that has its share (among peers links)
// is not recorded.
func (t *table) learn(target [20]byte, link *peer.Link, hops int, latency time.Duration, price uint64, now time.Time, peers int) bool {
	e := t.targets[target]
	if e != nil {
		for _, c := range e.cands {
			if c.link == link {
				e.updated = now
				c.hops = hops
				c.latency = ewma(c.latency, latency)
				c.price = price
				c.updated = now
				return true
			}
		}
	}
	if t.perLink[link] >= t.share(peers) {
		return false
	}
	if e == nil {
		if len(t.targets) >= t.max {
			t.evictOldest()
		}
		e = &routeEntry{target: target}
		t.targets[target] = e
	}
	e.updated = now
	e.cands = append(e.cands, &candidate{link: link, hops: hops, latency: latency, price: price, updated: now})
	t.perLink[link]++
	return true
}

// forget counts c out of its link's share.
func (t *table) forget(c *candidate) {
	if t.perLink[c.link]--; t.perLink[c.link] <= 0 {
		delete(t.perLink, c.link)
	}
}

// outcome records how a circuit or connection toward target through link
// went.
func (t *table) outcome(target [20]byte, link *peer.Link, ok bool) {
	e := t.targets[target]
	if e == nil {
		return
	}
	for _, c := range e.cands {
		if c.link == link {
			if ok {
				c.successes++
			} else {
				c.failures++
			}
			return
		}
	}
}

func ewma(old, sample time.Duration) time.Duration {
	if old == 0 {
		return sample
	}
	return old - old/4 + sample/4
}

// score orders candidates, lower is better: latency, inflated by the
// share of failures, plus a little per hop to break ties toward short
// paths. A candidate that failed more than it worked counts double.
func (c *candidate) score() float64 {
	s := float64(c.latency) * (1 + float64(c.failures)/float64(c.successes+1))
	return s + float64(c.hops)*float64(100*time.Microsecond)
}

// best returns up to n live candidates for target, best first, leaving
// out except (the link a request came from).
func (t *table) best(target [20]byte, n int, except *peer.Link, now time.Time) []*candidate {
	e := t.targets[target]
	if e == nil {
		return nil
	}
	var out []*candidate
	for _, c := range e.cands {
		if c.link != except && c.link.Err() == nil && now.Sub(c.updated) <= t.ttl {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].score() < out[j].score() })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// dropLink forgets every candidate through link.
func (t *table) dropLink(link *peer.Link) {
	for id, e := range t.targets {
		kept := e.cands[:0]
		for _, c := range e.cands {
			if c.link != link {
				kept = append(kept, c)
			}
		}
		delete(t.perLink, link)
		for i := len(kept); i < len(e.cands); i++ {
			e.cands[i] = nil
		}
		e.cands = kept
		if len(e.cands) == 0 {
			delete(t.targets, id)
		}
	}
}

// expire drops candidates not confirmed within the TTL.
func (t *table) expire(now time.Time) {
	for id, e := range t.targets {
		kept := e.cands[:0]
		for _, c := range e.cands {
			if now.Sub(c.updated) <= t.ttl {
				kept = append(kept, c)
			} else {
				t.forget(c)
			}
		}
		e.cands = kept
		if len(e.cands) == 0 {
			delete(t.targets, id)
		}
	}
}

func (t *table) evictOldest() {
	var oldest *routeEntry
	for _, e := range t.targets {
		if oldest == nil || e.updated.Before(oldest.updated) {
			oldest = e
		}
	}
	if oldest != nil {
		for _, c := range oldest.cands {
			t.forget(c)
		}
		delete(t.targets, oldest.target)
	}
}

// Route describes one learned next hop toward a target.
type Route struct {
	Target    [20]byte
	NextHop   addr.NodeID // the neighbour's identity
	Hops      int         // links to the target through NextHop
	Latency   time.Duration
	Successes int
	Failures  int
	Price     uint64
	Updated   time.Time
}

// Routes returns the route table, targets and candidates best first.
func (r *Router) Routes() []Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []Route
	for target := range r.routes.targets {
		for _, c := range r.routes.best(target, len(r.routes.targets[target].cands), nil, now) {
			out = append(out, Route{Target: target, NextHop: c.link.ID(), Hops: c.hops, Latency: c.latency,
				Successes: c.successes, Failures: c.failures, Price: c.price, Updated: c.updated})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return string(out[i].Target[:]) < string(out[j].Target[:]) })
	return out
}
