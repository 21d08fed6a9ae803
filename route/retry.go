package route

import (
	"errors"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// A dial re-asks. A connect request can meet a dead end that nobody
// reports: a relay whose link to the target is still coming up drops it
// (it counts a dead end and says nothing, so that a flood of requests
// for absent targets costs no answers), and an ack can be lost with its
// link. Rather than wait out its whole timeout on a request that can no
// longer be answered, a dial that has heard nothing sends a fresh request
// (a new ID, flooded) after Config.RetryWait, then after twice that, and
// so on, Config.Retries times at most. An answer to any of its requests
// is an answer to the dial; the later ones become backup paths.

// Defaults of the retry settings.
const (
	defaultRetryWait = 500 * time.Millisecond
	defaultRetries   = 3
)

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
