package route

import (
	"context"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/relay"
	"github.com/foxtrotnet/foxtrot/session"
)

// Ticket dials (SPEC.md section 6): the connections of ticket.go's
// cryptography. After a connection to a key listener is up, its target
// issues a ticket and sends it in a ticket record of the session; the
// dialler keeps it (Router.tickets, by target) with the target's key. A
// later Dial of that key by the node's own identity takes the ticket
// (single use) and sends a TicketRequest instead of a ConnectRequest:
//
//	dialler ── TicketRequest(ticket, n_d, lock) ──► relays ──► target
//	        ◄── TicketAck(n_t, proof, confirm) ◄── SHA256(proof) == lock?
//	        ══ hello (identity, no signature), records under master' ══►
//
// Nobody on the path does public-key work: a relay checks the ack's proof
// with one hash, the target opens the ticket with AES-GCM, both ends key
// from master'. The hello names the dialler's identity key with a zero
// signature; the target checks it equals the ticket's.
//
// Falling back. A ticket the target will not take (unknown key after a
// restart, expired, another address, too many in use) gets a TicketRefuse
// and the dialler makes a full handshake at once; a replayed ticket gets
// nothing. A request that meets a node of an earlier version dies there
// (the types are optional), so a dialler that has heard nothing after
// ticketWait falls back too: the same bound a directed request gets
// before the dial floods (DirectedWait times the smoothed time to an
// answer, at least MinDirectedWait). Every fallback is within the same
// Dial and its context, and the full handshake starts from scratch.

// Ticket record body: lifetime in seconds (4) || ticket.
const ticketRecordSize = 4 + TicketSize

// ticketsOn reports whether the router issues and uses tickets.
func (r *Router) ticketsOn() bool { return !r.cfg.NoTickets }

// ticketable reports whether a dial may use, and keep, tickets: a key
// target dialled with the node's own identity (a ticket names the
// identity it was issued to).
func (r *Router) ticketable(d *dialState, identity *keyPair) bool {
	return r.ticketsOn() && d.kind == wire.TargetAddr && d.fixed == nil && identity == r.id
}

// keepTicket is the dialler session's OnTicket: it keeps a ticket the
// target sent over a connection whose master secret is master.
func (r *Router) keepTicket(target [20]byte, tKey *btcec.PublicKey, master [32]byte, body []byte) {
	if len(body) != ticketRecordSize {
		return
	}
	life := time.Duration(binary.BigEndian.Uint32(body)) * time.Second
	if life <= 0 {
		return
	}
	r.tickets.add(target, master, body[4:], life, tKey)
	r.stats.ticketsKept.Add(1)
}

// issueTicket sends the dialler of s, whose identity key is dialler, a
// ticket for the key listener key, over s.
func (r *Router) issueTicket(s *Session, master [32]byte, key *keyPair, dialler *btcec.PublicKey) {
	if b := r.ticketRecord(master, key, dialler); b != nil {
		s.SendTicket(b)
	}
}

// ticketRecord is the body of a ticket record for a connection whose
// master secret is master (nil if tickets are off or none could be made).
func (r *Router) ticketRecord(master [32]byte, key *keyPair, dialler *btcec.PublicKey) []byte {
	if !r.ticketsOn() || key == nil {
		return nil
	}
	t, err := r.issuer.issue(master, addr.FromPubKey(key.pub).Hash160(), ser(dialler))
	if err != nil {
		return nil
	}
	r.stats.ticketsIssued.Add(1)
	body := binary.BigEndian.AppendUint32(make([]byte, 0, ticketRecordSize), uint32(r.issuer.lifetime/time.Second))
	return append(body, t...)
}

// ticketWait is how long a ticket dial waits for an answer before it
// falls back to a full handshake.
func (r *Router) ticketWait() time.Duration {
	return max(time.Duration(r.cfg.DirectedWait*float64(r.setupEWMA.Load())), r.cfg.MinDirectedWait)
}

// errTicketFallback says a ticket dial did not connect, and why; the dial
// goes on with a full handshake.
var errTicketFallback = errors.New("route: ticket dial fell back")

