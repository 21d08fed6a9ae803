package noise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/deadline"
)

// Conn is a net.Conn encrypted and authenticated by a Noise
// handshake (see Handshake) and BOLT 8 framing (see Cipher). It wraps the
// transport conn the way tls.Conn does: deadlines are the transport's,
// Close closes the transport.
//
// Reads and writes are independent (separate locks) and may run
// concurrently. A Read that times out mid-frame keeps what it had and
// resumes; a Write that times out after part of its ciphertext went out
// keeps the rest and sends it first on the next Write, so a deadline
// never desynchronises the stream. Authentication failures and transport
// errors other than timeouts are sticky.
type Conn struct {
	conn    net.Conn
	pattern Pattern
	local   *btcec.PublicKey
	remote  *btcec.PublicKey

	rmu     sync.Mutex
	recv    *Cipher
	hdr     [FrameHeaderSize]byte
	hdrN    int     // header bytes read so far
	bodyLen int     // body length of the current frame, -1 before its header
	body    *[]byte // ciphertext of the current frame while it is read
	bodyN   int     // body bytes read so far
	plain   []byte  // decrypted bytes not yet returned (inside *plainBuf)
	plainB  *[]byte // pooled buffer holding plain
	rerr    error   // sticky read error

	// Frame cipher negotiation (see negotiate.go).
	offered     bool        // this side offers AES-256-GCM; fixed at construction
	peerOffered atomic.Bool // the peer's first frame was its offer (set under rmu)
	firstSeen   bool        // under rmu: the peer's first frame has been read
	recvSwitch  atomic.Bool // the peer's marker arrived: recv is AES-256-GCM (set under rmu)
	offerSent   bool        // under wmu: our offer went out
	sendSwitch  atomic.Bool // our marker went out: send is AES-256-GCM (set under wmu)

	wmu     sync.Mutex
	send    *Cipher
	wd      deadline.Deadline // mirror of the write deadline, to refuse before sealing
	pending []byte            // sealed ciphertext not yet written (inside *pendB)
	pendB   *[]byte
	werr    error // sticky write error
}

// maxWriteChunk bounds the plaintext sealed per transport write (four full
// frames), so one Write of a large buffer uses a bounded pooled buffer.
const maxWriteChunk = 4 * MaxFrameBody

// Client runs the initiator side of a handshake over conn and returns the
// secured conn. With cfg.RemoteStatic set it is BOLT 8's Noise_XK;
// otherwise Noise_XX, and verify (if not nil) is called with the
// responder's key before this side reveals its own, so a wrong identity
// aborts the handshake early. ctx bounds the handshake. On failure conn is
// closed.
func Client(ctx context.Context, conn net.Conn, cfg Config, verify func(*btcec.PublicKey) error) (*Conn, error) {
	return handshake(ctx, conn, func() (*Handshake, error) { return NewInitiator(cfg) }, true, cfg.Static, cfg.LinkCipher, verify)
}

// Server runs the responder side of a handshake over conn. A responder
// sends nothing until act one has authenticated, so a dialler without the
// right network key (or speaking garbage) gets no byte back: conn is just
// closed. ctx bounds the handshake. On failure conn is closed.
func Server(ctx context.Context, conn net.Conn, cfg Config) (*Conn, error) {
	return handshake(ctx, conn, func() (*Handshake, error) { return NewResponder(cfg) }, false, cfg.Static, cfg.LinkCipher, nil)
}

