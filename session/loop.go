package session

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

const (
	// sendBatch bounds the data bytes sealed into one stream write.
	sendBatch = 4 * maxRecordData
	// maxInflight is how many sealed batches a path's writer may hold.
	maxInflight = 2
	// maxEvents is how many events the loop takes before it sends again.
	maxEvents = 32
)

type eventType uint8

const (
	evRecord    eventType = iota // a record opened by p's reader
	evSwitch                     // p's reader saw a direct record: send sw
	evPathError                  // p's stream failed (reader or opener)
	evWritten                    // p's writer finished a batch (err: how)
	evFound                      // the Finder's answer (p or err)
	evAdopt                      // the target moves onto p (resume, reply)
	evRekey                      // p's reader rekeyed: send rekey, then switch (rekey.go)
	evRekeyDone                  // the target: the dialler's rekey marker arrived
	evMove                       // the dialler moves onto p (Move, reply)
)

type event struct {
	typ  eventType
	p    *Path
	rec  byte
	body []byte
	buf  *[]byte
	sw   byte
	err  error

	resume *Resume
	reply  chan error

	rekey  *rekeyOut
	master [32]byte // master'' (evRekey)
}

// post hands the loop an event; false if the session is over.
func (s *Session) post(ev event) bool {
	select {
	case s.events <- ev:
		return true
	case <-s.done:
		return false
	}
}

// run is the session's loop: it owns the machine's timing and the paths'
// sealers, takes what the readers, writers and the Finder report, and
// feeds the writers.
func (s *Session) run() {
	defer s.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := time.Now()
		if cause := s.m.tick(now); cause != nil {
			s.lostLocked(now, s.cur, cause)
		}
		if s.m.findDue(now) {
			s.findLocked(now)
		}
		if s.m.ended {
			s.finishLocked()
			return
		}
		b, p := s.takeLocked(now)
		dl := s.m.deadline()
		s.notifyLocked()
		s.mu.Unlock()
		if p != nil {
			s.sealAndSend(p, b)
			continue // there may be more to send
		}

		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var fire <-chan time.Time
		if !dl.IsZero() {
			timer.Reset(max(time.Until(dl), 0))
			fire = timer.C
		}
		select {
		case <-s.wake:
		case <-fire:
		case ev := <-s.events:
			s.mu.Lock()
			s.handleLocked(ev)
			for range maxEvents {
				select {
				case ev := <-s.events:
					s.handleLocked(ev)
					continue
				default:
				}
				break
			}
			s.mu.Unlock()
		}
	}
}

// outbound is a batch the loop took under the lock, sealed outside it.
type outbound struct {
	batch
	sw        byte      // a direct or plain record, after the hello
	ticket    []byte    // a ticket record (the target's)
	offer     bool      // the dialler's rekey offer (rekey.go)
	rekey     *rekeyOut // a rekey answer or marker, then the sealer switches
	master    [32]byte  // what the dialler proves a resume with
	confirmed bool      // the dialler has heard from the target: no hello in a resume
}

// takeLocked takes what the path in use should send now, if its writer
// has room.
func (s *Session) takeLocked(now time.Time) (outbound, *Path) {
	p := s.cur
	if p == nil || p.isFailed() || p.inflight >= maxInflight || s.m.ended {
		return outbound{}, nil
	}
	o := outbound{batch: s.m.next(now, sendBatch)}
	if s.m.phase == phaseOK {
		o.sw, p.switchDue = p.switchDue, 0
		o.rekey, p.rekeyDue = p.rekeyDue, nil
		o.ticket, s.ticket = s.ticket, nil
		if s.cfg.Dialer && s.cfg.Rekey != nil && !s.rk.offered && !o.resume && !p.info.Direct && !p.info.Local && p.info.ID == s.cfg.ID {
			o.offer, s.rk.offered = true, true
		}
	}
	o.master = s.cfg.Master
	if s.rk.known && s.rk.master != ([32]byte{}) {
		o.master = s.rk.master
	}
	if o.empty() && o.sw == 0 && o.ticket == nil && o.rekey == nil && !o.offer {
		return outbound{}, nil
	}
	o.confirmed = s.m.confirmed
	p.inflight++
	return o, p
}