// dialTicket tries a ticket dial with h. It returns the session, or an
// error after which the caller makes a full handshake (unless ctx is
// done). It erases h's secret either way.
func (r *Router) dialTicket(ctx context.Context, identity *keyPair, d *dialState, h heldTicket) (*Session, error) {
	defer clear(h.rs[:])
	d.ticketKey = h.key
	var nD [16]byte
	if _, err := io.ReadFull(r.cfg.Rand, nD[:]); err != nil {
		return nil, err
	}
	proof := ticketProof(h.rs, nD)
	now := r.now()
	req := &TicketRequest{HopLimit: d.hops(r), Target: d.target, Nonce: nD, Time: uint64(now.UnixMilli()),
		MaxPrice: r.maxPrice(), Lock: ticketLock(proof)}
	copy(req.Ticket[:], h.ticket)
	id := req.ID()
	d.mu.Lock()
	d.reqs[id] = nil
	d.mu.Unlock()
	defer r.forgetDialID(d, id)

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.addSeenLocked(id, &seenEntry{target: d.target, sentAt: now, maxPrice: req.MaxPrice, expires: now.Add(2 * r.cfg.MaxClockSkew),
		ticket: true, lock: req.Lock}, seenKey{self: true})
	r.dials[id] = d
	links := r.neighbourLinksLocked(nil)
	if cands := r.routes.best(d.target, r.cfg.Fanout, nil, now); len(cands) > 0 {
		links = links[:0]
		for _, c := range cands {
			links = append(links, c.link)
		}
	}
	r.mu.Unlock()
	sent := 0
	for _, l := range links {
		if l.Send(req) == nil {
			sent++
			r.observe(l).requestsSent.Add(1)
		}
	}
	r.stats.requestsSent.Add(int64(sent))
	if sent == 0 {
		return nil, fmt.Errorf("%w: no peers", errTicketFallback)
	}
	// The connection's rekey key (session's rekey.go), made while the
	// ack crosses the path: one scalar multiplication at this end, not
	// on the way of anything.
	rk, err := session.NewRekeyKey()
	if err != nil {
		return nil, err
	}
	wait := time.NewTimer(r.ticketWait())
	defer wait.Stop()
	for {
		select {
		case ev := <-d.events:
			if ev.id != id {
				continue // not ours (cannot happen: the dial has no other request yet)
			}
			if ev.refuse != nil || ev.ticketRefused {
				return nil, fmt.Errorf("%w: the target refused the ticket", errTicketFallback)
			}
			if ev.overPrice {
				continue
			}
			master := ticketMaster(id, h.rs, nD, ev.tNonce)
			if c := ticketConfirm(master, id); !hmac.Equal(c[:], ev.confirm[:]) {
				// A relay altered n_t: this path is no good, another may be.
				r.stats.acksInvalid.Add(1)
				continue
			}
			// Not fed to the smoothed answer time (retry.go): full
			// handshakes, which it paces, answer more slowly.
			hello := ticketHello(identity, pathHops(ev.ack.Hops))
			s, err := r.connectWith(ctx, identity, d, ev, master, hello, rk)
			clear(master[:])
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errTicketFallback, err)
			}
			r.stats.ticketDials.Add(1)
			return s, nil
		case <-wait.C:
			return nil, fmt.Errorf("%w: no answer within %v", errTicketFallback, r.ticketWait())
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// forgetDialID unregisters one request of a dial that did not become its
// session's: later answers to it are dropped.
func (r *Router) forgetDialID(d *dialState, id addr.ConnID) {
	d.mu.Lock()
	owned := d.finder != nil
	if !owned {
		delete(d.reqs, id)
	}
	d.mu.Unlock()
	if owned {
		return // the session's backups still arrive; its end forgets the dial
	}
	r.mu.Lock()
	if r.dials[id] == d {
		delete(r.dials, id)
	}
	r.mu.Unlock()
}

// ticketHello is a ticket dial's hello body: the identity key, a zero
// signature (the ticket authenticates the dialler), the relays.
func ticketHello(identity *keyPair, hops []Hop) []byte {
	b := make([]byte, helloMin+20*len(hops))
	copy(b, identity.ser[:])
	b[helloMin-1] = byte(len(hops))
	for i, h := range hops {
		copy(b[helloMin+20*i:], h.Node[:])
	}
	return b
}

// checkTicketHello checks a ticket connection's hello: the identity key
// the ticket names, a zero signature.
func checkTicketHello(b []byte, dialler [33]byte) (*btcec.PublicKey, []Hop, error) {
	if err := checkHelloSize(b); err != nil {
		return nil, nil, err
	}
	if !hmac.Equal(b[:33], dialler[:]) {
		return nil, nil, fmt.Errorf("%w: hello names another identity than the ticket", ErrProtocol)
	}
	var zero [64]byte
	if !hmac.Equal(b[33:97], zero[:]) {
		return nil, nil, fmt.Errorf("%w: ticket hello with a signature", ErrProtocol)
	}
	pub, err := btcec.ParsePubKey(b[:33])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hello key: %v", ErrProtocol, err)
	}
	hops := make([]Hop, b[helloMin-1])
	for i := range hops {
		copy(hops[i].Node[:], b[helloMin+20*i:])
	}
	return pub, hops, nil
}

