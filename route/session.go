package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/deadline"
	"github.com/foxtrotnet/foxtrot/internal/signal"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// Session is one end of an end-to-end connection: an encrypted, reliable
// byte stream carried by a path of relays. It keeps the net.Conn contract
// (the root package's Conn wraps it): deadlines, concurrent Read and
// Write, Close unblocking both, io.EOF after the other end's CloseWrite or
// Close.
//
// Writes are copied into a send buffer of Config.SendBuffer bytes (as a
// socket buffer) and sealed into records by the session's sender; every
// byte stays buffered until the other end acknowledges it, so that issue-4
// failover can resend it on another path. Received records are queued
// (Config.RecvBuffer bytes at most) until read; a full queue stops the
// reader, and the per-hop stream windows push back to the sender.
//
// Each path has two goroutines: a reader and a sender.
//
//	Write ──► send buffer ──► sender ──► path stream ──►
//	Read  ◄── recv queue  ◄── reader ◄── path stream ◄──
//
// Close is graceful: it returns at once, and the sender flushes what was
// written, then a fin and a reset(closed) record, within Config.Linger.
type Session struct {
	r      *Router
	id     [20]byte
	dialer bool
	local  *btcec.PublicKey // our key: the dialler's identity or the listened key
	master [32]byte
	helloH [32]byte // what the dialler's hello signs (see helloHash)
	hello  []byte   // dialler: the hello body, sent as the first record

	mu     sync.Mutex
	remote *btcec.PublicKey // the target's key, or the dialler's once its hello arrived
	path   *pathConn
	err    error // why the session ended; nil for an orderly end

	wmu    sync.Mutex // serialises Write calls, so each Write is contiguous
	tx     txState
	rx     rxState
	rd, wd deadline.Deadline

	closeOnce sync.Once
	closed    chan struct{} // Close was called
	endOnce   sync.Once
	ended     chan struct{} // the session is over (orderly or not)
	helloed   chan struct{} // target: the dialler's hello verified
	linger    *time.Timer
}

// pathConn is one path a session runs over: its stream and record keys.
type pathConn struct {
	stream io.ReadWriteCloser
	first  *peer.Link // first hop (nil for a same-node connection)
	hops   []wire.Hop // relays, dialler side first
	epoch  uint32
	seal   *sealer
	open   *opener

	failOnce sync.Once
	failed   chan struct{}
}

type txState struct {
	mu           sync.Mutex
	q            chunkQueue // bytes [acked, written): unacknowledged, some not sent yet
	acked        uint64
	sent         uint64 // sealed onto the current path
	written      uint64
	helloPending bool
	ackDue       uint64 // offset the other end should be told we have
	ackSent      uint64
	finQueued    bool
	finSent      bool
	reset        byte // reset code to send after the fin, 0 for none
	resetSent    bool
	peerGone     bool  // the other end sent a reset: nothing more to send
	err          error // writes fail with it
	work         signal.Signal
	space        signal.Signal
}

type rxChunk struct {
	buf  *[]byte // pooled record buffer holding data
	data []byte
}

type rxState struct {
	mu       sync.Mutex
	q        []rxChunk
	qBytes   int
	off      uint64 // next offset expected
	fin      bool
	err      error // reads fail with it once the queue is drained
	unacked  int   // bytes received since the last ack was requested
	ackTimer *time.Timer
	data     signal.Signal
	room     signal.Signal
}

// Ack policy: ask for an ack after ackEvery bytes, or ackDelay after the
// first unacknowledged byte arrived.
const (
	ackEvery = 256 << 10
	ackDelay = 20 * time.Millisecond
	// sendBatch bounds the bytes sealed per stream write.
	sendBatch = 4 * maxRecordData
)

func newSession(r *Router, id [20]byte, dialer bool, local, remote *btcec.PublicKey, master, helloH [32]byte) *Session {
	s := &Session{
		r: r, id: id, dialer: dialer, local: local, remote: remote, master: master, helloH: helloH,
		closed: make(chan struct{}), ended: make(chan struct{}), helloed: make(chan struct{}),
	}
	if dialer {
		close(s.helloed) // the dialler sends the hello; it receives none
	}
	return s
}

