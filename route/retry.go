package route

import (
	"errors"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// A dial re-asks. A connect request can meet a dead end that nobody
// reports: a relay whose link to the target is still coming up drops it
// (it counts a dead end and says nothing, so that a flood of requests
// for absent targets costs no answers), and an ack can be lost with its
// link. Rather than wait out its whole timeout on a request that can no
// longer be answered, a dial that has heard nothing sends a fresh request
// (a new ID, flooded) after Config.RetryWait, then after twice that, and
// so on, Config.Retries times at most. Retries are the dialler's last
// resort and cost the whole network a flood and the target a signature
// check each, so they come late (2s); the common dead end, a link still
// coming up, is mended by the relay itself (holdDeadEnd, below). An answer to any of its requests
// is an answer to the dial; the later ones become backup paths.
//
// The wait adapts, as TCP's retransmission timeout does: it is at least
// retryLatencyFactor times the smoothed time this node's dials took to
// hear their first answer, so a node (or a machine) under load, whose
// answers come slowly, does not add requests, acks and signature checks
// to the very load that slows them.

// Defaults of the retry settings.
const (
	defaultRetryWait = 2 * time.Second
	defaultRetries   = 2
	// retryLatencyFactor times the smoothed answer time is the least
	// first retry wait.
	retryLatencyFactor = 4
)

// answered feeds the smoothed time to a dial's first answer (an
// exponentially weighted average, weight 1/8) with one more sample.
func (r *Router) answered(took time.Duration) {
	for {
		old := r.setupEWMA.Load()
		next := int64(took)
		if old != 0 {
			next = old + (int64(took)-old)/8
		}
		if r.setupEWMA.CompareAndSwap(old, next) {
			return
		}
	}
}

// firstRetryWait is how long a dial waits for an answer before it asks
// again: Config.RetryWait, or more when answers have been slow.
func (r *Router) firstRetryWait() (time.Duration, int) {
	wait, count := r.cfg.retryPolicy()
	return max(wait, retryLatencyFactor*time.Duration(r.setupEWMA.Load())), count
}

// retryPolicy returns the retry settings with their defaults applied.
func (c *Config) retryPolicy() (wait time.Duration, count int) {
	wait, count = c.RetryWait, c.Retries
	if wait <= 0 {
		wait = defaultRetryWait
	}
	switch {
	case count == 0:
		count = defaultRetries
	case count < 0:
		count = 0 // no retries
	}
	return wait, count
}

// retrySchedule says when a dial that has heard nothing asks again. It is
// pure: its owner passes the clock's time in, so a test drives it with a
// fake clock.
type retrySchedule struct {
	next time.Time     // when the next retry is due (zero: none left)
	gap  time.Duration // the wait before the one after
	left int
}

// newRetrySchedule starts a schedule at start, the time of the first
// request: retries after wait, then after 2×wait more, and so on, count
// times at most.
func newRetrySchedule(start time.Time, wait time.Duration, count int) *retrySchedule {
	s := &retrySchedule{gap: wait, left: count}
	if count > 0 {
		s.next = start.Add(wait)
	}
	return s
}

// due reports whether a retry is due at now; when it is, the schedule
// moves on to the next.
func (s *retrySchedule) due(now time.Time) bool {
	if s.next.IsZero() || now.Before(s.next) {
		return false
	}
	s.left--
	s.gap *= 2
	if s.left > 0 {
		s.next = now.Add(s.gap)
	} else {
		s.next = time.Time{}
	}
	return true
}

// wait returns how long from now until the next retry, and false when
// none is left.
func (s *retrySchedule) wait(now time.Time) (time.Duration, bool) {
	if s.next.IsZero() {
		return 0, false
	}
	return max(s.next.Sub(now), 0), true
}

// retryTimer returns a channel that fires when s's next retry is due (nil
// when none is left), and a func to stop it.
func (r *Router) retryTimer(s *retrySchedule) (<-chan time.Time, func()) {
	w, ok := s.wait(r.now())
	if !ok {
		return nil, func() {}
	}
	t := time.NewTimer(w)
	return t.C, func() { t.Stop() }
}

// retry sends d a fresh flooded request if the schedule says so; a
// request that finds no peer (every link down for now) is not an error:
// the next retry or the dial's timeout decides.
// A closed router ends the dial (ErrClosed).
func (r *Router) retry(d *dialState, s *retrySchedule) error {
	if !s.due(r.now()) {
		return nil
	}
	r.stats.dialRetries.Add(1)
	_, err := r.sendRequest(d, wire.FlagFlood)
	if errors.Is(err, ErrClosed) {
		return err
	}
	if err != nil {
		r.log.Debug("dial retry not sent", "target", addr.FromHash160(d.target).String(), "err", err)
	}
	return nil
}

// A relay holds its dead ends a moment. A request that arrives when the
// relay has no other peer to send it to (the link it would take is still
// coming up, as right after the target's node Connects) is kept for
// deadEndHold, and sent to each link that comes up meanwhile: the
// dialler's first request gets through without a retry.
const (
	deadEndHold = 2 * time.Second
	maxDeadEnds = 256 // held at once; the oldest goes first
)

// deadEnd is a request held by a relay that had nowhere to send it.
type deadEnd struct {
	req   wire.ConnectRequest // with the hop limit it would be forwarded with
	from  *peer.Link
	until time.Time
}

// holdDeadEnd keeps req, which came from l and found no next hop.
func (r *Router) holdDeadEnd(l *peer.Link, req *wire.ConnectRequest) {
	if req.HopLimit == 0 {
		return // it could not go further anyway
	}
	f := *req
	f.HopLimit--
	r.deadMu.Lock()
	defer r.deadMu.Unlock()
	if len(r.deadEnds) >= maxDeadEnds {
		r.deadEnds = r.deadEnds[1:]
	}
	r.deadEnds = append(r.deadEnds, deadEnd{req: f, from: l, until: r.now().Add(deadEndHold)})
}

// releaseDeadEnds sends the held requests that have not expired to l, a
// link that just came up.
func (r *Router) releaseDeadEnds(l *peer.Link) {
	now := r.now()
	r.deadMu.Lock()
	live := r.deadEnds[:0]
	var send []wire.ConnectRequest
	for _, d := range r.deadEnds {
		if now.After(d.until) {
			continue
		}
		live = append(live, d)
		if d.from != l {
			send = append(send, d.req)
		}
	}
	clear(r.deadEnds[len(live):])
	r.deadEnds = live
	r.deadMu.Unlock()
	for i := range send {
		if l.Send(&send[i]) == nil {
			r.stats.requestsForwarded.Add(1)
			r.observe(l).requestsSent.Add(1)
		}
	}
}
