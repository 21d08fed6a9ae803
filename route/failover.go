package route

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Failover, as the dialler sees it:
//
//	path ok ──(stream error, or silence past StallTimeout)──► failing
//	failing: try each unused backup ack (same connection ID, another path
//	         number), then a fresh request (directed, then flooded); on a
//	         new stream send resume{ID, proof, received offset}
//	resumed{target's received offset} ──► path ok (resend from that offset)
//	FailoverTimeout without success ──► session ends with ErrPathBroken
//
// The target cannot route to the dialler, so it waits: a resume on a new
// stream moves the session there; none within FailoverTimeout (plus a
// grace) ends it. The proof is an HMAC under the session's first secret
// bound to the new path's ID and number, so nobody else can take a
// session over, and a path's keys are never reused.

// ErrStalled is the cause recorded when a path went silent.
var ErrStalled = errors.New("route: path stalled")

// resumeGrace is how much longer than FailoverTimeout a target waits.
const resumeGrace = 5 * time.Second

// scheduleHeartbeat arms the session's heartbeat timer.
func (s *Session) scheduleHeartbeat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isEnded() {
		return
	}
	if s.heartbeat == nil {
		s.heartbeat = time.AfterFunc(s.r.cfg.Heartbeat, s.onHeartbeat)
	} else {
		s.heartbeat.Reset(s.r.cfg.Heartbeat)
	}
}

// onHeartbeat sends a ping on a path that has been quiet, and declares a
// path that has been silent past StallTimeout broken. The reader never
// waits for the application (the window keeps the sender within what
// the receive queue takes), so a silent path means a silent other end.
func (s *Session) onHeartbeat() {
	if s.isEnded() {
		return
	}
	s.mu.Lock()
	p := s.path
	s.mu.Unlock()
	if p != nil && !p.isFailed() {
		now := time.Now()
		if now.Sub(time.Unix(0, p.lastSent.Load())) >= s.r.cfg.Heartbeat {
			s.tx.mu.Lock()
			s.tx.pingDue = true
			s.tx.work.Notify()
			s.tx.mu.Unlock()
		}
		if silent := now.Sub(time.Unix(0, p.lastRecv.Load())); silent > s.r.cfg.StallTimeout {
			s.pathFailed(p, fmt.Errorf("%w: nothing received for %v", ErrStalled, silent.Round(time.Millisecond)))
		}
	}
	s.scheduleHeartbeat()
}

// pathFailed handles the loss of path p.
func (s *Session) pathFailed(p *pathConn, cause error) {
	p.fail()
	s.tx.mu.Lock()
	done := s.tx.peerGone || (s.tx.resetSent && s.isClosed())
	s.tx.mu.Unlock()
	if done {
		s.end(nil) // the exchange was over: the path closing is expected
		return
	}
	s.mu.Lock()
	if s.path != p || s.isEnded() {
		s.mu.Unlock()
		return // an old path, or too late
	}
	if p.first == nil {
		s.mu.Unlock()
		s.end(fmt.Errorf("%w: %w", ErrPathBroken, cause)) // a same-node pipe has no other path
		return
	}
	if !s.dialer {
		if s.resumeBy == nil {
			wait := s.r.cfg.FailoverTimeout + resumeGrace
			s.resumeBy = time.AfterFunc(wait, func() {
				s.end(fmt.Errorf("%w: the dialler did not resume within %v (%w)", ErrPathBroken, wait, cause))
			})
		}
		s.mu.Unlock()
		s.r.log.Debug("path lost; waiting for the dialler to resume", "conn", ident.String(s.id), "err", cause)
		return
	}
	if s.failing {
		s.mu.Unlock()
		return
	}
	s.failing = true
	s.mu.Unlock()
	s.r.mu.Lock()
	s.r.routes.outcome(s.target, p.first, false)
	s.r.mu.Unlock()
	s.r.log.Debug("path lost; failing over", "conn", ident.String(s.id), "err", cause)
	s.r.wg.Add(1)
	go s.failover(cause)
}

