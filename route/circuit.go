package route

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/session"
)

const (
	// relayOpenTimeout bounds opening the downstream stream of a circuit.
	relayOpenTimeout = 10 * time.Second
	// helloTimeout bounds the wait for a new stream's first record (a
	// hello or a resume) at the target.
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
		if r.bill != nil && r.bill.CutOff(l.ID()) {
			r.mu.Unlock()
			r.stats.requestsRefusedCredit.Add(1)
			s.Close()
			return
		}
		c.active = true
		r.mu.Unlock()
		r.relay(key, c, s, h)
		return
	}
	if in := r.inbound[h.ID]; in != nil && in.paths[h.Path] == l && !in.streamed[h.Path] {
		in.streamed[h.Path] = true
		lst, key, master, helloH := in.lst, in.key, in.master, in.helloH
		r.mu.Unlock()
		r.acceptPath(lst, key, l, s, h, master, helloH)
		return
	}
	r.mu.Unlock()
	r.stats.streamsRejected.Add(1)
	r.log.Debug("stream for no circuit of ours", "conn", ident.String(h.ID), "path", h.Path, "from", ident.String(l.ID()))
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
		r.log.Debug("circuit's next hop unreachable", "conn", ident.String(h.ID), "path", h.Path, "err", err)
		up.Close()
		return
	}
	c.smu.Lock()
	c.streams = []stream{up, down}
	stopped := c.stopping
	c.smu.Unlock()
	if stopped {
		up.Close()
		down.Close()
		return
	}
	r.stats.circuitsRelayed.Add(1)
	r.stats.circuitsActive.Add(1)
	defer r.stats.circuitsActive.Add(-1)
	var meter billing.Meter // atomic adds only: nothing on the splice waits for billing
	if r.bill != nil && c.upRate > 0 {
		m := r.bill.Relay(c.up.ID(), c.down.ID(), c.upRate, c.downRate, c.stop)
		defer m.Close()
		meter = m
	}
	upObs, downObs := r.observe(c.up), r.observe(c.down)
	ok := splice(up, down, func(n int64) {
		r.stats.bytesRelayed.Add(n)
		upObs.bytes.Add(n)
		downObs.bytes.Add(n)
		if meter != nil {
			meter.Add(n)
		}
	})
	for _, o := range []*observed{upObs, downObs} {
		if ok {
			o.circuitsOK.Add(1)
		} else {
			o.circuitsBroke.Add(1)
		}
	}
	r.mu.Lock()
	r.routes.outcome(c.target, c.down, ok)
	r.mu.Unlock()
}

// splice copies a<->b until both directions end: an EOF on one side
// half-closes the other, an error closes both. It returns when both
// copies are done, with both streams closed, and reports whether both
// ended with an orderly EOF.
func splice(a, b stream, moved func(n int64)) bool {
	var wg sync.WaitGroup
	var okBA bool
	wg.Add(1)
	go func() {
		defer wg.Done()
		okBA = pump(b, a, moved)
	}()
	okAB := pump(a, b, moved)
	wg.Wait()
	a.Close()
	b.Close()
	return okAB && okBA
}

// pump copies src to dst with a pooled buffer, reporting each chunk to
// moved; it reports whether src ended with EOF (rather than an error).
func pump(dst, src stream, moved func(n int64)) bool {
	buf := bufpool.Get(spliceBuffer)
	defer bufpool.Put(buf)
	for {
		n, err := src.Read(*buf)
		if n > 0 {
			if _, werr := dst.Write((*buf)[:n]); werr != nil {
				src.Close()
				dst.Close()
				return false
			}
			moved(int64(n))
		}
		if err != nil {
			if err == io.EOF {
				dst.CloseWrite()
				return true
			}
			src.Close()
			dst.Close()
			return false
		}
	}
}

