// Package deadline is the one place foxtrot implements net.Conn deadlines.
//
// It is modelled on the unexported pipeDeadline of Go's net.Pipe: a Deadline
// hands out a channel that is closed when the deadline passes, and setting a
// new deadline re-arms it. Everything foxtrot hands out as a net.Conn (the
// mem transport's conns, the encrypted peer link's streams, foxtrot.Conn)
// builds its Read/Write blocking on these channels, so a past deadline fails
// at once, a future one wakes blocked calls, and the error is always
// os.ErrDeadlineExceeded (a net.Error whose Timeout() is true).
package deadline

import (
	"os"
	"sync"
	"time"
)

// ErrExceeded is the error returned by operations whose deadline passed. It
// is os.ErrDeadlineExceeded itself, so errors.Is and net.Error.Timeout work.
var ErrExceeded = os.ErrDeadlineExceeded

// Deadline is a settable point in time. The zero value has no deadline and
// is ready to use. It is safe for concurrent use.
type Deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed; nil until needed
	when   time.Time
}

// Set arms the deadline for t. The zero time disarms it. A time in the past
// expires it immediately; a later Set with a future time re-arms it.
func (d *Deadline) Set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()

	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait until its callback closed cancel
	}
	d.timer = nil
	d.when = t

	closed := d.cancel != nil && isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = nil
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed || d.cancel == nil {
			d.cancel = make(chan struct{})
		}
		c := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(c) })
		return
	}
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	if !closed {
		close(d.cancel)
	}
}

// Wait returns a channel that is closed when the deadline passes. Select on
// it beside whatever the blocked operation waits for; fetch it again after
// waking, since Set may have replaced it.
func (d *Deadline) Wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel == nil {
		d.cancel = make(chan struct{})
	}
	return d.cancel
}

// Exceeded reports whether the deadline has passed. It is cheap enough to
// call before every operation.
func (d *Deadline) Exceeded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel != nil && isClosed(d.cancel)
}

// Time returns the deadline last set (zero when none).
func (d *Deadline) Time() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.when
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
