package session

import (
	"errors"
	"fmt"
	"time"
)

// ErrMoveRefused means Move could not move the session now: it is the
// target's end, a failover is under way, or the path was used before.
var ErrMoveRefused = errors.New("session: move refused")

// errMoved is the old path's cause when Move leaves it.
var errMoved = errors.New("session: moved to another path")

// Finder returns the Finder the session was made with (nil at the target).
func (s *Session) Finder() Finder { return s.cfg.Finder }

// Dialer reports whether this is the dialling end.
func (s *Session) Dialer() bool { return s.cfg.Dialer }

// PathInfo describes the path in use (the last one, once the session is
// over); the zero PathInfo before the first.
func (s *Session) PathInfo() PathInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return PathInfo{}
	}
	info := s.cur.info
	info.Hops = append([]Hop(nil), info.Hops...)
	return info
}

// Move moves a dialling session from its working path onto p (a better
// one: a direct link that came up, say) the way a failover does: the old
// path is closed, the dialler resumes on p and both ends resend from
// what the other has, so no byte is lost, duplicated or reordered and
// the application sees at most a pause. If p then fails to resume, the
// session fails over as usual (the Finder finds the next path). Move
// refuses (ErrMoveRefused, p closed) at the target, while the session is
// not on a working path, or for a path it was on before; ErrClosed once
// the session is over.
func (s *Session) Move(p *Path) error {
	return s.ask(event{typ: evMove, p: p}, func() { p.Close() })
}

func (s *Session) moveLocked(now time.Time, p *Path) error {
	err := s.checkMoveLocked(p)
	if err != nil {
		p.Close()
		return err
	}
	old := s.cur
	old.lost = true
	if s.m.pathLost(now, errMoved, true) != verdictFailover {
		p.Close()
		return fmt.Errorf("%w: the session is ending", ErrMoveRefused)
	}
	if s.cfg.Finder != nil {
		s.cfg.Finder.PathDone(old, true) // it did its work
	}
	s.m.attach(now)
	s.usePathLocked(p) // closes old: its circuit is released
	return nil
}

func (s *Session) checkMoveLocked(p *Path) error {
	switch {
	case s.m.ended:
		return ErrClosed
	case !s.cfg.Dialer:
		return fmt.Errorf("%w: only the dialler moves a session", ErrMoveRefused)
	case s.cur == nil || s.cur.lost || s.m.phase != phaseOK || s.findStop != nil:
		return fmt.Errorf("%w: not on a working path", ErrMoveRefused)
	case s.used[pathKey{p.info.ID, p.info.Num}]:
		return fmt.Errorf("%w: path used before", ErrMoveRefused)
	}
	return nil
}