func handshake(ctx context.Context, conn net.Conn, newHS func() (*Handshake, error), initiator bool,
	static *btcec.PrivateKey, suite CipherSuite, verify func(*btcec.PublicKey) error) (sc *Conn, err error) {
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	hs, err := newHS()
	if err != nil {
		return nil, err
	}
	// The context bounds every read and write of the handshake: its
	// deadline becomes the conn's, and cancellation expires it at once.
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	if initiator {
		err = runInitiator(conn, hs, verify)
	} else {
		err = runResponder(conn, hs)
	}
	if !stop() {
		// The context ended during the handshake; whatever the acts
		// returned, that is the cause.
		return nil, fmt.Errorf("%w: %w", ErrHandshakeTimeout, context.Cause(ctx))
	}
	if err != nil {
		if isTimeout(err) {
			// The conn's deadline is the context's and may fire a moment
			// before the context's own timer: report it as the context's.
			err = fmt.Errorf("%w: %w: %w", ErrHandshakeTimeout, context.DeadlineExceeded, err)
		}
		return nil, err
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	send, recv, err := hs.Ciphers()
	if err != nil {
		return nil, err
	}
	return &Conn{
		conn: conn, pattern: hs.Pattern(), local: static.PubKey(), remote: hs.RemoteStatic(),
		recv: recv, send: send, bodyLen: -1, offered: suite.offersAES(),
	}, nil
}

// runInitiator: act one out, act two in, check the responder, act three out.
func runInitiator(conn net.Conn, hs *Handshake, verify func(*btcec.PublicKey) error) error {
	act1, err := hs.GenActOne()
	if err != nil {
		return err
	}
	if _, err := conn.Write(act1); err != nil {
		return err
	}
	act2, err := readActTwo(conn, hs, act1)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			// A responder that cannot authenticate act one, or sheds load,
			// closes in silence.
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if errors.Is(err, ErrBadCookie) {
			return err
		}
		return fmt.Errorf("noise: reading act two: %w", err)
	}
	if err := hs.RecvActTwo(act2); err != nil {
		return err
	}
	if verify != nil {
		if err := verify(hs.RemoteStatic()); err != nil {
			return err
		}
	}
	act3, err := hs.GenActThree()
	if err != nil {
		return err
	}
	_, err = conn.Write(act3)
	return err
}

// runResponder: act one in (silently fail), act two out, act three in.
func runResponder(conn net.Conn, hs *Handshake) error {
	act1 := make([]byte, ActOneSize)
	if _, err := io.ReadFull(conn, act1); err != nil {
		return fmt.Errorf("noise: reading act one: %w", err)
	}
	if err := hs.RecvActOne(act1); err != nil {
		return err
	}
	act2, err := hs.GenActTwo()
	if err != nil {
		return err
	}
	if _, err := conn.Write(act2); err != nil {
		return err
	}
	act3 := make([]byte, ActThreeSize)
	if _, err := io.ReadFull(conn, act3); err != nil {
		return fmt.Errorf("noise: reading act three: %w", err)
	}
	return hs.RecvActThree(act3)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// Pattern returns the handshake pattern used (XK or XX).
func (c *Conn) Pattern() Pattern { return c.pattern }

// RemoteKey returns the authenticated static key of the other side.
func (c *Conn) RemoteKey() *btcec.PublicKey { return c.remote }

// LocalKey returns this side's static public key.
func (c *Conn) LocalKey() *btcec.PublicKey { return c.local }

// Read reads decrypted bytes.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if len(c.plain) > 0 {
			n := copy(p, c.plain)
			c.plain = c.plain[n:]
			if len(c.plain) == 0 {
				bufpool.Put(c.plainB)
				c.plain, c.plainB = nil, nil
			}
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if len(p) == 0 {
			return 0, nil
		}
		n, err := c.readFrameLocked(p)
		if n > 0 || err != nil {
			return n, err
		}
		// An empty frame, or a frame decrypted into c.plain: loop.
	}
}

// TakeBuffered hands over the next n plaintext bytes without copying them,
// when they are exactly the rest of a frame already decrypted (a muxer
// that read a frame's header, asking for its body) and fill at least half
// the buffer holding them, so a taker never pins a large buffer for a few
// bytes. The caller then owns buf (data lies in it) and returns it with
// bufpool.Put. Otherwise it returns nil and the caller reads as usual.
func (c *Conn) TakeBuffered(n int) (data []byte, buf *[]byte) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if n == 0 || len(c.plain) != n || 2*n < cap(*c.plainB) {
		return nil, nil
	}
	data, buf = c.plain, c.plainB
	c.plain, c.plainB = nil, nil
	return data, buf
}

