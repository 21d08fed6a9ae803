package route

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/internal/pipe"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

type dialEvent struct {
	link       *peer.Link
	ack        *wire.ConnectAck
	tKey, tEph *btcec.PublicKey
	refuse     *wire.ConnectRefuse
}

// dialState is a dial waiting for answers.
type dialState struct{ events chan dialEvent }

func (d *dialState) deliver(ev dialEvent) {
	select {
	case d.events <- ev:
	default: // more answers than we will ever use
	}
}

// Dial connects to the key whose HASH160 is target, proving identity
// (the node's identity when nil) to the listener. It returns when the
// first ack has come back and the data stream is open: the caller can
// write at once. Errors wrap ErrNoRoute (no peer to ask), ErrRefused (the
// target refused), ErrClosed, or the context's error (DeadlineExceeded when
// no answer came in time, which is what an address nobody listens on
// gives). A dial whose context has no deadline gets Config.DialTimeout.
func (r *Router) Dial(ctx context.Context, identity *btcec.PrivateKey, target [20]byte) (*Session, error) {
	if identity == nil {
		identity = r.cfg.Identity
	}
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, r.cfg.DialTimeout)
	}
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	lst := r.listeners[target]
	r.mu.Unlock()
	if lst != nil {
		return r.dialLocal(identity, lst)
	}

	req, eph, err := newRequest(target, r.cfg.HopLimit, 0, r.now(), r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	id := req.ID()
	d := &dialState{events: make(chan dialEvent, 4*r.cfg.MaxAcks)}
	r.mu.Lock()
	r.seen[id] = &seenEntry{target: target, dEph: req.Ephemeral, expires: r.now().Add(2 * r.cfg.MaxClockSkew)}
	r.dials[id] = d
	links := r.neighbourLinksLocked(nil)
	r.mu.Unlock()
	defer func() {
		// A late ack finds no dial and is dropped: a dial that gave up
		// never connects afterwards.
		r.mu.Lock()
		delete(r.dials, id)
		r.mu.Unlock()
	}()

	sent := 0
	for _, l := range links {
		if l.Send(req) == nil {
			sent++
		}
	}
	if sent == 0 {
		return nil, fmt.Errorf("%w to %s: no peers", ErrNoRoute, ident.String(target))
	}
	var lastErr error
	for {
		select {
		case ev := <-d.events:
			if ev.refuse != nil {
				return nil, fmt.Errorf("%w by %s: %s", ErrRefused, ident.String(target), refuseReason(ev.refuse.Reason))
			}
			s, err := r.connect(ctx, identity, id, eph, ev)
			if err == nil {
				return s, nil
			}
			lastErr = err // try the next ack, if one comes
		case <-ctx.Done():
			if r.ctx.Err() != nil {
				return nil, ErrClosed
			}
			if lastErr != nil {
				return nil, fmt.Errorf("%w (after %w)", ctx.Err(), lastErr)
			}
			return nil, fmt.Errorf("no answer from %s: %w", ident.String(target), ctx.Err())
		}
	}
}

func refuseReason(code uint8) string {
	switch code {
	case wire.RefuseNoListener:
		return "no listener on that key"
	case wire.RefuseBusy:
		return "listener busy"
	}
	return fmt.Sprintf("reason %d", code)
}

// connect opens the data stream along the path an ack took and starts the
// dialler's session on it.
func (r *Router) connect(ctx context.Context, identity *btcec.PrivateKey, id [20]byte, eph *btcec.PrivateKey, ev dialEvent) (*Session, error) {
	master := dialerSecret(id, eph, ev.tKey, ev.tEph)
	helloH := helloHash(id, ser(eph.PubKey()), ser(ev.tKey), ser(ev.tEph))
	hops := make([]wire.Hop, len(ev.ack.Hops))
	for i, h := range ev.ack.Hops {
		hops[len(hops)-1-i] = h // acks list the target side first
	}
	s := newSession(r, id, true, identity.PubKey(), ev.tKey, master, helloH)
	s.hello = buildHello(identity, helloH, hops)
	stream, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: id, Path: ev.ack.Path})
	if err != nil {
		return nil, fmt.Errorf("%w: opening the data stream: %w", ErrPathBroken, err)
	}
	if err := r.addSession(s); err != nil {
		stream.Close()
		return nil, err
	}
	s.start(s.newPath(stream, ev.link, hops, ev.ack.Path))
	return s, nil
}

// buildHello makes the dialler's hello body: its identity key, a
// signature over helloH, and the path's relays (so the target knows them).
func buildHello(identity *btcec.PrivateKey, helloH [32]byte, hops []wire.Hop) []byte {
	b := make([]byte, 0, helloMin+20*len(hops))
	b = append(b, identity.PubKey().SerializeCompressed()...)
	sig := sign(identity, helloH)
	b = append(b, sig[:]...)
	b = append(b, byte(len(hops)))
	for _, h := range hops {
		b = append(b, h.Node[:]...)
	}
	return b
}

// dialLocal connects to a listener of this very node over an in-memory
// pipe, with the same session layer as any other connection.
func (r *Router) dialLocal(identity *btcec.PrivateKey, lst *Listener) (*Session, error) {
	if lst.full() {
		return nil, fmt.Errorf("%w by %s: %s", ErrRefused, ident.String(lst.addr), refuseReason(wire.RefuseBusy))
	}
	var id [20]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	dEph, err := newKey(r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	tEph, err := newKey(r.cfg.Rand)
	if err != nil {
		return nil, err
	}
	tKey := lst.key.PubKey()
	master := dialerSecret(id, dEph, tKey, tEph.PubKey())
	helloH := helloHash(id, ser(dEph.PubKey()), ser(tKey), ser(tEph.PubKey()))
	ds := newSession(r, id, true, identity.PubKey(), tKey, master, helloH)
	ds.hello = buildHello(identity, helloH, nil)
	ts := newSession(r, id, false, tKey, nil, master, helloH)
	a, b := pipe.New(pipe.Options{})
	if err := r.addSession(ds); err != nil {
		return nil, err
	}
	ds.start(ds.newPath(a, nil, nil, 1))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.accept(lst, ts, ts.newPath(b, nil, nil, 1))
	}()
	return ds, nil
}
