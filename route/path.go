package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/peer"
)

// pathConn is one path a session runs over: a stream through relays (one
// circuit, named by a connection ID and path number) and its record keys.
// A path is used once: its keys are never used for another stream, so
// record nonces never repeat.
type pathConn struct {
	stream io.ReadWriteCloser
	first  *peer.Link // first hop (nil for a same-node connection)
	hops   []Hop      // relays, dialler side first
	id     [20]byte   // the connection ID whose circuit this is
	num    uint32     // the path number the target gave it
	rate   uint64     // dialler: what the path's relays charge per MiB
	seal   *sealer
	open   *opener

	// resume is set on a path that replaces another: the dialler sends a
	// resume record first and sends data only once resumed is closed (the
	// target's answer arrived); the target answers first.
	resume  bool
	resumed chan struct{}

	// The direct-path switch (see record.go), guarded by the session's
	// tx.mu. canDirect: this end may offer (dialler) or accept (target)
	// it on this path; switchDue: a direct or plain record the sender
	// owes; direct: offered or accepted already.
	canDirect bool
	switchDue byte
	direct    bool

	lastRecv atomic.Int64 // UnixNano of the last record received
	lastSent atomic.Int64 // UnixNano of the last record sent

	failOnce sync.Once
	failed   chan struct{}
}

// newPathConn makes a path over stream with the record keys of (master,
// path number); dialler says which direction this end sends.
func newPathConn(stream io.ReadWriteCloser, first *peer.Link, hops []Hop, id [20]byte, num uint32, master [32]byte, dialer bool) *pathConn {
	d2t, t2d := pathKeys(master, num)
	p := &pathConn{stream: stream, first: first, hops: hops, id: id, num: num,
		resumed: make(chan struct{}), failed: make(chan struct{})}
	if dialer {
		p.seal, p.open = newSealer(d2t), newOpener(t2d)
	} else {
		p.seal, p.open = newSealer(t2d), newOpener(d2t)
	}
	now := time.Now().UnixNano()
	p.lastRecv.Store(now)
	p.lastSent.Store(now)
	return p
}

// peerNode is the node at the other end of the path's stream: its first
// hop, or this node for a same-node connection.
func (p *pathConn) peerNode(self [20]byte) [20]byte {
	if p.first == nil {
		return self
	}
	return p.first.ID()
}

// offerDirect arranges for the dialler's direct offer to follow its
// hello, when the path has no relays.
func (p *pathConn) offerDirect(cfg *Config) {
	if !cfg.EncryptDirect && len(p.hops) == 0 {
		p.canDirect, p.switchDue = true, recDirect
	}
}

func (p *pathConn) fail() {
	p.failOnce.Do(func() {
		close(p.failed)
		p.stream.Close()
	})
}

func (p *pathConn) isFailed() bool {
	select {
	case <-p.failed:
		return true
	default:
		return false
	}
}

// readRecord reads and opens the next record.
func (p *pathConn) readRecord() (byte, []byte, *[]byte, error) {
	var hdr [recordHeaderSize]byte
	if _, err := io.ReadFull(p.stream, hdr[:]); err != nil {
		return 0, nil, nil, err
	}
	typ, n, err := p.open.header(hdr)
	if err != nil {
		return 0, nil, nil, err
	}
	buf := bufpool.Get(n)
	if _, err := io.ReadFull(p.stream, *buf); err != nil {
		bufpool.Put(buf)
		return 0, nil, nil, err
	}
	plain, err := p.open.open(hdr, *buf)
	if err != nil {
		bufpool.Put(buf)
		return 0, nil, nil, err
	}
	p.lastRecv.Store(time.Now().UnixNano())
	return typ, plain, buf, nil
}

// readFirst reads a path's first record within timeout (the target's
// hello or resume).
func (p *pathConn) readFirst(timeout time.Duration) (byte, []byte, error) {
	t := time.AfterFunc(timeout, p.fail)
	typ, b, buf, err := p.readRecord()
	if !t.Stop() {
		return 0, nil, fmt.Errorf("%w: nothing within %v", ErrProtocol, timeout)
	}
	if err != nil {
		return 0, nil, err
	}
	out := append([]byte(nil), b...)
	bufpool.Put(buf)
	return typ, out, nil
}

