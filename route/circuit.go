package route

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

const (
	// relayOpenTimeout bounds opening the downstream stream of a circuit.
	relayOpenTimeout = 10 * time.Second
	// helloTimeout bounds the wait for a dialler's hello at the target.
	helloTimeout = 10 * time.Second
	// spliceBuffer is the copy buffer of each direction of a splice.
	spliceBuffer = 64 << 10
)

// HandleStream implements peer.Handler: a stream names a circuit this node
// relays, or a connection to one of its listeners.
func (r *Router) HandleStream(l *peer.Link, s *peer.Stream, h wire.StreamHeader) {
	r.handleStream(l, s, h)
}

// stream is what a circuit or session needs of a link stream.
type stream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

func (r *Router) handleStream(l *peer.Link, s stream, h wire.StreamHeader) {
	key := circuitKey{h.ID, h.Path}
	r.mu.Lock()
	if c := r.circuits[key]; c != nil && c.up == l && !c.active {
		c.active = true
		r.mu.Unlock()
		r.relay(key, c, s, h)
		return
	}
	if in := r.inbound[h.ID]; in != nil && in.paths[h.Path] == l && in.session == nil {
		sess := newSession(r, h.ID, false, in.lst.key.PubKey(), nil, in.master, in.helloH)
		in.session = sess
		lst := in.lst
		r.mu.Unlock()
		r.accept(lst, sess, sess.newPath(s, l, nil, h.Path))
		return
	}
	r.mu.Unlock()
	r.stats.streamsRejected.Add(1)
	s.Close()
}

// relay opens the downstream half of a circuit and splices it to up.
func (r *Router) relay(key circuitKey, c *circuit, up stream, h wire.StreamHeader) {
	defer func() {
		r.mu.Lock()
		delete(r.circuits, key)
		r.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(r.ctx, relayOpenTimeout)
	down, err := c.down.OpenStream(ctx, h)
	cancel()
	if err != nil {
		up.Close()
		return
	}
	r.stats.circuitsRelayed.Add(1)
	r.stats.circuitsActive.Add(1)
	defer r.stats.circuitsActive.Add(-1)
	splice(up, down, &r.stats.bytesRelayed)
}

// splice copies a<->b until both directions end: an EOF on one side
// half-closes the other, an error closes both. It returns when both
// copies are done, with both streams closed.
func splice(a, b stream, counter *atomic.Int64) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		pump(b, a, counter)
	}()
	pump(a, b, counter)
	wg.Wait()
	a.Close()
	b.Close()
}

// pump copies src to dst with a pooled buffer.
func pump(dst, src stream, counter *atomic.Int64) {
	buf := bufpool.Get(spliceBuffer)
	defer bufpool.Put(buf)
	for {
		n, err := src.Read(*buf)
		if n > 0 {
			if _, werr := dst.Write((*buf)[:n]); werr != nil {
				src.Close()
				dst.Close()
				return
			}
			counter.Add(int64(n))
		}
		if err != nil {
			if err == io.EOF {
				dst.CloseWrite()
			} else {
				src.Close()
				dst.Close()
			}
			return
		}
	}
}

// accept runs a new inbound session until the dialler's hello is checked,
// then queues it for the listener. Failures are counted, never returned
// by Accept.
func (r *Router) accept(lst *Listener, sess *Session, p *pathConn) {
	if err := r.addSession(sess); err != nil {
		p.stream.Close()
		return
	}
	sess.start(p)
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	select {
	case <-sess.helloed:
		if lst.enqueue(sess) {
			return
		}
		sess.end(fmt.Errorf("%w: listener closed or busy", ErrRefused))
	case <-sess.ended:
	case <-t.C:
		sess.end(fmt.Errorf("%w: no hello within %v", ErrProtocol, helloTimeout))
	case <-r.ctx.Done():
		sess.end(ErrClosed)
	}
	r.stats.acceptsFailed.Add(1)
	r.log.Debug("inbound connection dropped", "err", sess.Err())
}