// newPath makes the record keys of a path and wraps its stream.
func (s *Session) newPath(stream io.ReadWriteCloser, first *peer.Link, hops []wire.Hop, epoch uint32) *pathConn {
	d2t, t2d := pathKeys(s.master, epoch)
	p := &pathConn{stream: stream, first: first, hops: hops, epoch: epoch, failed: make(chan struct{})}
	if s.dialer {
		p.seal, p.open = newSealer(d2t), newOpener(t2d)
	} else {
		p.seal, p.open = newSealer(t2d), newOpener(d2t)
	}
	return p
}

// start runs the session on its first path.
func (s *Session) start(p *pathConn) {
	s.mu.Lock()
	s.path = p
	s.mu.Unlock()
	if s.dialer {
		s.tx.mu.Lock()
		s.tx.helloPending = true
		s.tx.mu.Unlock()
	}
	s.r.wg.Add(2)
	go s.sendLoop(p)
	go s.readLoop(p)
}

// ID returns the connection ID.
func (s *Session) ID() [20]byte { return s.id }

// LocalKey returns this end's key on the connection.
func (s *Session) LocalKey() *btcec.PublicKey { return s.local }

// RemoteKey returns the other end's key (the target's, or the dialler's
// identity as its hello proved).
func (s *Session) RemoteKey() *btcec.PublicKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// Path returns the identities (HASH160) of the relays on the current
// path, dialler side first. A direct or same-node connection has none.
func (s *Session) Path() [][20]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return nil
	}
	out := make([][20]byte, len(s.path.hops))
	for i, h := range s.path.hops {
		out[i] = h.Node
	}
	return out
}

// Hops returns the relays of the current path with their prices.
func (s *Session) Hops() []wire.Hop {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == nil {
		return nil
	}
	return append([]wire.Hop(nil), s.path.hops...)
}

// Done is closed when the session is over.
func (s *Session) Done() <-chan struct{} { return s.ended }

// Err returns why the session ended (nil while it runs or after an
// orderly close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *Session) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Read reads application bytes.
func (s *Session) Read(p []byte) (int, error) {
	rx := &s.rx
	for {
		if s.isClosed() {
			return 0, ErrClosed
		}
		rx.mu.Lock()
		if len(rx.q) > 0 {
			n := 0
			for n < len(p) && len(rx.q) > 0 {
				c := &rx.q[0]
				m := copy(p[n:], c.data)
				n += m
				c.data = c.data[m:]
				if len(c.data) == 0 {
					bufpool.Put(c.buf)
					rx.q[0] = rxChunk{}
					rx.q = rx.q[1:]
				}
			}
			if len(rx.q) == 0 {
				rx.q = nil
			}
			rx.qBytes -= n
			rx.room.Notify()
			rx.mu.Unlock()
			return n, nil
		}
		if rx.fin {
			rx.mu.Unlock()
			return 0, io.EOF
		}
		if rx.err != nil {
			err := rx.err
			rx.mu.Unlock()
			return 0, err
		}
		if len(p) == 0 {
			rx.mu.Unlock()
			return 0, nil
		}
		if s.rd.Exceeded() {
			rx.mu.Unlock()
			return 0, deadline.ErrExceeded
		}
		wake := rx.data.Wait()
		rx.mu.Unlock()
		select {
		case <-wake:
		case <-s.rd.Wait():
		case <-s.closed:
		}
	}
}

// Write buffers p for sending; it blocks while the send buffer is full.
func (s *Session) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	tx := &s.tx
	n := 0
	for {
		if s.isClosed() {
			return n, ErrClosed
		}
		tx.mu.Lock()
		switch {
		case tx.finQueued:
			tx.mu.Unlock()
			return n, fmt.Errorf("%w: write after CloseWrite", ErrClosed)
		case tx.err != nil:
			err := tx.err
			tx.mu.Unlock()
			return n, err
		case n == len(p):
			tx.mu.Unlock()
			return n, nil
		case s.wd.Exceeded():
			tx.mu.Unlock()
			return n, deadline.ErrExceeded
		}
		if m := tx.q.append(p[n:], s.r.cfg.SendBuffer); m > 0 {
			tx.written += uint64(m)
			n += m
			tx.work.Notify()
			tx.mu.Unlock()
			continue
		}
		wake := tx.space.Wait()
		tx.mu.Unlock()
		select {
		case <-wake:
		case <-s.wd.Wait():
		case <-s.closed:
		}
	}
}

