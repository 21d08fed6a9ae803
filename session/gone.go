package session

import (
	"fmt"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
)

// A dialler that is gone. When the dialler's process exits without
// closing, the target's path breaks like any other, and the target would
// wait FailoverTimeout plus resumeGrace for a resume that never comes.
// But the node next to the dialler sees its link to the dialler's node go
// down, and says so (package route carries the news along the circuit).
// When the link that went down is the first of the path in use (between
// the dialler's node and the path's first relay, or the direct link to
// the dialler's node), the target waits only a short grace for a resume:
// a dialler that is alive and merely lost that link fails over within it.
// A relay dying breaks other links of the path, which change nothing
// here: the failover keeps its whole FailoverTimeout.

// diallerGone (target) caps the wait for a resume at now+grace.
func (m *machine) diallerGone(now time.Time, grace time.Duration) {
	if m.dialer || m.ended {
		return
	}
	if by := now.Add(grace); m.goneBy.IsZero() || by.Before(m.goneBy) {
		m.goneBy = by
	}
	m.capResume(now)
}

// capResume shortens a pending wait for a resume to goneBy.
func (m *machine) capResume(now time.Time) {
	if m.goneBy.IsZero() || m.resumeBy.IsZero() || !m.goneBy.Before(m.resumeBy) {
		return
	}
	m.resumeBy = m.goneBy
}

// noResumeErr says why a target stopped waiting for a resume.
func (m *machine) noResumeErr() error {
	if !m.goneBy.IsZero() && !m.resumeBy.After(m.goneBy) {
		return fmt.Errorf("%w: the dialler's node is gone (the first link of the path went down) and did not resume (%w)",
			ErrPathBroken, m.failCause)
	}
	wait := m.lim.FailoverTimeout + resumeGrace
	return fmt.Errorf("%w: the dialler did not resume within %v (%w)", ErrPathBroken, wait, m.failCause)
}

// CircuitGone tells a target's session that the relay by lost its
// upstream link of the circuit (id, num). If that circuit is the path in
// use and by is its first relay (the dialler's node's neighbour), the
// dialler's node is probably gone: the session waits at most grace for a
// resume. It reports whether the news concerned this session.
func (s *Session) CircuitGone(id addr.ConnID, num uint32, by addr.NodeID, grace time.Duration) bool {
	return s.diallerGone(grace, func(info PathInfo) bool {
		return info.ID == id && info.Num == num && len(info.Hops) > 0 && info.Hops[0].Node == by
	})
}

// LinkGone tells a session that this node's link to peer went down. If
// the path in use ran over that link with no relay (peer is the dialler's
// node), a target's session waits at most grace for a resume.
func (s *Session) LinkGone(peer addr.NodeID, grace time.Duration) bool {
	return s.diallerGone(grace, func(info PathInfo) bool {
		return !info.Local && len(info.Hops) == 0 && info.Peer == peer
	})
}

func (s *Session) diallerGone(grace time.Duration, match func(PathInfo) bool) bool {
	if s.cfg.Dialer {
		return false
	}
	s.mu.Lock()
	ok := s.cur != nil && match(s.cur.info)
	if ok {
		s.m.diallerGone(time.Now(), grace)
	}
	s.mu.Unlock()
	if ok {
		s.kick()
	}
	return ok
}
