package route

import (
	"context"
	"errors"
	"fmt"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/relay"
	"github.com/foxtrotnet/foxtrot/session"
)

// What NAT traversal (the root's, over package nat) needs of route: a way
// to pass a message along a circuit this node relays, to find the session
// a circuit belongs to, and to move a dialler's connection onto a direct
// link once one is up.

// ErrNotDialler means MoveDirect was given the target's end of a
// connection: only the dialler moves a connection.
var ErrNotDialler = errors.New("route: not the dialling end")

// Across returns the neighbour at the other end of circuit (id, num) from
// l, if this node relays that circuit and l is one of its ends; nil
// otherwise.
func (r *Router) Across(id addr.ConnID, num uint32, l *peer.Link) *peer.Link {
	other, ok := r.relay.Across(relay.Key{ID: id, Path: num}, relayLink{l})
	if !ok {
		return nil
	}
	if o, ok := other.(relayLink); ok {
		return o.Link
	}
	return nil
}

// SessionOn returns this node's session whose path in use is circuit
// (id, num), or nil.
func (r *Router) SessionOn(id addr.ConnID, num uint32) *Session {
	for _, s := range r.sessionList() {
		if info := s.PathInfo(); info.ID == id && info.Num == num {
			return s
		}
	}
	return nil
}

// MoveDirect moves the dialler's session s onto a path without relays
// over l, a link to the node that serves s's target: it sends a connect
// request to l alone, takes the ack that comes back over l, opens the
// path and moves the session onto it (session.Session.Move: resumed
// where it was, no byte lost); the old path closes, releasing its
// circuits. It fails, leaving s on its path, if no such ack comes before
// ctx ends or the move is refused.
func (r *Router) MoveDirect(ctx context.Context, s *Session, l *peer.Link) error {
	f, ok := s.Finder().(*finder)
	if !ok || !s.Dialer() {
		return ErrNotDialler
	}
	d := r.newDial(f.kind, f.target)
	d.fixed = f.fixed
	defer r.forgetDial(d)
	if err := r.sendRequestOn(d, l); err != nil {
		return err
	}
	for {
		select {
		case ev := <-d.events:
			if ev.refuse != nil {
				return fmt.Errorf("%w by %s: %s", ErrRefused, addr.FromHash160(d.target).String(), refuseReason(ev.refuse.Reason))
			}
			if ev.link != l || len(ev.ack.Hops) != 0 || ev.overPrice {
				continue // not the direct answer
			}
			p, err := f.openPath(ctx, ev)
			if err != nil {
				return err
			}
			return s.Move(p)
		case <-ctx.Done():
			return fmt.Errorf("no direct answer from %s: %w", addr.FromHash160(d.target).String(), ctx.Err())
		case <-l.Done():
			return fmt.Errorf("%w: the direct link went down", ErrPathBroken)
		case <-s.Done():
			return ErrClosed
		case <-r.ctx.Done():
			return ErrClosed
		}
	}
}

// sendRequestOn makes a request for d's target and sends it to l alone.
func (r *Router) sendRequestOn(d *dialState, l *peer.Link) error {
	req, eph, err := d.newRequest(r, 0)
	if err != nil {
		return err
	}
	id := req.ID()
	now := r.now()
	d.mu.Lock()
	d.reqs[id] = eph
	d.mu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.addSeenLocked(id, &seenEntry{target: d.target, dEph: req.Ephemeral, sentAt: now, maxPrice: req.MaxPrice, expires: now.Add(2 * r.cfg.MaxClockSkew)}, seenKey{self: true})
	r.dials[id] = d
	r.mu.Unlock()
	if err := l.Send(req); err != nil {
		return fmt.Errorf("%w: %w", ErrNoRoute, err)
	}
	r.observe(l).requestsSent.Add(1)
	r.stats.requestsSent.Add(1)
	return nil
}

var _ session.Finder = (*finder)(nil)