// CloseWrite ends this direction: the other end reads io.EOF after every
// byte written so far.
func (s *Session) CloseWrite() error {
	if s.isClosed() {
		return ErrClosed
	}
	s.tx.mu.Lock()
	defer s.tx.mu.Unlock()
	if s.tx.err != nil {
		return s.tx.err
	}
	s.tx.finQueued = true
	s.tx.work.Notify()
	return nil
}

// Close closes the connection. Blocked Read and Write calls return
// ErrClosed at once. What was written is still delivered, followed by a
// fin and a reset(closed), unless the path fails or Config.Linger passes
// first. Idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.release()
		s.rx.mu.Lock()
		s.rx.data.Notify()
		s.rx.room.Notify()
		s.rx.mu.Unlock()

		s.tx.mu.Lock()
		s.tx.finQueued = true
		s.tx.reset = resetClosed
		gone := s.tx.peerGone || s.tx.err != nil
		s.tx.work.Notify()
		s.tx.space.Notify()
		s.tx.mu.Unlock()

		if gone {
			s.end(nil)
			return
		}
		s.mu.Lock()
		s.linger = time.AfterFunc(s.r.cfg.Linger, func() {
			s.end(fmt.Errorf("%w: unsent data dropped after %v", ErrClosed, s.r.cfg.Linger))
		})
		s.mu.Unlock()
	})
	return nil
}

// SetReadDeadline sets the read deadline.
func (s *Session) SetReadDeadline(t time.Time) { s.rd.Set(t) }

// SetWriteDeadline sets the write deadline.
func (s *Session) SetWriteDeadline(t time.Time) { s.wd.Set(t) }

// end finishes the session: orderly (err nil) or failed. The first call
// decides. It closes the path and wakes every waiter; the session's
// goroutines then exit on their own.
func (s *Session) end(err error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		s.err = err
		p := s.path
		if s.linger != nil {
			s.linger.Stop()
		}
		s.mu.Unlock()

		if err == nil {
			err = ErrClosed
		}
		s.tx.mu.Lock()
		if s.tx.err == nil {
			s.tx.err = err
		}
		s.tx.work.Notify()
		s.tx.space.Notify()
		s.tx.mu.Unlock()

		s.rx.mu.Lock()
		if s.rx.err == nil {
			s.rx.err = err
		}
		if s.rx.ackTimer != nil {
			s.rx.ackTimer.Stop()
		}
		s.rx.data.Notify()
		s.rx.room.Notify()
		s.rx.mu.Unlock()

		close(s.ended)
		if p != nil {
			p.fail()
		}
		s.r.removeSession(s)
	})
}

// release returns queued receive buffers to the pool once nobody will
// read them (after Close).
func (s *Session) release() {
	s.rx.mu.Lock()
	defer s.rx.mu.Unlock()
	for _, c := range s.rx.q {
		bufpool.Put(c.buf)
	}
	s.rx.q, s.rx.qBytes = nil, 0
}

func (p *pathConn) fail() {
	p.failOnce.Do(func() {
		close(p.failed)
		p.stream.Close()
	})
}

// pathFailed handles the loss of a path. (Issue 4: resume on another.)
func (s *Session) pathFailed(p *pathConn, err error) {
	p.fail()
	s.tx.mu.Lock()
	done := s.tx.peerGone || (s.tx.resetSent && s.isClosed())
	s.tx.mu.Unlock()
	if done {
		s.end(nil) // the exchange was over: the path closing is expected
		return
	}
	s.end(fmt.Errorf("%w: %w", ErrPathBroken, err))
}

// hasWorkLocked reports whether the sender has something to send.
func (tx *txState) hasWorkLocked() bool {
	if tx.peerGone || tx.err != nil {
		return false
	}
	return tx.helloPending || tx.ackDue > tx.ackSent || tx.sent < tx.written ||
		(tx.finQueued && !tx.finSent) || (tx.reset != 0 && !tx.resetSent)
}

