package route

import (
	"github.com/foxtrotnet/foxtrot/peer"
)

// Hint teaches the route table that target is reached through the
// neighbour l, one link away, as if an ack had come back that way: a
// discovery mechanism (the DHT's listener records) found which node
// serves target and linked to it. The next dial of target sends its
// request to l first and floods only if no answer comes within the
// directed wait (Config.DirectedWait times l's round trip, at least
// MinDirectedWait), so a wrong hint costs a wait, never the dial. A real
// ack through l confirms the candidate; it expires as learned ones do
// (Config.RouteTTL). It reports whether the table took the hint (a link
// that holds its share of the table teaches no new target).
func (r *Router) Hint(target [20]byte, l *peer.Link) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || l.Err() != nil {
		return false
	}
	return r.routes.learn(target, l, 1, l.RTT(), 0, r.now(), max(len(r.nbrs), 1))
}

// HasRoute reports whether the table holds a live candidate for target
// (learned from acks or a Hint, not expired, its link up).
func (r *Router) HasRoute(target [20]byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.routes.best(target, 1, nil, r.now())) > 0
}
