package peer

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/deadline"
)

// Stream is one multiplexed stream of a Link, as a net.Conn that keeps
// the whole contract a raw yamux stream does not: a past write deadline
// fails at once, Close unblocks a blocked Read or Write with an error
// wrapping net.ErrClosed, and timeouts are os.ErrDeadlineExceeded.
// CloseWrite half-closes (the other end reads io.EOF).
type Stream struct {
	s    MuxStream
	link *Link

	mu     sync.Mutex // orders Close against deadline changes
	closed bool
	rd, wd deadline.Deadline
}

// errAsleep is a deadline long past, used to wake calls blocked in the
// muxer.
var errAsleep = time.Unix(1, 0)

func newStream(s MuxStream, l *Link) *Stream { return &Stream{s: s, link: l} }

// Link returns the link the stream belongs to.
func (s *Stream) Link() *Link { return s.link }

func (s *Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Stream) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "foxtrot-link", Source: s.LocalAddr(), Addr: s.RemoteAddr(), Err: err}
}

// mapErr turns a MuxStream error into ours.
func (s *Stream) mapErr(op string, err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case s.isClosed():
		return s.opErr(op, net.ErrClosed)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return s.opErr(op, os.ErrDeadlineExceeded)
	case errors.Is(err, ErrLinkClosed):
		return s.opErr(op, ErrLinkClosed)
	case errors.Is(err, net.ErrClosed):
		return s.opErr(op, net.ErrClosed)
	}
	return s.opErr(op, err)
}

// Read reads from the stream.
func (s *Stream) Read(p []byte) (int, error) {
	for {
		if s.isClosed() {
			return 0, s.opErr("read", net.ErrClosed)
		}
		if s.rd.Exceeded() {
			return 0, s.opErr("read", os.ErrDeadlineExceeded)
		}
		n, err := s.s.Read(p)
		if n > 0 || err == nil {
			return n, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !s.isClosed() && !s.rd.Exceeded() {
			continue // the deadline moved on while the muxer was timing out
		}
		return 0, s.mapErr("read", err)
	}
}

// ForwardTo moves what s has received to dst, a frame's worth per call
// (waiting for one as Read does), as Read and then dst's Write would, and
// returns how many bytes it moved; io.EOF once s's peer closed its side
// and all was moved. Where the muxer can, the bytes are not copied: a
// frame that arrived in a buffer of its own goes out on dst in that
// buffer (GoYamux over peer/noise, a relay's splice). When dst is not a
// Stream or the two streams' muxers cannot forward, it moves nothing and
// returns an error wrapping errors.ErrUnsupported: read and write instead.
// An error after some bytes moved comes with their count.
func (s *Stream) ForwardTo(dst io.Writer) (int, error) {
	d, ok := dst.(*Stream)
	var src, to *goyamuxStream
	if ok {
		src, _ = s.s.(*goyamuxStream)
		to, _ = d.s.(*goyamuxStream)
	}
	if src == nil || to == nil {
		return 0, fmt.Errorf("peer: forward between these streams: %w", errors.ErrUnsupported)
	}
	for {
		switch {
		case s.isClosed():
			return 0, s.opErr("read", net.ErrClosed)
		case d.isClosed():
			return 0, d.opErr("write", net.ErrClosed)
		case s.rd.Exceeded():
			return 0, s.opErr("read", os.ErrDeadlineExceeded)
		case d.wd.Exceeded():
			return 0, d.opErr("write", os.ErrDeadlineExceeded)
		}
		n, err := src.forwardTo(to)
		if err == nil {
			return n, nil
		}
		if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) && !s.isClosed() && !d.isClosed() && !s.rd.Exceeded() && !d.wd.Exceeded() {
			continue // a deadline moved on while the muxer was timing out
		}
		return n, s.mapErr("forward", err)
	}
}

// Write writes all of p unless the deadline passes or the stream closes.
func (s *Stream) Write(p []byte) (int, error) {
	written := 0
	for {
		if s.isClosed() {
			return written, s.opErr("write", net.ErrClosed)
		}
		if s.wd.Exceeded() {
			return written, s.opErr("write", os.ErrDeadlineExceeded)
		}
		n, err := s.s.Write(p[written:])
		written += n
		if err == nil {
			return written, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) && !s.isClosed() && !s.wd.Exceeded() {
			continue
		}
		return written, s.mapErr("write", err)
	}
}

// Close closes both directions. Blocked calls return at once. The other
// end reads io.EOF after what was written. Idempotent.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.s.SetReadDeadline(errAsleep)
	s.s.SetWriteDeadline(errAsleep)
	s.mu.Unlock()
	return s.mapErr("close", s.s.Close())
}

// CloseWrite half-closes the stream: the other end reads io.EOF, and this
// end can still read.
func (s *Stream) CloseWrite() error {
	if s.isClosed() {
		return s.opErr("close", net.ErrClosed)
	}
	return s.mapErr("close", s.s.CloseWrite())
}

// LocalAddr returns the link's local transport address.
func (s *Stream) LocalAddr() net.Addr { return s.link.sc.LocalAddr() }

// RemoteAddr returns the link's remote transport address.
func (s *Stream) RemoteAddr() net.Addr { return s.link.sc.RemoteAddr() }

// SetDeadline sets both deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rd.Set(t)
	if !s.closed {
		s.s.SetReadDeadline(t)
	}
	return nil
}

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wd.Set(t)
	if !s.closed {
		s.s.SetWriteDeadline(t)
	}
	return nil
}