// runPath starts a path's reader and sender.
func (s *Session) runPath(p *pathConn) {
	s.r.wg.Add(2)
	go s.sendLoop(p)
	go s.readLoop(p)
}

// protocolFatal reports whether a path error is the other end's (or a
// relay's) protocol violation or tampering, which ends the session, rather
// than the path breaking, which a failover mends.
func protocolFatal(err error) bool {
	return errors.Is(err, ErrTampered) || errors.Is(err, ErrProtocol)
}

// resetDueLocked reports whether the closing reset may go out: after the
// fin, and once the other end has acknowledged every byte. Until then the
// session lingers (Config.Linger bounds it), so a Close followed at once
// by the node shutting down still delivers what was written: the links
// stay up until the bytes are through every relay.
func (tx *txState) resetDueLocked() bool {
	return tx.reset != 0 && !tx.resetSent && tx.finSent && tx.acked == tx.written
}

// hasWorkLocked reports whether the sender of path p has something to send.
func (tx *txState) hasWorkLocked(p *pathConn) bool {
	if tx.peerGone || tx.err != nil || tx.path != p {
		return false
	}
	return tx.helloPending || p.switchDue != 0 || tx.ackDue > tx.ackSent || tx.pingDue || tx.sent < tx.written ||
		(tx.finQueued && !tx.finSent) || tx.resetDueLocked()
}

// sendLoop seals and writes records on path p until it fails, stops being
// the session's path, or the session ends.
func (s *Session) sendLoop(p *pathConn) {
	defer s.r.wg.Done()
	tx := &s.tx
	defer func() {
		// The sender reads the queue outside the lock, so it is the one to
		// release it, once the session is over.
		tx.mu.Lock()
		if s.isEnded() {
			tx.q.reset()
		}
		tx.mu.Unlock()
	}()
	if p.resume && !s.openResume(p) {
		return
	}
	var chunks [][]byte
	for {
		tx.mu.Lock()
		for !tx.hasWorkLocked(p) {
			if tx.err != nil || tx.peerGone || tx.path != p {
				tx.mu.Unlock()
				return
			}
			wake := tx.work.Wait()
			tx.mu.Unlock()
			select {
			case <-wake:
			case <-p.failed:
				return
			case <-s.ended:
				return
			}
			tx.mu.Lock()
		}
		hello := tx.helloPending
		tx.helloPending = false
		sw := p.switchDue
		p.switchDue = 0
		var ack uint64
		sendAck := tx.ackDue > tx.ackSent
		if sendAck {
			ack = tx.ackDue
			tx.ackSent = tx.ackDue
		}
		ping := tx.pingDue
		tx.pingDue = false
		// Data: slices of the send queue, sealed outside the lock (see
		// chunkQueue for why that is safe).
		chunks = chunks[:0]
		dataOff := tx.sent
		total := 0
		for tx.sent < tx.written && total < sendBatch {
			c := tx.q.slice(int(tx.sent-tx.acked), int(tx.written-tx.sent))
			chunks = append(chunks, c)
			tx.sent += uint64(len(c))
			total += len(c)
		}
		var fin bool
		var finOff uint64
		if tx.finQueued && !tx.finSent && tx.sent == tx.written {
			fin, finOff = true, tx.written
			tx.finSent = true
		}
		var reset byte
		if tx.resetDueLocked() {
			reset = tx.reset
			tx.resetSent = true
		}
		tx.mu.Unlock()

		size := len(chunks)*(recordHeaderSize+8+recordTagSize) + total + 5*64 + len(s.hello)
		out := bufpool.Get(size)
		b := (*out)[:0]
		if hello {
			b = p.seal.seal(b, recHello, s.hello, nil)
		}
		switch sw {
		case recDirect:
			var body [40]byte
			self := s.r.self
			peerNode := p.peerNode(self)
			copy(body[:20], self[:])
			copy(body[20:], peerNode[:])
			b = p.seal.seal(b, recDirect, body[:], nil)
			if !s.dialer {
				p.seal.plain() // the target's acceptance: plaintext after it
			}
		case recPlain:
			b = p.seal.seal(b, recPlain, nil, nil)
			p.seal.plain()
		}
		if sendAck {
			b = p.seal.sealU64(b, recAck, ack)
		}
		var off [8]byte
		for _, c := range chunks {
			binary.BigEndian.PutUint64(off[:], dataOff)
			b = p.seal.seal(b, recData, off[:], c)
			dataOff += uint64(len(c))
		}
		if fin {
			b = p.seal.sealU64(b, recFin, finOff)
		}
		if reset != 0 {
			b = p.seal.seal(b, recReset, []byte{reset}, nil)
		}
		if ping && len(b) == 0 {
			b = p.seal.seal(b, recPing, nil, nil)
		}
		_, err := p.stream.Write(b)
		bufpool.Put(out)
		if err != nil {
			s.pathFailed(p, err)
			return
		}
		s.meter(p, len(b))
		p.lastSent.Store(time.Now().UnixNano())
		if reset != 0 {
			// We said goodbye: nothing more will be sent or read.
			s.end(nil)
			return
		}
	}
}