// sendLoop seals and writes records on path p until it fails or the
// session ends.
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
	var chunks [][]byte
	for {
		tx.mu.Lock()
		for !tx.hasWorkLocked() {
			if tx.err != nil || tx.peerGone {
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
		var ack uint64
		sendAck := tx.ackDue > tx.ackSent
		if sendAck {
			ack = tx.ackDue
			tx.ackSent = tx.ackDue
		}
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
		if tx.reset != 0 && !tx.resetSent && tx.finSent {
			reset = tx.reset
			tx.resetSent = true
		}
		tx.mu.Unlock()

		size := len(chunks)*(recordHeaderSize+8+recordTagSize) + total + 4*64 + len(s.hello)
		out := bufpool.Get(size)
		b := (*out)[:0]
		if hello {
			b = p.seal.seal(b, recHello, s.hello, nil)
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
		_, err := p.stream.Write(b)
		bufpool.Put(out)
		if err != nil {
			s.pathFailed(p, err)
			return
		}
		if reset != 0 {
			// We said goodbye: nothing more will be sent or read.
			s.end(nil)
			return
		}
	}
}

// readLoop reads, opens and handles records from path p.
func (s *Session) readLoop(p *pathConn) {
	defer s.r.wg.Done()
	var hdr [recordHeaderSize]byte
	for {
		if _, err := io.ReadFull(p.stream, hdr[:]); err != nil {
			s.pathFailed(p, err)
			return
		}
		typ, n, err := parseRecordHeader(hdr)
		if err != nil {
			s.end(err)
			return
		}
		buf := bufpool.Get(n)
		if _, err := io.ReadFull(p.stream, *buf); err != nil {
			bufpool.Put(buf)
			s.pathFailed(p, err)
			return
		}
		plain, err := p.open.open(hdr, *buf)
		if err == nil {
			err = s.handleRecord(typ, plain, buf)
		} else {
			bufpool.Put(buf)
		}
		if err != nil {
			if errors.Is(err, errStop) {
				return
			}
			s.end(err)
			return
		}
	}
}

// errStop tells the reader to stop quietly (the session ended).
var errStop = errors.New("route: stop reading")

// handleRecord acts on one opened record. It takes ownership of buf.
func (s *Session) handleRecord(typ byte, b []byte, buf *[]byte) error {
	if typ != recData {
		defer bufpool.Put(buf)
	}
	select {
	case <-s.helloed:
	default:
		if typ != recHello {
			return fmt.Errorf("%w: %d record before the hello", ErrProtocol, typ)
		}
		return s.onHello(b)
	}
	switch typ {
	case recHello:
		return fmt.Errorf("%w: unexpected hello", ErrProtocol)
	case recData:
		return s.onData(binary.BigEndian.Uint64(b), b[8:], buf)
	case recAck:
		return s.onAck(binary.BigEndian.Uint64(b))
	case recFin:
		return s.onFin(binary.BigEndian.Uint64(b))
	case recReset:
		return s.onReset(b[0])
	}
	return nil
}

// onHello checks the dialler's proof of identity (target side).
func (s *Session) onHello(b []byte) error {
	pub, err := btcec.ParsePubKey(b[:33])
	if err != nil {
		return fmt.Errorf("%w: hello key: %v", ErrProtocol, err)
	}
	var sig [64]byte
	copy(sig[:], b[33:])
	if err := verify(pub, s.helloH, sig); err != nil {
		return fmt.Errorf("%w: hello: %v", ErrProtocol, err)
	}
	hops := make([]wire.Hop, b[helloMin-1])
	for i := range hops {
		copy(hops[i].Node[:], b[helloMin+20*i:])
	}
	s.mu.Lock()
	s.remote = pub
	if s.path != nil {
		s.path.hops = hops
	}
	s.mu.Unlock()
	close(s.helloed)
	return nil
}

func (s *Session) onData(off uint64, data []byte, buf *[]byte) error {
	rx := &s.rx
	rx.mu.Lock()
	if rx.fin {
		rx.mu.Unlock()
		bufpool.Put(buf)
		return fmt.Errorf("%w: data after fin", ErrProtocol)
	}
	if off != rx.off {
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
		// Nobody will read it; it still counts as received.
		bufpool.Put(buf)
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

func (s *Session) onAck(off uint64) error {
	tx := &s.tx
	tx.mu.Lock()
	defer tx.mu.Unlock()
	if off > tx.sent {
		return fmt.Errorf("%w: ack of %d, only %d sent", ErrProtocol, off, tx.sent)
	}
	if off > tx.acked {
		tx.q.drop(int(off - tx.acked))
		tx.acked = off
		tx.space.Notify()
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
	rx.fin = true
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