// sealAndSend seals a batch onto p's writer. Only the loop runs it, so
// the data slices stay valid: only the loop drops acknowledged bytes.
func (s *Session) sealAndSend(p *Path, o outbound) {
	size := len(o.data)*(recordHeaderSize+8+recordTagSize) + o.dataLen + 8*64 + len(s.cfg.Hello) + resumeMin + 20*len(p.info.Hops) + len(o.ticket) + 2*(recordHeaderSize+33+recordTagSize)
	out := bufpool.Get(size)
	b := (*out)[:0]
	if o.resume {
		if s.cfg.Dialer {
			r := &Resume{ID: s.cfg.ID, Proof: resumeProof(o.master, s.cfg.ID, p.info.ID, p.info.Num),
				Offset: o.resumeOff, Hops: p.info.Hops}
			if !o.confirmed {
				r.Hello = s.cfg.Hello
			}
			b = p.seal.seal(b, recResume, resumeBody(r), nil)
		} else {
			b = p.seal.sealU64(b, recResumed, o.resumeOff)
		}
	}
	if o.hello {
		b = p.seal.seal(b, recHello, s.cfg.Hello, nil)
	}
	if o.offer {
		// Right after the hello, before any data: the target handles it
		// before the data reaches its application, so its answer and the
		// ticket after it go out ahead of anything the application sends.
		p.rk.Store(s.cfg.Rekey)
		b = p.seal.seal(b, recRekey, s.cfg.Rekey.pub[:], nil)
	}
	if o.rekey != nil {
		b = p.seal.seal(b, recRekey, o.rekey.body, nil)
		p.seal = newSealer(o.rekey.key)
	}
	if o.ticket != nil {
		// After a rekey (sealed under its keys), before a direct switch
		// (so it is sealed on every path).
		b = p.seal.seal(b, recTicket, o.ticket, nil)
	}
	switch o.sw {
	case recDirect:
		var body [40]byte
		copy(body[:20], s.cfg.Self[:])
		copy(body[20:], p.info.Peer[:])
		b = p.seal.seal(b, recDirect, body[:], nil)
		if !s.cfg.Dialer {
			p.seal.plain() // the target's acceptance: plaintext after it
		}
	case recPlain:
		b = p.seal.seal(b, recPlain, nil, nil)
		p.seal.plain()
	}
	if o.ack {
		b = p.seal.sealAck(b, o.ackOff, o.limit)
	}
	var off [8]byte
	dataOff := o.dataOff
	for _, c := range o.data {
		binary.BigEndian.PutUint64(off[:], dataOff)
		b = p.seal.seal(b, recData, off[:], c)
		dataOff += uint64(len(c))
	}
	if o.fin {
		b = p.seal.sealU64(b, recFin, o.finOff)
	}
	if o.reset != 0 {
		b = p.seal.seal(b, recReset, []byte{o.reset}, nil)
	}
	if o.ping {
		b = p.seal.seal(b, recPing, nil, nil)
	}
	*out = b
	p.out <- out // never blocks: inflight < maxInflight = cap(p.out)
}

// handleLocked acts on one event.
func (s *Session) handleLocked(ev event) {
	now := time.Now()
	p := ev.p
	switch ev.typ {
	case evRecord:
		if p != s.cur || p.isFailed() || s.m.ended {
			bufpool.Put(ev.buf)
			return
		}
		s.m.received(now)
		if err := s.recordLocked(now, p, ev.rec, ev.body, ev.buf); err != nil {
			s.lostLocked(now, p, err)
		}
	case evSwitch:
		if p == s.cur && ev.sw != 0 {
			p.switchDue = ev.sw
		}
		if p == s.cur {
			s.m.received(now)
		}
	case evPathError:
		s.lostLocked(now, p, ev.err)
	case evWritten:
		p.inflight--
		if ev.err != nil {
			s.lostLocked(now, p, ev.err)
			return
		}
		if p == s.cur && s.m.resetSent && p.inflight == 0 {
			s.m.end(nil) // we said goodbye: nothing more will be sent or read
		}
	case evAdopt:
		ev.reply <- s.adoptLocked(now, p, ev.resume)
	case evRekey:
		if s.m.ended {
			return
		}
		s.rk.known, s.rk.master = true, ev.master
		p.rekeyDue = ev.rekey
		if ev.body != nil {
			s.ticket = ev.body
		}
	case evRekeyDone:
		s.rk.done = true
	case evMove:
		ev.reply <- s.moveLocked(now, p)
	case evFound:
		s.findStop = nil
		if ev.err != nil {
			s.m.findFailed(now, ev.err)
			return
		}
		if s.m.ended {
			p.Close()
			return
		}
		s.m.attach(now)
		s.usePathLocked(p)
	}
}

// recordLocked acts on one record from the path in use. It takes
// ownership of buf.
func (s *Session) recordLocked(now time.Time, p *Path, typ byte, b []byte, buf *[]byte) error {
	if typ == recData {
		return s.m.onData(now, binary.BigEndian.Uint64(b), b[8:], buf)
	}
	defer bufpool.Put(buf)
	switch typ {
	case recAck:
		return s.m.onAck(binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]))
	case recFin:
		return s.m.onFin(binary.BigEndian.Uint64(b))
	case recReset:
		s.m.onReset(b[0])
		return nil
	case recResumed:
		took, err := s.m.onResumed(now, binary.BigEndian.Uint64(b))
		if err != nil {
			return err
		}
		s.cfg.Stats.Failovers.Add(1)
		s.cfg.Stats.FailoverNanos.Add(int64(took))
		s.log.Info("connection moved to a new path", "conn", s.cfg.ID.String(),
			"relays", len(p.info.Hops), "after", took.Round(time.Millisecond))
		return nil
	case recPing:
		return nil
	case recTicket:
		if !s.cfg.Dialer {
			return fmt.Errorf("%w: a ticket record from the dialler", ErrProtocol)
		}
		if s.cfg.OnTicket != nil {
			s.cfg.OnTicket(append([]byte(nil), b...))
		}
		return nil
	}
	return fmt.Errorf("%w: unexpected record type %d", ErrProtocol, typ)
}

