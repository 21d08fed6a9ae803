package route

import (
	"github.com/foxtrotnet/foxtrot/addr"
)

// The seen-request table is fair-shared: every entry belongs to an owner,
// the party whose request made it, and no peer can take more than its
// share, so one peer (or a few) that floods the table with requests for
// random addresses leaves room for everybody else.
//
//   - Owners are the node itself (its own dials: never refused, never
//     evicted), and for each peer two: the requests it relays through
//     us and the requests it brings for our own listeners. The second
//     is apart so that a peer flooding the first still reaches our
//     listeners, and any peer that does not flood reaches them always.
//   - A peer owner may hold at most max(MaxSeen/peers, minSeenShare)
//     entries; a request beyond that is dropped (RequestsOverShare). We
//     drop its newest rather than evict its oldest: the oldest are the
//     ones whose acks may be on the way back, and a flooder's newest
//     requests are its own loss.
//   - The table as a whole holds at most MaxSeen entries. A share shrinks
//     when peers join and a peer's old entries outlive its link, so the
//     whole can fill while a newcomer is under its share: then the oldest
//     entry of the largest owner (bigger than the newcomer's) goes.
//
// Every entry of one owner expires the same time after it was made, so
// each owner's entries queue in expiry order: expiry and eviction pop
// the front, and nothing scans the whole table.

// minSeenShare is the least a peer may hold, however many peers there
// are (bounded by MaxSeen).
const minSeenShare = 256

// seenKey names an owner of seen entries.
type seenKey struct {
	peer  addr.NodeID // zero for the node itself
	self  bool        // this node's own dials
	local bool        // requests for this node's listeners
}

// seenOwner is one owner's entries, oldest first.
type seenOwner struct {
	ids  []addr.ConnID // ids[head:] are live or stale (deleted elsewhere)
	head int
	n    int // live entries
}

func (o *seenOwner) push(id addr.ConnID) { o.ids = append(o.ids, id) }

// pop drops the front of the queue.
func (o *seenOwner) pop() {
	o.ids[o.head] = addr.ConnID{}
	o.head++
	if o.head == len(o.ids) {
		o.ids, o.head = o.ids[:0], 0
	} else if o.head >= 64 && o.head > len(o.ids)/2 {
		o.ids = append(o.ids[:0], o.ids[o.head:]...)
		o.head = 0
	}
}

// seenShareLocked is how many entries one peer owner may hold now.
func (r *Router) seenShareLocked() int {
	return max(r.cfg.MaxSeen/max(len(r.nbrs), 1), min(minSeenShare, r.cfg.MaxSeen))
}

// addSeenLocked records e as seen request id, owned by k, if k's share
// and the table have room (see above), and reports whether it did.
func (r *Router) addSeenLocked(id addr.ConnID, e *seenEntry, k seenKey) bool {
	o := r.seenOwners[k]
	if !k.self && o != nil && o.n >= r.seenShareLocked() {
		r.stats.requestsOverShare.Add(1)
		return false
	}
	if len(r.seen) >= r.cfg.MaxSeen && !r.evictSeenLocked(o) && !k.self {
		r.stats.requestsOverShare.Add(1)
		return false
	}
	if o == nil {
		o = &seenOwner{}
		r.seenOwners[k] = o
	}
	e.owner = k
	r.seen[id] = e
	o.push(id)
	o.n++
	return true
}

// evictSeenLocked makes room for one entry of owner o (nil: an owner with
// none yet) by dropping the oldest entry of the largest peer owner, if
// that is larger than o.
func (r *Router) evictSeenLocked(o *seenOwner) bool {
	var big *seenOwner
	var bigKey seenKey
	for k, c := range r.seenOwners {
		if !k.self && (big == nil || c.n > big.n) {
			big, bigKey = c, k
		}
	}
	if big == nil || big == o || (o != nil && big.n <= o.n+1) {
		return false
	}
	for big.head < len(big.ids) {
		id := big.ids[big.head]
		big.pop()
		if e := r.seen[id]; e != nil && e.owner == bigKey {
			delete(r.seen, id)
			big.n--
			r.stats.seenEvicted.Add(1)
			return true
		}
	}
	return false
}

// expireSeenLocked forgets the seen requests that expired by now.
func (r *Router) expireSeenLocked(now int64) {
	for k, o := range r.seenOwners {
		for o.head < len(o.ids) {
			id := o.ids[o.head]
			e := r.seen[id]
			if e != nil && e.owner == k {
				if e.expires.UnixNano() >= now {
					break
				}
				delete(r.seen, id)
				o.n--
			}
			o.pop()
		}
		if o.n == 0 && o.head == len(o.ids) {
			delete(r.seenOwners, k)
		}
	}
}