// readFrameLocked reads one frame. When the whole body fits in p it is
// decrypted straight into p; otherwise into c.plain. Timeouts return with
// progress kept; other errors are sticky.
func (c *Conn) readFrameLocked(p []byte) (int, error) {
	for c.hdrN < FrameHeaderSize {
		n, err := c.conn.Read(c.hdr[c.hdrN:])
		c.hdrN += n
		if err != nil {
			if c.hdrN < FrameHeaderSize {
				return 0, c.readErr(err, c.hdrN == 0)
			}
		}
	}
	if c.bodyLen < 0 {
		n, err := c.recv.OpenHeader(c.hdr[:])
		if err != nil {
			return 0, c.readErr(err, false)
		}
		c.bodyLen = n
		c.body = bufpool.Get(n + 16)
		c.bodyN = 0
	}
	ct := *c.body
	for c.bodyN < len(ct) {
		n, err := c.conn.Read(ct[c.bodyN:])
		c.bodyN += n
		if err != nil && c.bodyN < len(ct) {
			return 0, c.readErr(err, false)
		}
	}
	var out []byte
	var err error
	direct := len(p) >= c.bodyLen
	if direct {
		out, err = c.recv.OpenBody(p[:0], ct)
	} else {
		out, err = c.recv.OpenBody(ct[:0], ct)
	}
	c.hdrN, c.bodyLen, c.bodyN = 0, -1, 0
	if err == nil {
		err = c.noteFrameLocked(len(out))
	}
	if err != nil {
		bufpool.Put(c.body)
		c.body = nil
		return 0, c.readErr(err, false)
	}
	if direct {
		bufpool.Put(c.body)
		c.body = nil
		return len(out), nil
	}
	c.plain, c.plainB, c.body = out, c.body, nil
	return 0, nil
}

// readErr classifies a read failure: timeouts are returned and leave the
// frame state for the next Read; anything else is sticky and releases
// buffers. A clean EOF between frames stays io.EOF.
func (c *Conn) readErr(err error, atBoundary bool) error {
	if isTimeout(err) {
		return err
	}
	if err == io.EOF && !atBoundary {
		err = io.ErrUnexpectedEOF
	}
	if errors.Is(err, ErrFrameAuth) || errors.Is(err, ErrFrameSize) || errors.Is(err, ErrFrameState) {
		c.conn.Close() // the stream is out of step or forged: drop the link
	}
	c.rerr = err
	bufpool.Put(c.body)
	c.body = nil
	return err
}

// Write encrypts and writes p.
func (c *Conn) Write(p []byte) (int, error) {
	return c.WriteVec(p, nil)
}

// WriteVec encrypts and writes a then b as one run of frames, so a small
// header and the body that follows it travel in one frame and one
// transport write. It returns how many bytes of a||b were written; like
// Write, it is safe to call concurrently with Read.
func (c *Conn) WriteVec(a, b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writableLocked(); err != nil {
		return 0, err
	}
	total := len(a) + len(b)
	written := 0
	for written < total {
		if c.wd.Exceeded() {
			return written, c.opErr("write", os.ErrDeadlineExceeded)
		}
		chunk := min(total-written, maxWriteChunk)
		nframes := (chunk + MaxFrameBody - 1) / MaxFrameBody
		buf := bufpool.Get(chunk + (nframes+2)*FrameOverhead)
		out, err := c.negotiateLocked((*buf)[:0])
		if err != nil {
			bufpool.Put(buf)
			c.werr = err
			return written, err
		}
		for done := 0; done < chunk; {
			m := min(chunk-done, MaxFrameBody)
			out = c.send.SealFrame(out, frameBody(out, a, b, written+done, m))
			done += m
		}
		written += chunk
		c.pending, c.pendB = out, buf
		if err := c.flushLocked(); err != nil {
			// The chunk is sealed and committed: whatever did not go out is
			// sent first by the next Write.
			return written, err
		}
	}
	return written, nil
}