// acceptPath reads the first record of a new stream at the target. A
// hello opens a session for the listener (queued for Accept once the
// dialler's identity is checked); a resume moves an existing session onto
// the stream. Anything else is dropped and counted: Accept never sees a
// failure.
func (r *Router) acceptPath(lst *Listener, key *keyPair, l *peer.Link, st io.ReadWriteCloser, h wire.StreamHeader, master, helloH [32]byte) {
	p := r.newPath(st, l, nil, h.ID, h.Path, master, false, 0, false)
	fail := func(err error) {
		p.Close()
		r.stats.acceptsFailed.Add(1)
		r.log.Debug("inbound stream dropped", "conn", ident.String(h.ID), "err", err)
	}
	first, err := p.ReadFirst(helloTimeout)
	if err != nil {
		fail(err)
		return
	}
	if first.Hello != nil {
		pub, hops, err := checkHello(first.Hello, helloH)
		if err != nil {
			fail(err)
			return
		}
		p.SetHops(hops)
		p.AllowDirect(!r.cfg.EncryptDirect && len(hops) == 0)
		s := r.newTargetSession(h.ID, key.pub, pub, master)
		if err := r.registerInbound(s); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		s.Start(p)
		r.confirm(lst, s)
		return
	}
	res := first.Resume
	r.mu.Lock()
	in := r.inbound[res.ID]
	var s *Session
	if in != nil {
		s = in.session
	}
	r.mu.Unlock()
	switch {
	case s != nil:
		if err := s.Adopt(p, res); err != nil {
			fail(err)
		}
	case in != nil:
		// The first path broke before its hello got through: the dialler
		// sent it again inside the resume.
		if err := res.Check(in.master, p); err != nil {
			fail(err)
			return
		}
		if res.Hello == nil {
			fail(fmt.Errorf("%w: resume of a connection never greeted", ErrProtocol))
			return
		}
		pub, _, err := checkHello(res.Hello, in.helloH)
		if err != nil {
			fail(err)
			return
		}
		s := r.newTargetSession(res.ID, in.key.pub, pub, in.master)
		if err := r.registerInbound(s); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		if err := s.Adopt(p, res); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		r.confirm(in.lst, s)
	default:
		fail(fmt.Errorf("%w: resume of an unknown connection", ErrProtocol))
	}
}

// newTargetSession makes the target's session of a connection.
func (r *Router) newTargetSession(id [20]byte, local, remote *btcec.PublicKey, master [32]byte) *Session {
	cfg := r.sessionConfig(id, false, local, remote, master)
	cfg.OnEnd = r.removeSession
	return session.New(cfg)
}

// registerInbound makes s the session of its connection ID at the target.
func (r *Router) registerInbound(s *Session) error {
	r.mu.Lock()
	if in := r.inbound[s.ID()]; in != nil {
		if in.session != nil {
			r.mu.Unlock()
			return fmt.Errorf("%w: a second hello", ErrProtocol)
		}
		in.session = s
	}
	r.mu.Unlock()
	return r.addSession(s)
}

// confirm queues a new session for Accept (the session has already told
// the dialler its hello arrived).
func (r *Router) confirm(lst *Listener, s *Session) {
	if !lst.enqueue(s) {
		s.Abort(fmt.Errorf("%w: listener closed or busy", ErrRefused))
		r.stats.acceptsFailed.Add(1)
	}
}

// checkHello checks the dialler's proof of identity.
func checkHello(b []byte, helloH [32]byte) (*btcec.PublicKey, []Hop, error) {
	if len(b) < helloMin {
		return nil, nil, fmt.Errorf("%w: short hello", ErrProtocol)
	}
	pub, err := btcec.ParsePubKey(b[:33])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hello key: %v", ErrProtocol, err)
	}
	var sig [64]byte
	copy(sig[:], b[33:97])
	if err := verify(pub, helloH, sig); err != nil {
		return nil, nil, fmt.Errorf("%w: hello: %v", ErrProtocol, err)
	}
	hops := make([]Hop, b[helloMin-1])
	for i := range hops {
		copy(hops[i].Node[:], b[helloMin+20*i:])
	}
	return pub, hops, nil
}
