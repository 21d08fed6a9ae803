package route

import (
	"fmt"
	"slices"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// handleRequest: throttle, deduplicate, check, record, then answer (we
// hold the key), refuse (we held it until recently) or forward.
func (r *Router) handleRequest(l *peer.Link, req *wire.ConnectRequest) {
	r.mu.Lock()
	n := r.nbrs[l]
	r.mu.Unlock()
	if n == nil {
		return // the link is going down
	}
	if !n.in.Allow() {
		r.stats.requestsThrottled.Add(1)
		return
	}
	if r.bill != nil && r.bill.CutOff(l.ID()) {
		r.stats.requestsRefusedCredit.Add(1)
		return
	}
	id := req.ID()
	if r.handleDuplicate(l, req, id) {
		return
	}
	// Relays check the time window (replay protection); only the target,
	// which creates state for a request, verifies its signature. A relay's
	// check would not stop a flood (signing is cheaper than verifying) and
	// would add a verification per hop to every connection's setup.
	now := r.now()
	if err := checkRequestTime(req, now, r.cfg.MaxClockSkew); err != nil {
		r.stats.requestsInvalid.Add(1)
		r.log.Debug("dropping request", "from", l.ID().String(), "err", err)
		return
	}
	lst, key := r.listenerFor(req)
	r.mu.Lock()
	if _, dup := r.seen[id]; dup {
		r.mu.Unlock()
		r.stats.requestsDuplicate.Add(1)
		return
	}
	e := &seenEntry{from: l, target: req.Target, dEph: req.Ephemeral, maxPrice: req.MaxPrice, expires: now.Add(2 * r.cfg.MaxClockSkew),
		checking: lst != nil}
	if !r.addSeenLocked(id, e, seenKey{peer: l.ID(), local: lst != nil}) {
		r.mu.Unlock()
		r.log.Debug("dropping request: the peer used its share of the seen table", "from", l.ID().String())
		return
	}
	r.stats.requestsSeen.Add(1)
	var gone goneKey
	var wasGone bool
	if req.Kind == wire.TargetAddr {
		gone, wasGone = r.gone[req.Target]
	}
	var fwd []*peer.Link
	if lst == nil && !wasGone && req.HopLimit > 0 {
		fwd = r.nextHopsLocked(req, l, now)
		e.sentAt = now
	}
	r.mu.Unlock()

	switch {
	case lst != nil:
		if r.beforeVerify != nil {
			r.beforeVerify()
		}
		_, err := checkRequest(req, now, r.cfg.MaxClockSkew)
		r.mu.Lock()
		early := e.early
		e.checking, e.early = false, nil
		if err != nil {
			r.mu.Unlock()
			r.stats.requestsInvalid.Add(1)
			r.log.Debug("dropping request", "from", l.ID().String(), "err", err)
			return
		}
		// Only a verified request makes copies of it worth answering:
		// this one, those that arrived while it was checked, and later
		// ones (handleDuplicate), up to MaxAcks arrivals.
		e.inbound = true
		e.lst, e.key = lst, key
		e.ackedVia = map[*peer.Link]bool{l: true}
		var also []*peer.Link
		for _, c := range early {
			if !e.ackedVia[c] && len(e.ackedVia) < r.cfg.MaxAcks {
				e.ackedVia[c] = true
				also = append(also, c)
			}
		}
		r.mu.Unlock()
		r.answer(l, req, id, lst, key)
		for _, c := range also {
			r.answer(c, req, id, lst, key)
		}
	case wasGone:
		if l.Send(newRefuse(id, gone.key, wire.RefuseNoListener)) == nil {
			r.stats.acksSent.Add(1)
		}
	case len(fwd) == 0:
		r.stats.requestsDeadEnd.Add(1)
		r.holdDeadEnd(l, req)
	case !n.fwd.Allow():
		r.stats.requestsNotForwarded.Add(1)
	default:
		f := *req
		f.HopLimit--
		for _, to := range fwd {
			if to.Send(&f) == nil {
				r.stats.requestsForwarded.Add(1)
				r.observe(to).requestsSent.Add(1)
			}
		}
	}
}

// nextHopsLocked picks where a request goes: the best Fanout next hops the
// route table knows for its target, unless it asks to be flooded or the
// table knows nothing, in which case every peer but the one it came from.
func (r *Router) nextHopsLocked(req *wire.ConnectRequest, from *peer.Link, now time.Time) []*peer.Link {
	if req.Flags&wire.FlagFlood == 0 {
		if cands := r.routes.best(requestRouteKey(req), r.cfg.Fanout, from, now); len(cands) > 0 {
			out := make([]*peer.Link, len(cands))
			for i, c := range cands {
				out[i] = c.link
			}
			return out
		}
	}
	return r.neighbourLinksLocked(from)
}

// handleDuplicate drops a request already seen. At the target a copy that
// arrived over another peer is answered too, up to Config.MaxAcks paths:
// those are the dialler's backup paths.
func (r *Router) handleDuplicate(l *peer.Link, req *wire.ConnectRequest, id addr.ConnID) bool {
	r.mu.Lock()
	e := r.seen[id]
	if e == nil {
		r.mu.Unlock()
		return false
	}
	r.stats.requestsDuplicate.Add(1)
	if e.checking && len(e.early) < r.cfg.MaxAcks && e.from != l && !slices.Contains(e.early, l) {
		// The first copy is still being verified: this copy (the same
		// ID, so the same request) is answered once it passes.
		e.early = append(e.early, l)
		r.mu.Unlock()
		return true
	}
	if !e.inbound || e.ackedVia[l] || len(e.ackedVia) >= r.cfg.MaxAcks {
		r.mu.Unlock()
		return true
	}
	lst, key := e.lst, e.key
	if lst == nil || lst.isClosed() {
		r.mu.Unlock()
		return true
	}
	e.ackedVia[l] = true
	r.mu.Unlock()
	// A copy matches the ID, so it is the request already verified (and
	// recognised: the key that answered the first copy answers it too).
	r.answer(l, req, id, lst, key)
	return true
}

// answer acks a request for a key this node listens on, over link l, or
// refuses it when the listener's queue is full.
func (r *Router) answer(l *peer.Link, req *wire.ConnectRequest, id addr.ConnID, lst *Listener, key *keyPair) {
	r.mu.Lock()
	in := r.inbound[id]
	if in == nil {
		// The backlog slot is reserved before the ack goes out, so
		// the connection finds room when its hello arrives; without
		// one the dialler is refused now rather than dropped later.
		share := max(cap(lst.queue)/max(len(r.nbrs), 1), min(cap(lst.queue), minBacklogShare))
		if !lst.reserve(l, share) {
			r.mu.Unlock()
			r.stats.acceptsRefused.Add(1)
			if l.Send(newRefuse(id, key, wire.RefuseBusy)) == nil {
				r.stats.acksSent.Add(1)
			}
			return
		}
		eph, err := newKey(r.cfg.Rand)
		if err != nil {
			lst.release(l)
			r.mu.Unlock()
			return
		}
		dEph, err := parseKey(req.Ephemeral)
		if err != nil {
			lst.release(l)
			r.mu.Unlock()
			return
		}
		in = &inboundState{
			lst: lst, key: key, eph: eph, dEph: req.Ephemeral,
			master:   targetSecret(id, key, eph, dEph),
			helloH:   helloHash(id, req.Ephemeral, key.ser, eph.ser),
			paths:    make(map[uint32]*peer.Link),
			streamed: make(map[uint32]bool),
			expires:  r.now().Add(r.cfg.CircuitSetupTimeout),
			reserved: true, via: l,
		}
		r.inbound[id] = in
	}
	if len(in.paths) >= r.cfg.MaxAcks {
		r.mu.Unlock()
		return
	}
	in.nextPath++
	path := in.nextPath
	in.paths[path] = l
	eph := in.eph
	r.mu.Unlock()
	if l.Send(newAck(id, req.Ephemeral, in.key, eph, path)) == nil {
		r.stats.acksSent.Add(1)
		r.log.Debug("answered connect request", "conn", id.String(), "path", path, "via", l.ID().String())
	}
}

// handleAck checks an ack, records the circuit and passes it upstream, or
// hands it to the local dial waiting for it.
func (r *Router) handleAck(l *peer.Link, ack *wire.ConnectAck) {
	r.mu.Lock()
	e := r.seen[ack.ID]
	var target [20]byte
	var dEph [33]byte
	if e != nil {
		target, dEph = e.target, e.dEph
	}
	r.mu.Unlock()
	if e == nil {
		r.stats.acksUnknown.Add(1)
		return
	}
	if e.ticket || len(ack.Hops) >= wire.MaxHops-1 {
		r.stats.acksInvalid.Add(1) // no room left to append ourselves
		return
	}
	if e.from == nil {
		// Our own dial: check before anything depends on it.
		tKey, tEph, err := checkAck(ack, target, dEph)
		if err == nil {
			if qerr := billing.CheckQuotes(ack, r.now()); qerr != nil {
				err = fmt.Errorf("%w: %w", ErrBadAck, qerr)
			}
		}
		if err != nil {
			r.stats.acksInvalid.Add(1)
			r.log.Debug("dropping ack", "from", l.ID().String(), "err", err)
			return
		}
		r.mu.Lock()
		r.learnLocked(target, l, len(ack.Hops)+1, r.now().Sub(e.sentAt), billing.PathPrice(ack.Hops))
		d := r.dials[ack.ID]
		r.mu.Unlock()
		r.observe(l).acksBack.Add(1)
		r.log.Debug("ack for our request", "conn", ack.ID.String(), "path", ack.Path,
			"relays", len(ack.Hops), "after", r.now().Sub(e.sentAt), "dial", d != nil)
		if d != nil {
			d.deliver(dialEvent{id: ack.ID, eph: d.eph(ack.ID), link: l, ack: ack, tKey: tKey, tEph: tEph,
				price: billing.PathPrice(ack.Hops), overPrice: billing.PathPrice(ack.Hops) > e.maxPrice})
		}
		return
	}

	// A relay checks an ack before it records a circuit or counts it: a
	// forged ack that got in first could otherwise take the path number
	// of the target's genuine one, or use up the request's ack budget.
	if _, _, err := checkAck(ack, target, dEph); err != nil {
		r.stats.acksInvalid.Add(1)
		r.log.Debug("dropping ack", "from", l.ID().String(), "err", err)
		return
	}
	up, hop, ok := r.relayAck(l, e, ack.ID, ack.Path, ack.Hops)
	if !ok {
		return
	}
	fwd := *ack
	fwd.Hops = append(append(make([]wire.Hop, 0, len(ack.Hops)+1), ack.Hops...), hop)
	if up.Send(&fwd) == nil {
		r.stats.acksRelayed.Add(1)
	}
}

// learnLocked teaches the route table that target answered through l
// (see table.learn), counting what l's share of the table left out.
func (r *Router) learnLocked(target [20]byte, l *peer.Link, hops int, latency time.Duration, price uint64) {
	if !r.routes.learn(target, l, hops, latency, price, r.now(), len(r.nbrs)) {
		r.stats.routesOverShare.Add(1)
	}
}

// price is what this node charges per MiB it relays.
func (r *Router) price() uint64 {
	if r.bill == nil {
		return 0
	}
	return r.bill.Price()
}

// quote is this relay's hop in an ack: its key and, when it charges, its
// signed price for this path (see billing.Quote).
func (r *Router) quote(id addr.ConnID, path uint32) wire.Hop {
	if r.bill == nil {
		return wire.Hop{Key: r.id.ser}
	}
	return r.bill.Quote(id, path)
}

// handleRefuse passes a checked refusal toward the dialler.
func (r *Router) handleRefuse(l *peer.Link, m *wire.ConnectRefuse) {
	r.mu.Lock()
	e := r.seen[m.ID]
	r.mu.Unlock()
	if e == nil {
		r.stats.acksUnknown.Add(1)
		return
	}
	if err := checkRefuse(m, e.target); err != nil {
		r.stats.acksInvalid.Add(1)
		return
	}
	if e.from == nil {
		r.mu.Lock()
		d := r.dials[m.ID]
		r.mu.Unlock()
		if d != nil {
			d.deliver(dialEvent{id: m.ID, link: l, refuse: m})
		}
		return
	}
	if e.from.Send(m) == nil {
		r.stats.acksRelayed.Add(1)
	}
}