// handleTicketRequest: throttle, deduplicate, check the time, record;
// then answer or refuse (we listen on the key) or forward. Nothing here
// verifies a signature: there is none.
func (r *Router) handleTicketRequest(l *peer.Link, req *TicketRequest) {
	r.mu.Lock()
	n := r.nbrs[l]
	r.mu.Unlock()
	if n == nil {
		return
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
	if r.handleTicketDuplicate(l, id) {
		return
	}
	now := r.now()
	if d := now.Sub(time.UnixMilli(int64(req.Time))); d > r.cfg.MaxClockSkew || d < -r.cfg.MaxClockSkew {
		r.stats.requestsInvalid.Add(1)
		return
	}
	r.mu.Lock()
	if _, dup := r.seen[id]; dup {
		r.mu.Unlock()
		r.stats.requestsDuplicate.Add(1)
		return
	}
	lst := r.listeners[req.Target]
	e := &seenEntry{from: l, target: req.Target, maxPrice: req.MaxPrice, expires: now.Add(2 * r.cfg.MaxClockSkew),
		ticket: true, lock: req.Lock}
	if !r.addSeenLocked(id, e, seenKey{peer: l.ID(), local: lst != nil}) {
		r.mu.Unlock()
		return
	}
	r.stats.requestsSeen.Add(1)
	_, wasGone := r.gone[req.Target]
	switch {
	case lst != nil && r.ticketsOn():
		// Opened under r.mu (an AES-GCM open, about a microsecond), so
		// copies arriving meanwhile find the entry answerable.
		o, err := r.issuer.open(req.Ticket[:], req.Target)
		if err != nil {
			r.mu.Unlock()
			r.stats.ticketsRefused.Add(1)
			r.log.Debug("ticket refused", "conn", id.String(), "err", err)
			if !errors.Is(err, ErrTicketUsed) { // a replay hears nothing
				l.Send(&TicketRefuse{ID: id})
			}
			return
		}
		if tn, ok := r.ticketInboundLocked(l, req, id, lst, o); !ok {
			r.mu.Unlock()
			l.Send(&TicketRefuse{ID: id})
			return
		} else {
			e.inbound = true
			e.lst, e.key = lst, lst.key
			e.ackedVia = map[*peer.Link]bool{l: true}
			r.mu.Unlock()
			r.sendTicketAck(l, id, tn)
		}
	case lst != nil || wasGone:
		r.mu.Unlock()
		l.Send(&TicketRefuse{ID: id}) // the dialler's full handshake hears why
	case req.HopLimit == 0:
		r.mu.Unlock()
		r.stats.requestsDeadEnd.Add(1)
	default:
		var fwd []*peer.Link
		if req.Flags&wire.FlagFlood == 0 {
			for _, c := range r.routes.best(req.Target, r.cfg.Fanout, l, now) {
				fwd = append(fwd, c.link)
			}
		}
		if len(fwd) == 0 {
			fwd = r.neighbourLinksLocked(l)
		}
		e.sentAt = now
		r.mu.Unlock()
		if len(fwd) == 0 {
			r.stats.requestsDeadEnd.Add(1)
			return
		}
		if !n.fwd.Allow() {
			r.stats.requestsNotForwarded.Add(1)
			return
		}
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

// ticketInboundLocked makes the target's state of a ticket connection:
// a backlog slot, n_t, master', the ack's proof and confirm. It erases
// the ticket's secret. It returns the state, or false when the listener
// has no room.
func (r *Router) ticketInboundLocked(l *peer.Link, req *TicketRequest, id addr.ConnID, lst *Listener, o openedTicket) (*inboundState, bool) {
	defer clear(o.rs[:])
	share := max(cap(lst.queue)/max(len(r.nbrs), 1), min(cap(lst.queue), minBacklogShare))
	if !lst.reserve(l, share) {
		r.stats.acceptsRefused.Add(1)
		return nil, false
	}
	in := &inboundState{
		lst: lst, key: lst.key,
		paths:    make(map[uint32]*peer.Link),
		streamed: make(map[uint32]bool),
		expires:  r.now().Add(r.cfg.CircuitSetupTimeout),
		reserved: true, via: l,
		ticket: true, dialler: o.dialler,
	}
	if _, err := io.ReadFull(r.cfg.Rand, in.tNonce[:]); err != nil {
		lst.release(l)
		return nil, false
	}
	in.master = ticketMaster(id, o.rs, req.Nonce, in.tNonce)
	in.proof = ticketProof(o.rs, req.Nonce)
	in.confirm = ticketConfirm(in.master, id)
	r.inbound[id] = in
	return in, true
}

// sendTicketAck answers a ticket request over l on a new path of in.
func (r *Router) sendTicketAck(l *peer.Link, id addr.ConnID, in *inboundState) {
	r.mu.Lock()
	if len(in.paths) >= r.cfg.MaxAcks {
		r.mu.Unlock()
		return
	}
	in.nextPath++
	path := in.nextPath
	in.paths[path] = l
	ack := &TicketAck{ID: id, Path: path, Nonce: in.tNonce, Proof: in.proof, Confirm: in.confirm}
	r.mu.Unlock()
	if l.Send(ack) == nil {
		r.stats.acksSent.Add(1)
	}
}

// handleTicketDuplicate drops a ticket request already seen; at the
// target, a copy over another peer is answered on another path, as a
// connect request's copies are (the dialler's backups). A copy carries
// the same ticket, n_d and lock: it is the same request, and whoever
// sent it learns nothing it can use without rs.
func (r *Router) handleTicketDuplicate(l *peer.Link, id addr.ConnID) bool {
	r.mu.Lock()
	e := r.seen[id]
	if e == nil {
		r.mu.Unlock()
		return false
	}
	r.stats.requestsDuplicate.Add(1)
	in := r.inbound[id]
	if !e.ticket || !e.inbound || in == nil || !in.ticket || e.ackedVia[l] || len(e.ackedVia) >= r.cfg.MaxAcks || e.lst.isClosed() {
		r.mu.Unlock()
		return true
	}
	e.ackedVia[l] = true
	r.mu.Unlock()
	r.sendTicketAck(l, id, in)
	return true
}

// handleTicketAck checks a ticket ack's proof against the lock of the
// request it answers (one hash), then records the circuit and passes it
// upstream, or hands it to the local dial.
func (r *Router) handleTicketAck(l *peer.Link, ack *TicketAck) {
	r.mu.Lock()
	e := r.seen[ack.ID]
	r.mu.Unlock()
	if e == nil {
		r.stats.acksUnknown.Add(1)
		return
	}
	if !e.ticket || !checkTicketProof(e.lock, ack.Proof) || len(ack.Hops) >= wire.MaxHops-1 {
		r.stats.acksInvalid.Add(1)
		return
	}
	cack := &wire.ConnectAck{ID: ack.ID, Path: ack.Path, Hops: ack.Hops}
	if e.from == nil {
		if err := billing.CheckQuotes(cack, r.now()); err != nil {
			r.stats.acksInvalid.Add(1)
			return
		}
		price := billing.PathPrice(ack.Hops)
		r.mu.Lock()
		r.learnLocked(e.target, l, len(ack.Hops)+1, r.now().Sub(e.sentAt), price)
		d := r.dials[ack.ID]
		r.mu.Unlock()
		r.observe(l).acksBack.Add(1)
		if d != nil {
			d.deliver(dialEvent{id: ack.ID, link: l, ack: cack, price: price, overPrice: price > e.maxPrice,
				tKey: d.ticketKey, ticket: true, tNonce: ack.Nonce, confirm: ack.Confirm})
		}
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

// handleTicketRefuse passes a ticket refusal toward the dialler.
func (r *Router) handleTicketRefuse(l *peer.Link, m *TicketRefuse) {
	r.mu.Lock()
	e := r.seen[m.ID]
	var d *dialState
	if e != nil && e.from == nil {
		d = r.dials[m.ID]
	}
	r.mu.Unlock()
	if e == nil || !e.ticket {
		r.stats.acksUnknown.Add(1)
		return
	}
	if e.from == nil {
		if d != nil {
			d.deliver(dialEvent{id: m.ID, link: l, ticketRefused: true})
		}
		return
	}
	if e.from.Send(m) == nil {
		r.stats.acksRelayed.Add(1)
	}
}

// relayAck records the circuit of an ack this relay checked, coming from
// l for the request e on path, and returns the neighbour to pass it to
// and this relay's hop; false when it must be dropped (over a budget or
// the dialler's price, a duplicate, too many acks for the request).
func (r *Router) relayAck(l *peer.Link, e *seenEntry, id addr.ConnID, path uint32, hops []wire.Hop) (*peer.Link, wire.Hop, bool) {
	down := billing.PathPrice(hops)
	price := r.price()
	// An ack over the dialler's limit is passed on, so it can say why it
	// found no path, but no circuit is kept for it: no stream will come.
	over := down+price < down || down+price > e.maxPrice
	key := relay.Key{ID: id, Path: path}
	r.mu.Lock()
	if e.relayed >= r.cfg.MaxAcks {
		r.mu.Unlock()
		return nil, wire.Hop{}, false
	}
	if over {
		if r.relay.Has(key) {
			r.mu.Unlock()
			return nil, wire.Hop{}, false
		}
		r.stats.acksOverPrice.Add(1)
	} else if err := r.relay.Add(key, relay.Circuit{Up: relayLink{e.from}, Down: relayLink{l}, Target: e.target,
		Expires: r.now().Add(r.cfg.CircuitSetupTimeout), UpRate: down + price, DownRate: down}); err != nil {
		r.mu.Unlock()
		if errors.Is(err, relay.ErrOverBudget) {
			// No circuit, so no ack upstream: the dialler uses
			// another of its paths.
			r.log.Debug("dropping ack", "conn", id.String(), "path", path, "err", err)
		}
		return nil, wire.Hop{}, false // over a budget, a duplicate, or the router is closing
	}
	e.relayed++
	// The target is len(hops)+1 links away through l.
	r.learnLocked(e.target, l, len(hops)+1, r.now().Sub(e.sentAt), down)
	up := e.from
	r.mu.Unlock()
	r.observe(l).acksBack.Add(1)
	return up, r.quote(id, path), true
}

// ticketSessionHook sets a dialler's session up to keep the tickets its
// target sends, and a connection dialled with a ticket (resumed) to
// rekey with an ephemeral ECDH in its first round trip (session's
// rekey.go): the next ticket then comes from the rekeyed secret, and the
// ticket ack's backup paths, keyed from master', are dropped, so a
// failover takes a fresh path with an ECDH of its own.
func (r *Router) ticketSessionHook(cfg *session.Config, d *dialState, identity *keyPair, tKey *btcec.PublicKey, master [32]byte, f *finder, rk *session.RekeyKey) {
	if !r.ticketable(d, identity) {
		return
	}
	target := d.target
	var mu sync.Mutex
	cfg.OnTicket = func(body []byte) {
		mu.Lock()
		m := master
		mu.Unlock()
		r.keepTicket(target, tKey, m, body)
	}
	if rk != nil {
		cfg.Rekey = rk
		cfg.OnRekey = func(m [32]byte) []byte {
			mu.Lock()
			master = m
			mu.Unlock()
			f.dropTicketBackups()
			r.stats.ticketRekeys.Add(1)
			return nil
		}
	}
}

// targetRekey is the target's session.Config.OnRekey for a connection
// dialled with a ticket: it counts the rekey and issues the next ticket
// from the rekeyed secret.
func (r *Router) targetRekey(key *keyPair, dialler *btcec.PublicKey) func([32]byte) []byte {
	return func(m [32]byte) []byte {
		r.stats.ticketRekeys.Add(1)
		return r.ticketRecord(m, key, dialler)
	}
}