// protocolFatal reports whether a path error is the other end's (or a
// relay's) protocol violation or tampering, which ends the session, rather
// than the path breaking, which a failover mends.
func protocolFatal(err error) bool {
	return errors.Is(err, ErrTampered) || errors.Is(err, ErrProtocol)
}

// lostLocked handles the failure of path p.
func (s *Session) lostLocked(now time.Time, p *Path, cause error) {
	if p == nil || p.lost {
		return // its reader and writer may both report it
	}
	p.lost = true
	p.Close()
	if p != s.cur || s.m.ended {
		return // an old path, or too late
	}
	if protocolFatal(cause) {
		s.m.end(cause)
		return
	}
	switch s.m.pathLost(now, cause, !p.info.Local) {
	case verdictFailover:
		s.log.Debug("path lost; failing over", "conn", s.cfg.ID.String(), "err", cause)
		if s.cfg.Finder != nil {
			s.cfg.Finder.PathDone(p, false)
		}
	case verdictWait:
		s.log.Debug("path lost; waiting for the dialler to resume", "conn", s.cfg.ID.String(), "err", cause)
	}
}

// findLocked asks the Finder for a path, on a goroutine of its own; the
// answer comes back as an evFound.
func (s *Session) findLocked(now time.Time) {
	if s.cfg.Finder == nil {
		s.m.findFailed(now, fmt.Errorf("%w: nobody to find a path", ErrClosed))
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), s.m.failingSince.Add(s.cfg.FailoverTimeout))
	s.findStop = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		p, err := s.cfg.Finder.NewPath(ctx)
		if err == nil && p == nil {
			err = fmt.Errorf("%w: the finder gave no path", ErrPathBroken)
		}
		if !s.post(event{typ: evFound, p: p, err: err}) && p != nil {
			p.Close()
		}
	}()
}

// Adopt moves the target's session onto p, on which the dialler's resume
// r arrived: it checks the proof, answers resumed and resends from what
// the dialler has.
func (s *Session) Adopt(p *Path, r *Resume) error {
	if r.ID != s.cfg.ID {
		return fmt.Errorf("%w: resume of another connection", ErrProtocol)
	}
	var err error
	for _, m := range s.resumeMasters() {
		if err = r.Check(m, p); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	// The loop does it: resending drops acknowledged bytes from the send
	// queue, which only the loop may touch.
	return s.ask(event{typ: evAdopt, p: p, resume: r}, nil)
}

func (s *Session) adoptLocked(now time.Time, p *Path, r *Resume) error {
	if s.m.ended {
		return ErrClosed
	}
	if s.used[pathKey{p.info.ID, p.info.Num}] {
		return fmt.Errorf("%w: path used twice", ErrProtocol)
	}
	if err := s.m.adopt(now, r.Offset); err != nil {
		return err
	}
	p.info.Hops = r.Hops
	s.usePathLocked(p)
	return nil
}

// finishLocked ends the loop: every path closes, a running Finder call
// is cancelled, the buffers go back to the pool, and the creator hears of
// it.
func (s *Session) finishLocked() {
	paths := s.paths
	s.paths = nil
	cur, err := s.cur, s.m.err
	s.m.q.reset()
	if s.findStop != nil {
		s.findStop()
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, p := range paths {
		p.Close()
	}
	close(s.done)
	if s.cfg.Finder != nil && cur != nil && err == nil {
		s.cfg.Finder.PathDone(cur, true)
	}
	if s.cfg.OnEnd != nil {
		s.cfg.OnEnd(s)
	}
}

// ask posts ev to the loop with a reply channel and waits for its answer.
// If the session ends first it returns ErrClosed, after calling unused
// (if not nil) for what ev carried and the loop never took.
func (s *Session) ask(ev event, unused func()) error {
	reply := make(chan error, 1)
	ev.reply = reply
	closed := func() error {
		if unused != nil {
			unused()
		}
		return ErrClosed
	}
	if !s.post(ev) {
		return closed()
	}
	select {
	case err := <-reply:
		return err
	case <-s.done:
		select {
		case err := <-reply:
			return err
		default:
			return closed()
		}
	}
}