// failover finds the session a new path: backups first, then fresh
// requests, until one resumes or FailoverTimeout passes.
func (s *Session) failover(cause error) {
	defer s.r.wg.Done()
	start := time.Now()
	ctx, cancel := context.WithTimeout(s.r.ctx, s.r.cfg.FailoverTimeout)
	defer cancel()
	backoff := 25 * time.Millisecond
	for {
		if s.isEnded() {
			return
		}
		p, err := s.nextPath(ctx)
		if err == nil && s.attach(p) {
			t := time.NewTimer(s.r.cfg.StallTimeout)
			select {
			case <-p.resumed:
				t.Stop()
				s.mu.Lock()
				s.failing = false
				s.mu.Unlock()
				s.r.stats.failovers.Add(1)
				s.r.stats.failoverNanos.Add(int64(time.Since(start)))
				s.r.log.Info("connection moved to a new path", "conn", ident.String(s.id),
					"relays", len(p.hops), "after", time.Since(start).Round(time.Millisecond), "cause", cause)
				return
			case <-p.failed:
			case <-s.ended:
				t.Stop()
				return
			case <-t.C:
				p.fail()
			}
			t.Stop()
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			s.end(fmt.Errorf("%w: no path to %s within %v (first lost: %w)",
				ErrPathBroken, ident.String(s.target), s.r.cfg.FailoverTimeout, cause))
			return
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		case <-s.ended:
			return
		}
		backoff = min(2*backoff, time.Second)
	}
}

// addBackup keeps an ack for later use (dialler).
func (s *Session) addBackup(ev dialEvent) {
	if ev.refuse != nil || ev.overPrice {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.used[circuitKey{ev.id, ev.ack.Path}] {
		s.backups = append(s.backups, ev)
	}
}

// Backups returns how many unused backup paths the dialler holds.
func (s *Session) Backups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.backups)
}

// nextPath opens a stream on the next usable backup, or on a fresh path.
func (s *Session) nextPath(ctx context.Context) (*pathConn, error) {
	for {
		s.mu.Lock()
		if len(s.backups) == 0 {
			s.mu.Unlock()
			break
		}
		ev := s.backups[0]
		s.backups = s.backups[1:]
		used := s.used[circuitKey{ev.id, ev.ack.Path}]
		s.mu.Unlock()
		if used || ev.link.Err() != nil {
			continue
		}
		if p, err := s.openPath(ctx, ev); err == nil {
			return p, nil
		}
	}
	ev, err := s.r.requestPath(ctx, s)
	if err != nil {
		return nil, err
	}
	return s.openPath(ctx, ev)
}

// openPath opens the data stream an ack leads to, as a path to resume on.
func (s *Session) openPath(ctx context.Context, ev dialEvent) (*pathConn, error) {
	if !ev.tKey.IsEqual(s.tKey) {
		return nil, fmt.Errorf("%w: answered by another key", ErrBadAck)
	}
	master := s.master
	if ev.id != s.id {
		master = dialerSecret(ev.id, ev.eph, ev.tKey, ev.tEph)
	}
	stream, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: ev.id, Path: ev.ack.Path})
	if err != nil {
		return nil, err
	}
	p := newPathConn(stream, ev.link, pathHops(ev.ack.Hops), ev.id, ev.ack.Path, master, true)
	p.resume = true
	p.rate = ev.price
	return p, nil
}

// attach makes p the dialler's path; its sender opens with a resume.
func (s *Session) attach(p *pathConn) bool {
	s.mu.Lock()
	if s.isEnded() {
		s.mu.Unlock()
		p.fail()
		return false
	}
	old := s.path
	s.path = p
	s.used[circuitKey{p.id, p.num}] = true
	s.mu.Unlock()
	s.tx.mu.Lock()
	s.tx.path = p
	s.tx.mu.Unlock()
	if old != nil && old != p {
		old.fail()
	}
	s.runPath(p)
	return true
}

// resumeProof binds a resume to the session's secret and the new path.
func (s *Session) resumeProof(pathID [20]byte, num uint32) []byte {
	m := hmac.New(sha256.New, s.master[:])
	m.Write([]byte("foxtrot/resume"))
	m.Write(s.id[:])
	m.Write(pathID[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], num)
	m.Write(n[:])
	return m.Sum(nil)
}