// meter charges the dialler for n bytes of its own connection carried
// over a priced path: every byte of every record, both directions, which
// are exactly the bytes its first relay splices and meters.
func (s *Session) meter(p *pathConn, n int) {
	if p.rate > 0 && n > 0 && s.dialer && s.r.bill != nil && p.first != nil {
		s.r.bill.Origin(p.first.ID(), p.rate).Add(int64(n))
	}
}

// readLoop reads, opens and handles records from path p.
func (s *Session) readLoop(p *pathConn) {
	defer s.r.wg.Done()
	for {
		typ, plain, buf, err := p.readRecord()
		if err == nil {
			s.meter(p, recordHeaderSize+len(*buf))
			s.confirmed.Store(true)
			err = s.handleRecord(p, typ, plain, buf)
		}
		if err != nil {
			switch {
			case errors.Is(err, errStop):
			case protocolFatal(err):
				s.end(err)
			default:
				s.pathFailed(p, err)
			}
			return
		}
	}
}

// errStop tells the reader to stop quietly.
var errStop = errors.New("route: stop reading")

// handleRecord acts on one opened record. It takes ownership of buf.
func (s *Session) handleRecord(p *pathConn, typ byte, b []byte, buf *[]byte) error {
	if typ != recData {
		defer bufpool.Put(buf)
	}
	switch typ {
	case recData:
		return s.onData(binary.BigEndian.Uint64(b), b[8:], buf)
	case recAck:
		return s.onAck(binary.BigEndian.Uint64(b))
	case recFin:
		return s.onFin(binary.BigEndian.Uint64(b))
	case recReset:
		return s.onReset(b[0])
	case recResumed:
		if !s.dialer || !p.resume {
			return fmt.Errorf("%w: unexpected resumed record", ErrProtocol)
		}
		return s.onResumed(p, binary.BigEndian.Uint64(b))
	case recPing:
		return nil // lastRecv was updated
	case recDirect:
		return s.onDirect(p, b)
	case recPlain:
		if s.dialer || !p.isDirect(&s.tx) || p.open.aead == nil {
			return fmt.Errorf("%w: unexpected plain record", ErrProtocol)
		}
		p.open.plain()
		s.r.stats.directPaths.Add(1)
		return nil
	}
	return fmt.Errorf("%w: unexpected record type %d", ErrProtocol, typ)
}

// onDirect handles the other end's direct record: the dialler's offer at
// the target, the target's acceptance at the dialler. Each names the
// sender's node and the node its stream goes to first; on a direct path
// they are exactly our link's peer and this node. The reader owns p.open.
func (s *Session) onDirect(p *pathConn, b []byte) error {
	var from, to [20]byte
	copy(from[:], b[:20])
	copy(to[:], b[20:])
	match := from == p.peerNode(s.r.self) && to == s.r.self
	tx := &s.tx
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if s.dialer {
		if !p.canDirect || p.direct || !match {
			return fmt.Errorf("%w: direct answer from %s to %s on a path to %s", ErrProtocol,
				ident.String(from), ident.String(to), ident.String(p.peerNode(s.r.self)))
		}
		p.direct = true
		p.open.plain()
		s.r.stats.directPaths.Add(1)
		p.switchDue = recPlain
		tx.work.Notify()
		return nil
	}
	// The target accepts an offer once, on the path its hello came over,
	// when it names what it sees; otherwise the path simply stays sealed.
	if !p.canDirect || p.direct || !match {
		return nil
	}
	p.direct = true
	p.switchDue = recDirect
	tx.work.Notify()
	return nil
}

