package peer

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// keptPeer is what the Set knows of a peer it keeps linked (Keep), for
// Unlinked and the logs. Guarded by Set.mu.
type keptPeer struct {
	addr     string
	linked   bool
	attempts int       // failed dials since it was last linked
	lastErr  error     // the last of them
	since    time.Time // when it was kept, or last went down
}

// Unlinked is a peer the Set keeps linked (Keep) that has no link now.
type Unlinked struct {
	Multiaddr string    // as given to Keep
	Attempts  int       // failed dials since it was last linked (0: the first is under way)
	LastError error     // why the last dial failed (nil before the first failure)
	Since     time.Time // when it was kept, or when its link last went down
}

// keepLocked starts tracking a kept peer.
func (s *Set) keepLocked(a ma.Multiaddr) *keptPeer {
	k := &keptPeer{addr: a.String(), since: time.Now()}
	s.kept[k.addr] = k
	return k
}

// keptLinked records that a kept peer's link is up.
func (s *Set) keptLinked(k *keptPeer) {
	s.mu.Lock()
	k.linked, k.attempts, k.lastErr = true, 0, nil
	s.mu.Unlock()
}

// keptDown records that a kept peer's link went down.
func (s *Set) keptDown(k *keptPeer) {
	s.mu.Lock()
	k.linked, k.since = false, time.Now()
	s.mu.Unlock()
}

// keptFailed records a failed dial of a kept peer and logs it, at Warn on
// the 1st, 2nd, 4th, 8th... failure in a row (so a peer that stays away
// costs a line per doubling, not one per attempt), at Debug otherwise.
func (s *Set) keptFailed(k *keptPeer, err error, retry time.Duration) {
	s.mu.Lock()
	k.attempts++
	k.lastErr = err
	n := k.attempts
	s.mu.Unlock()
	if bits.OnesCount(uint(n)) == 1 {
		s.log.Warn("peer unreachable", "addr", k.addr, "attempts", n, "err", err, "retry", retry)
		return
	}
	s.log.Debug("peer unreachable", "addr", k.addr, "attempts", n, "err", err, "retry", retry)
}

// Unlinked returns the kept peers (Keep) that have no link now, sorted by
// multiaddr: peers still being dialled for the first time, and peers that
// cannot be reached.
func (s *Set) Unlinked() []Unlinked {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Unlinked
	for _, k := range s.kept {
		if k.linked {
			continue
		}
		out = append(out, Unlinked{Multiaddr: k.addr, Attempts: k.attempts, LastError: k.lastErr, Since: k.since})
	}
	slices.SortFunc(out, func(a, b Unlinked) int { return strings.Compare(a.Multiaddr, b.Multiaddr) })
	return out
}

// announce marks l as usable (its LinkUp handlers have run) and wakes
// WaitLink's callers.
func (s *Set) announce(l *Link) {
	s.mu.Lock()
	l.announced.Store(true)
	s.announced.Notify()
	s.mu.Unlock()
}

// hasAnnouncedLocked reports whether a live link's LinkUp handlers have
// run.
func (s *Set) hasAnnouncedLocked() bool {
	for _, l := range s.links {
		if l.Err() == nil && l.announced.Load() {
			return true
		}
	}
	return false
}

// Expecting reports whether a link may come up without anyone asking
// again: a peer is kept (Keep) or a Connect is in flight. A node that
// expects no link and has none can fail a dial at once.
func (s *Set) Expecting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.kept) > 0 || len(s.dialing) > 0
}

// WaitLink blocks until the Set has a live link whose LinkUp handlers have
// run (so protocols, the router among them, can use it), ctx ends (its
// error, wrapped) or the Set closes (ErrLinkClosed). It waits on an event
// from the link's registration, not by polling.
func (s *Set) WaitLink(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrLinkClosed
		}
		if s.hasAnnouncedLocked() {
			s.mu.Unlock()
			return nil
		}
		wake := s.announced.Wait()
		s.mu.Unlock()
		select {
		case <-wake:
		case <-s.done:
			return ErrLinkClosed
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoLink, ctx.Err())
		}
	}
}

// logLinkUp tells the operator a link came up (Info).
func (s *Set) logLinkUp(l *Link) {
	args := []any{"peer", l.id.String(), "outbound", l.outbound, "remote", l.sc.RemoteAddr().String()}
	if l.maddr != nil {
		args = append(args, "addr", l.maddr.String())
	}
	s.log.Info("link up", args...)
}

// logLinkDown tells the operator a link went down and why (Info; Debug
// while the Set closes, when every link goes down by design).
func (s *Set) logLinkDown(l *Link, err error) {
	if s.isClosed() {
		s.log.Debug("link down", "peer", l.id.String(), "reason", err)
		return
	}
	s.log.Info("link down", "peer", l.id.String(), "reason", err, "up", time.Since(l.since).Round(time.Millisecond))
}
