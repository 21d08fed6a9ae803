package yamux

import (
	"io"
	"sync/atomic"
)

// foxtrot patch: this file is ours (see FORK.md, fifth patch).

// take removes the unread rest of the oldest segment: its bytes are
// seg.data[off:]. ok is false when nothing is buffered.
func (s *segmentedBuffer) take() (seg segment, off int, ok bool) {
	s.bm.Lock()
	defer s.bm.Unlock()
	if s.bPos == len(s.b) {
		return segment{}, 0, false
	}
	seg, off = s.b[s.bPos], s.readPos
	s.b[s.bPos] = segment{}
	s.bPos++
	s.readPos = 0
	s.len -= uint32(len(seg.data) - off)
	return seg, off, true
}

// headroom is how many bytes of seg's own buffer lie before
// seg.data[off:]: room to write a frame header in front of them.
func (g segment) headroom(off int) int {
	if g.own == nil {
		return 0
	}
	return cap(*g.own) - cap(g.data) + off
}

// ForwardTo moves what s has buffered, at most one received frame's
// worth, to dst as dst.Write would, waiting for data as Read does, and
// returns how many bytes it moved (io.EOF once s is closed for reading
// and drained). A frame that arrived in a buffer the conn handed over
// (frameTaker) is queued on dst in that same buffer, its new header
// written in front of it, when dst's send window takes it whole: a relay
// moves it with no copy. Otherwise the bytes are written as by Write.
// Errors of s's side (a reset, the read deadline) come back as they
// would from Read; dst's as from Write.
func (s *Stream) ForwardTo(dst *Stream) (int, error) {
START:
	s.stateLock.Lock()
	state := s.readState
	resetErr := s.readErr
	s.stateLock.Unlock()

	switch state {
	case halfOpen:
	case halfClosed:
		if s.recvBuf.Len() == 0 {
			return 0, io.EOF
		}
	case halfReset:
		return 0, resetErr
	default:
		panic("unknown state")
	}
	seg, off, ok := s.recvBuf.take()
	if !ok {
		select {
		case <-s.recvNotifyCh:
			goto START
		case <-s.readDeadline.wait():
			return 0, ErrTimeout
		}
	}
	// The bytes are out of s's window: grant them back, as Read does
	// (and, as Read does, deliver them even when that fails).
	werr := s.sendWindowUpdate(s.readDeadline.wait())
	n, err := dst.writeSegment(seg, off)
	if err != nil {
		return n, err
	}
	return n, werr
}

// writeSegment writes seg.data[off:] to the stream and releases seg.
func (s *Stream) writeSegment(seg segment, off int) (int, error) {
	data := seg.data[off:]
	if seg.headroom(off) >= headerSize && len(data) <= int(s.session.config.MaxMessageSize-headerSize) {
		if n, err, sent := s.sendInPlace(seg, off); sent {
			return n, err
		}
	}
	defer seg.release()
	return s.Write(data)
}

// sendInPlace queues seg.data[off:] as one data frame in seg's own
// buffer, when the send window takes it whole; sent is false (and seg
// still the caller's) when it does not, or the stream is not writable.
func (s *Stream) sendInPlace(seg segment, off int) (n int, err error, sent bool) {
	s.stateLock.Lock()
	state := s.writeState
	s.stateLock.Unlock()
	data := seg.data[off:]
	if state != halfOpen || atomic.LoadUint32(&s.sendWindow) < uint32(len(data)) {
		return 0, nil, false
	}
	start := cap(*seg.own) - cap(data)
	frame := (*seg.own)[start-headerSize : start+len(data)]
	hdr := encode(typeData, s.sendFlags(), s.id, uint32(len(data)))
	copy(frame, hdr[:])
	if err := s.session.enqueue(segment{data: frame, own: seg.own}, s.writeDeadline.wait(), true); err != nil {
		return 0, err, true
	}
	atomic.AddUint32(&s.sendWindow, ^uint32(len(data)-1))
	return len(data), nil, true
}