func (p *pathConn) isDirect(tx *txState) bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return p.direct
}

func (s *Session) onData(off uint64, data []byte, buf *[]byte) error {
	rx := &s.rx
	rx.mu.Lock()
	// After a failover the other end resends from the offset we reported,
	// and the old path may have delivered some of it since: skip what we
	// already have.
	if end := off + uint64(len(data)); end <= rx.off {
		rx.mu.Unlock()
		bufpool.Put(buf)
		return nil
	}
	if off < rx.off {
		data = data[rx.off-off:]
		off = rx.off
	}
	if off != rx.off || rx.fin {
		rx.mu.Unlock()
		bufpool.Put(buf)
		return fmt.Errorf("%w: data at offset %d, expected %d", ErrProtocol, off, rx.off)
	}
	for rx.qBytes > 0 && rx.qBytes+len(data) > s.r.cfg.RecvBuffer {
		if rx.err != nil || s.isClosed() {
			rx.mu.Unlock()
			bufpool.Put(buf)
			return errStop
		}
		wake := rx.room.Wait()
		rx.mu.Unlock()
		select {
		case <-wake:
		case <-s.ended:
		case <-s.closed:
		}
		rx.mu.Lock()
	}
	if s.isClosed() {
		bufpool.Put(buf) // nobody will read it; it still counts as received
	} else {
		rx.q = append(rx.q, rxChunk{buf: buf, data: data})
		rx.qBytes += len(data)
	}
	rx.off += uint64(len(data))
	rx.data.Notify()
	rx.unacked += len(data)
	ackNow := rx.unacked >= ackEvery
	if ackNow {
		rx.unacked = 0
	} else if rx.ackTimer == nil {
		rx.ackTimer = time.AfterFunc(ackDelay, s.delayedAck)
	}
	off = rx.off
	rx.mu.Unlock()
	if ackNow {
		s.requestAck(off)
	}
	return nil
}

// delayedAck acknowledges what arrived since the last ack.
func (s *Session) delayedAck() {
	s.rx.mu.Lock()
	s.rx.ackTimer = nil
	s.rx.unacked = 0
	off := s.rx.off
	s.rx.mu.Unlock()
	s.requestAck(off)
}

func (s *Session) requestAck(off uint64) {
	s.tx.mu.Lock()
	if off > s.tx.ackDue {
		s.tx.ackDue = off
		s.tx.work.Notify()
	}
	s.tx.mu.Unlock()
}

// onAck drops acknowledged bytes from the send queue.
func (s *Session) onAck(off uint64) error {
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	return s.ackedLocked(off)
}

func (s *Session) ackedLocked(off uint64) error {
	tx := &s.tx
	if off > tx.written {
		return fmt.Errorf("%w: ack of %d, only %d written", ErrProtocol, off, tx.written)
	}
	if off > tx.acked {
		tx.q.drop(int(off - tx.acked))
		tx.acked = off
		tx.ackProgress = time.Now()
		tx.space.Notify()
		if tx.resetDueLocked() {
			tx.work.Notify()
		}
	}
	if tx.sent < tx.acked {
		tx.sent = tx.acked
	}
	return nil
}

func (s *Session) onFin(off uint64) error {
	rx := &s.rx
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if off != rx.off {
		return fmt.Errorf("%w: fin at %d, received %d", ErrProtocol, off, rx.off)
	}
	rx.fin = true // a fin resent after a failover changes nothing
	rx.data.Notify()
	return nil
}

// onReset: the other end is gone. Reads end (io.EOF if it had sent a fin,
// ErrReset otherwise); writes fail with ErrReset.
func (s *Session) onReset(code byte) error {
	var err error = ErrReset
	if code == resetAbort {
		err = fmt.Errorf("%w: the other end failed", ErrReset)
	}
	s.rx.mu.Lock()
	if s.rx.err == nil && !s.rx.fin {
		s.rx.err = err
	}
	s.rx.data.Notify()
	s.rx.mu.Unlock()
	s.tx.mu.Lock()
	s.tx.peerGone = true
	if s.tx.err == nil {
		s.tx.err = err
	}
	s.tx.space.Notify()
	s.tx.work.Notify()
	s.tx.mu.Unlock()
	if s.isClosed() {
		s.end(nil)
	}
	return errStop
}