// frameBody returns the m plaintext bytes of a||b from off, for the next
// frame sealed onto out: the caller's own bytes when they lie in a or in b
// alone (the AEAD then reads them once, encrypting into out, with no copy
// first), else a copy put where SealFrame encrypts in place. out is a
// pooled buffer of the conn's, so it never overlaps a or b.
func frameBody(out, a, b []byte, off, m int) []byte {
	switch {
	case off+m <= len(a):
		return a[off : off+m]
	case off >= len(a):
		return b[off-len(a) : off-len(a)+m]
	}
	at := len(out) + FrameHeaderSize
	body := out[at : at+m]
	copyVec(body, a, b, off)
	return body
}

// copyVec copies len(dst) bytes of the concatenation a||b, from offset off.
func copyVec(dst, a, b []byte, off int) {
	if off < len(a) {
		n := copy(dst, a[off:])
		copy(dst[n:], b)
		return
	}
	copy(dst, b[off-len(a):])
}

// WriteBuffers encrypts and writes each of bufs as a run of frames of its
// own (no frame spans two of them) in one transport write, as a muxer's
// send loop hands over the frames it has queued. Each frame is sealed
// straight from the caller's bytes. It returns how many bytes of bufs were
// written: all of them, or those before an error. The caller keeps a
// batch to a few hundred KiB: its ciphertext is buffered whole.
func (c *Conn) WriteBuffers(bufs [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writableLocked(); err != nil {
		return 0, err
	}
	if c.wd.Exceeded() {
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	}
	size := 0
	for _, p := range bufs {
		size += len(p) + ((len(p)+MaxFrameBody-1)/MaxFrameBody)*FrameOverhead
	}
	buf := bufpool.Get(size + 2*FrameOverhead)
	out, err := c.negotiateLocked((*buf)[:0])
	if err != nil {
		bufpool.Put(buf)
		c.werr = err
		return 0, err
	}
	total := 0
	for _, p := range bufs {
		for len(p) > 0 {
			m := min(len(p), MaxFrameBody)
			out = c.send.SealFrame(out, p[:m])
			p = p[m:]
			total += m
		}
	}
	c.pending, c.pendB = out, buf
	// The batch is sealed and committed: whatever a timeout leaves unsent
	// goes first with the next write.
	return total, c.flushLocked()
}

// writableLocked returns the sticky write error, if any, or else flushes
// what an earlier write left unsent.
func (c *Conn) writableLocked() error {
	if c.werr != nil {
		return c.werr
	}
	return c.flushLocked()
}

// flushLocked writes pending ciphertext. A timeout keeps the unsent rest;
// any other error is sticky.
func (c *Conn) flushLocked() error {
	for len(c.pending) > 0 {
		n, err := c.conn.Write(c.pending)
		c.pending = c.pending[n:]
		if err != nil {
			if !isTimeout(err) {
				c.werr = err
			}
			return err
		}
	}
	bufpool.Put(c.pendB)
	c.pending, c.pendB = nil, nil
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.conn.LocalAddr().Network(), Source: c.conn.LocalAddr(), Addr: c.conn.RemoteAddr(), Err: err}
}

// Close closes the transport conn, unblocking Read and Write.
func (c *Conn) Close() error { return c.conn.Close() }

// CloseWrite half-closes the transport if it supports it (TCP and mem do).
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.conn.Close()
}

// LocalAddr returns the transport's local address.
func (c *Conn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// RemoteAddr returns the transport's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.conn.RemoteAddr() }

// SetDeadline sets the transport's deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.wd.Set(t)
	return c.conn.SetDeadline(t)
}

// SetReadDeadline sets the transport's read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.conn.SetReadDeadline(t) }

// SetWriteDeadline sets the transport's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wd.Set(t)
	return c.conn.SetWriteDeadline(t)
}