// openResume starts a resumed path: the dialler sends resume and waits
// for the target's answer; the target (which checked the resume before
// adopting the path) answers with what it has received.
func (s *Session) openResume(p *pathConn) bool {
	s.rx.mu.Lock()
	off := s.rx.off
	s.rx.mu.Unlock()
	var b []byte
	if s.dialer {
		body := make([]byte, 0, resumeMin+20*len(p.hops))
		body = append(body, s.id[:]...)
		body = append(body, s.resumeProof(p.id, p.num)...)
		body = binary.BigEndian.AppendUint64(body, off)
		body = append(body, byte(len(p.hops)))
		for _, h := range p.hops {
			body = append(body, h.Node[:]...)
		}
		if !s.confirmed.Load() {
			body = append(body, s.hello...)
		}
		b = p.seal.seal(nil, recResume, body, nil)
	} else {
		b = p.seal.sealU64(nil, recResumed, off)
	}
	if _, err := p.stream.Write(b); err != nil {
		s.pathFailed(p, err)
		return false
	}
	p.lastSent.Store(time.Now().UnixNano())
	select {
	case <-p.resumed:
		return true
	case <-p.failed:
	case <-s.ended:
	}
	return false
}

// onResumed: the target has answered; resend from what it has.
func (s *Session) onResumed(p *pathConn, off uint64) error {
	s.tx.mu.Lock()
	err := s.resendFromLocked(off)
	s.tx.mu.Unlock()
	if err != nil {
		return err
	}
	close(p.resumed)
	return nil
}

// resendFromLocked makes the new path resend everything from off (what
// the other end has), fin and reset included.
func (s *Session) resendFromLocked(off uint64) error {
	tx := &s.tx
	if err := s.ackedLocked(off); err != nil {
		return err
	}
	tx.sent = tx.acked
	tx.finSent = false
	tx.resetSent = false
	tx.ackSent, tx.limitSent = 0, 0 // tell the other end again what we have and may take
	tx.ackProgress = time.Now()
	tx.work.Notify()
	return nil
}

// adopt moves the target's session onto p, which a checked resume opened.
func (s *Session) adopt(p *pathConn, off uint64, hops []Hop) error {
	s.mu.Lock()
	if s.isEnded() {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.used[circuitKey{p.id, p.num}] {
		s.mu.Unlock()
		return fmt.Errorf("%w: path used twice", ErrProtocol)
	}
	old := s.path
	s.path = p
	p.hops = hops
	s.used[circuitKey{p.id, p.num}] = true
	if s.resumeBy != nil {
		s.resumeBy.Stop()
		s.resumeBy = nil
	}
	s.mu.Unlock()
	s.tx.mu.Lock()
	s.tx.path = p
	err := s.resendFromLocked(off)
	s.tx.mu.Unlock()
	if err != nil {
		return err
	}
	p.resume = true
	close(p.resumed)
	if old != nil && old != p {
		old.fail()
	}
	s.runPath(p)
	return nil
}

// parseResume checks a resume body against session s. It returns what
// the dialler has received, the new path's relays, and the hello the
// dialler appended (nil if none).
func (s *Session) parseResume(b []byte, pathID [20]byte, num uint32) (uint64, []Hop, []byte, error) {
	var id [20]byte
	copy(id[:], b)
	if id != s.id || !hmac.Equal(b[20:52], s.resumeProof(pathID, num)) {
		return 0, nil, nil, fmt.Errorf("%w: resume proof does not match", ErrProtocol)
	}
	off := binary.BigEndian.Uint64(b[52:60])
	hops := make([]Hop, b[resumeMin-1])
	for i := range hops {
		copy(hops[i].Node[:], b[resumeMin+20*i:])
	}
	var hello []byte
	if rest := b[resumeMin+20*len(hops):]; len(rest) > 0 {
		hello = rest
	}
	return off, hops, hello, nil
}

// pathHops turns an ack's hop list (target side first) into a path's
// relays (dialler side first).
func pathHops(in []wire.Hop) []Hop {
	out := make([]Hop, len(in))
	for i, h := range in {
		out[len(in)-1-i] = Hop{Node: h.Node(), Price: h.Price}
	}
	return out
}
