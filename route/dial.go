package route

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/pipe"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/session"
)

// dialEvent is an answer to one of a dial's requests.
type dialEvent struct {
	id         addr.ConnID // the request's connection ID
	eph        *keyPair    // the request's ephemeral key
	link       *peer.Link  // where the answer came from
	ack        *wire.ConnectAck
	tKey, tEph *btcec.PublicKey
	refuse     *wire.ConnectRefuse
	price      uint64 // the path's price per MiB, as quoted
	overPrice  bool   // more than the request allowed
	// A ticket dial's answer (ticketdial.go): ack holds its ID, path and
	// hops only; tNonce and confirm the rest. ticketRefused: the target
	// will not take the ticket.
	ticket, ticketRefused bool
	tNonce                [16]byte
	confirm               [32]byte
}

// dialState collects the answers to the requests made for one target.
// Once a session exists, further acks become its backup paths.
type dialState struct {
	kind   uint8 // the requests' target kind
	target [20]byte
	events chan dialEvent

	mu     sync.Mutex
	reqs   map[addr.ConnID]*keyPair // request ID -> its ephemeral key
	finder *finder                  // the session's, once there is one

	// fixed, if set, holds the fields every request of the dial (and of
	// its connection's fresh paths) repeats: a stealth target is derived
	// from the ephemeral key and nonce (see stealth.go).
	fixed *fixedRequest
	// ticketKey is the target's key for a ticket dial (its acks do not
	// carry it).
	ticketKey *btcec.PublicKey
	// hopLimit, if not 0, is the hop limit of the dial's requests instead
	// of Config.HopLimit (DialWithin).
	hopLimit uint8
}

// hops returns the hop limit of d's requests.
func (d *dialState) hops(r *Router) uint8 {
	if d.hopLimit != 0 {
		return d.hopLimit
	}
	return r.cfg.HopLimit
}

func (d *dialState) eph(id addr.ConnID) *keyPair {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reqs[id]
}

func (d *dialState) deliver(ev dialEvent) {
	d.mu.Lock()
	f := d.finder
	d.mu.Unlock()
	if f != nil {
		f.addBackup(ev)
		return
	}
	select {
	case d.events <- ev:
	default: // more answers than we will ever use
	}
}

// forgetDial unregisters a dial's requests: later answers are dropped.
func (r *Router) forgetDial(d *dialState) {
	d.mu.Lock()
	ids := make([]addr.ConnID, 0, len(d.reqs))
	for id := range d.reqs {
		ids = append(ids, id)
	}
	d.mu.Unlock()
	r.mu.Lock()
	for _, id := range ids {
		if r.dials[id] == d {
			delete(r.dials, id)
		}
	}
	r.mu.Unlock()
}

// sendRequest makes a request for d's target and sends it: to the best
// next hops the route table knows, or, if it knows none or flags asks for
// it, to every peer. It returns how long a directed request deserves
// before the dial floods (0 if this one flooded).
func (r *Router) sendRequest(d *dialState, flags uint8) (time.Duration, error) {
	req, eph, err := d.newRequest(r, flags)
	if err != nil {
		return 0, err
	}
	id := req.ID()
	now := r.now()
	d.mu.Lock()
	d.reqs[id] = eph
	d.mu.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return 0, ErrClosed
	}
	r.addSeenLocked(id, &seenEntry{target: d.target, dEph: req.Ephemeral, sentAt: now, maxPrice: req.MaxPrice, expires: now.Add(2 * r.cfg.MaxClockSkew)}, seenKey{self: true})
	r.dials[id] = d
	var wait time.Duration
	links := r.neighbourLinksLocked(nil)
	if flags&wire.FlagFlood == 0 {
		if cands := r.routes.best(d.routeKey(), r.cfg.Fanout, nil, now); len(cands) > 0 {
			links = links[:0]
			for _, c := range cands {
				links = append(links, c.link)
			}
			wait = max(time.Duration(r.cfg.DirectedWait*float64(cands[0].latency)), r.cfg.MinDirectedWait)
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
	r.log.Debug("connect request sent", "conn", id.String(), "target", addr.FromHash160(d.target).String(),
		"peers", sent, "directed", wait > 0, "flood", flags&wire.FlagFlood != 0)
	if sent == 0 {
		return 0, fmt.Errorf("%w to %s: no peers", ErrNoRoute, addr.FromHash160(d.target).String())
	}
	return wait, nil
}

// maxPrice is what this node's dials pay per MiB at most.
func (r *Router) maxPrice() uint64 {
	if r.bill == nil {
		return 0
	}
	return r.bill.MaxPrice()
}

// awaitAck sends d's first request and returns the best usable answer. A
// request that went to known next hops is followed by a flood if nothing
// came back within its wait. The first free path wins (it is the
// fastest); when paths cost money, answers are collected for a moment
// (as long as the first took, between 5 and 50 ms) and the cheapest is
// taken, the others kept as backups.
func (r *Router) awaitAck(ctx context.Context, d *dialState) (dialEvent, error) {
	start := r.now()
	wait, err := r.sendRequest(d, 0)
	if err != nil {
		return dialEvent{}, err
	}
	var flood <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		flood = t.C
	}
	var best *dialEvent
	var window <-chan time.Time
	cheapest := ^uint64(0)
	retryWait, retries := r.firstRetryWait()
	sched := newRetrySchedule(start, retryWait, retries)
	again, stopRetry := r.retryTimer(sched)
	defer func() { stopRetry() }()
	for {
		select {
		case <-again: // no answer yet: the request may have met a dead end
			if best == nil && window == nil {
				if err := r.retry(d, sched); err != nil {
					return dialEvent{}, err
				}
				stopRetry()
				again, stopRetry = r.retryTimer(sched)
			} else {
				again = nil
			}
		case ev := <-d.events:
			if ev.refuse != nil {
				return ev, fmt.Errorf("%w by %s: %s", ErrRefused, addr.FromHash160(d.target).String(), refuseReason(ev.refuse.Reason))
			}
			if ev.overPrice {
				cheapest = min(cheapest, ev.price)
				if window == nil { // wait a moment for a cheaper path, then say why
					w := min(max(r.now().Sub(start), 5*time.Millisecond), 50*time.Millisecond)
					t := time.NewTimer(w)
					defer t.Stop()
					window = t.C
				}
				continue
			}
			if best == nil && window == nil {
				r.answered(r.now().Sub(start))
			}
			if ev.price == 0 && best == nil {
				return ev, nil
			}
			switch {
			case best == nil:
				best = &ev
				w := min(max(r.now().Sub(start), 5*time.Millisecond), 50*time.Millisecond)
				t := time.NewTimer(w)
				defer t.Stop()
				window = t.C
			case ev.price < best.price:
				d.deliver(*best) // a backup
				best = &ev
			default:
				d.deliver(ev)
			}
		case <-window:
			if best != nil {
				return *best, nil
			}
			return dialEvent{}, fmt.Errorf("%w: the cheapest path to %s costs %d sat/MiB, the limit is %d",
				ErrTooExpensive, addr.FromHash160(d.target).String(), cheapest, r.maxPrice())
		case <-flood:
			flood = nil
			r.stats.directedTimeouts.Add(1)
			if _, err := r.sendRequest(d, wire.FlagFlood); err != nil {
				return dialEvent{}, err
			}
		case <-ctx.Done():
			if r.ctx.Err() != nil {
				return dialEvent{}, ErrClosed
			}
			if best != nil {
				return *best, nil
			}
			if cheapest != ^uint64(0) {
				return dialEvent{}, fmt.Errorf("%w: the cheapest path to %s costs %d sat/MiB, the limit is %d",
					ErrTooExpensive, addr.FromHash160(d.target).String(), cheapest, r.maxPrice())
			}
			r.log.Debug("no answer", "target", addr.FromHash160(d.target).String(), "requests", len(d.reqs), "err", ctx.Err())
			return dialEvent{}, fmt.Errorf("no answer from %s: %w", addr.FromHash160(d.target).String(), ctx.Err())
		}
	}
}

func (r *Router) newDial(kind uint8, target [20]byte) *dialState {
	return &dialState{kind: kind, target: target, events: make(chan dialEvent, 16), reqs: make(map[addr.ConnID]*keyPair)}
}

// Dial connects to the key whose HASH160 is target, proving identity
// (the node's identity when nil) to the listener. It returns when the
// first ack has come back and the data stream is open: the caller can
// write at once. The other acks that arrive become backup paths. Errors
// wrap ErrNoRoute (no peer to ask), ErrRefused (the target refused),
// ErrClosed, or the context's error (DeadlineExceeded when no answer came
// in time, which is what an address nobody listens on gives). A dial whose
// context has no deadline gets Config.DialTimeout.
func (r *Router) Dial(ctx context.Context, identityKey *btcec.PrivateKey, target [20]byte) (*Session, error) {
	return r.DialKind(ctx, identityKey, wire.TargetAddr, target)
}

// DialKind is Dial for a target of another kind (see Matcher): its
// requests carry kind, and the listener whose Matcher recognises them
// answers with a key that hashes to target. Only key targets
// (TargetAddr) are found on this node itself; a kind whose target hash
// changes per request (a stealth address) needs more than this and is
// not supported yet.
func (r *Router) DialKind(ctx context.Context, identityKey *btcec.PrivateKey, kind uint8, target [20]byte) (*Session, error) {
	return r.dial(ctx, identityKey, r.newDial(kind, target))
}

// DialWithin is Dial whose requests have hop limit hopLimit instead of
// Config.HopLimit (0, or more than Config.HopLimit, means Config.HopLimit): they are forwarded at most
// hopLimit times, so nodes up to hopLimit+1 links away see them. For a
// dial whose target a directory (the DHT) could not place, so that its
// flood stays near this node. A target farther away is not reached, as if
// nobody listened.
func (r *Router) DialWithin(ctx context.Context, identityKey *btcec.PrivateKey, target [20]byte, hopLimit uint8) (*Session, error) {
	d := r.newDial(wire.TargetAddr, target)
	d.hopLimit = min(hopLimit, r.cfg.HopLimit)
	return r.dial(ctx, identityKey, d)
}

// dial is DialKind for a dial made ready: d names the target, and may fix
// fields every request repeats.
func (r *Router) dial(ctx context.Context, identityKey *btcec.PrivateKey, d *dialState) (*Session, error) {
	identity := r.id
	if identityKey != nil && identityKey != r.cfg.Identity {
		identity = newKeyPair(identityKey)
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
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if lst, key := r.localListener(d); lst != nil {
		return r.dialLocal(identity, lst, key)
	}
	if r.ticketable(d, identity) {
		if h, ok := r.tickets.take(d.target); ok {
			// Its own dial state: a late answer to the ticket request
			// must never reach the full handshake's.
			s, err := r.dialTicket(ctx, identity, r.newDial(d.kind, d.target), h)
			if err == nil {
				return s, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			r.stats.ticketFallbacks.Add(1)
			r.log.Debug("ticket dial fell back to a full handshake", "target", addr.FromHash160(d.target).String(), "err", err)
		}
	}

	var lastErr error
	for {
		ev, err := r.awaitAck(ctx, d)
		if err != nil {
			// A late ack finds no dial and is dropped: a dial that gave up
			// never connects afterwards.
			r.forgetDial(d)
			if lastErr != nil && ctx.Err() != nil {
				err = fmt.Errorf("%w (after %w)", err, lastErr)
			}
			return nil, err
		}
		s, err := r.connect(ctx, identity, d, ev)
		if err == nil {
			return s, nil
		}
		lastErr = err // try the next ack, if one comes
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
func (r *Router) connect(ctx context.Context, identity *keyPair, d *dialState, ev dialEvent) (*Session, error) {
	master := dialerSecret(ev.id, ev.eph, ev.tKey, ev.tEph)
	helloH := helloHash(ev.id, ev.eph.ser, ev.ack.TargetKey, ev.ack.Ephemeral)
	return r.connectWith(ctx, identity, d, ev, master, buildHello(identity, helloH, pathHops(ev.ack.Hops)), nil)
}

// connectWith is connect once the connection's master secret and the
// hello are made (by a full handshake, or a ticket: ticketdial.go).
// rk, for a ticket connection, is the key of its rekey.
func (r *Router) connectWith(ctx context.Context, identity *keyPair, d *dialState, ev dialEvent, master [32]byte, hello []byte, rk *session.RekeyKey) (*Session, error) {
	hops := pathHops(ev.ack.Hops)
	stream, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: ev.id, Path: ev.ack.Path})
	if err != nil {
		return nil, fmt.Errorf("%w: opening the data stream: %w", ErrPathBroken, err)
	}
	f := r.newFinder(d.kind, d.target, ev.tKey, ev.id, master)
	f.fixed = d.fixed
	f.ticket, f.confirm = ev.ticket, ev.confirm
	cfg := r.sessionConfig(ev.id, true, identity.pub, ev.tKey, master)
	cfg.Hello = hello
	cfg.Finder = f
	r.ticketSessionHook(&cfg, d, identity, ev.tKey, master, f, rk)
	cfg.OnEnd = func(s *Session) {
		r.forgetDial(d)
		r.removeSession(s)
	}
	s := session.New(cfg)
	f.done = s.Done()
	if err := r.addSession(s); err != nil {
		stream.Close()
		s.Abort(err)
		return nil, err
	}
	// From now on the dial's other acks are this session's backups.
	d.mu.Lock()
	d.finder = f
	d.mu.Unlock()
	for {
		select {
		case b := <-d.events:
			f.addBackup(b)
			continue
		default:
		}
		break
	}
	p := r.newPath(stream, ev.link, hops, ev.id, ev.ack.Path, master, true, ev.price, !r.cfg.EncryptDirect && len(hops) == 0)
	f.use(p, ev.link)
	s.Start(p)
	return s, nil
}

// requestPath asks the network again for f's target (a failover's fresh
// path): the answers become f's backups after the first.
func (r *Router) requestPath(ctx context.Context, f *finder) (dialEvent, error) {
	d := r.newDial(f.kind, f.target)
	d.fixed = f.fixed // the same one-time target, for a stealth address
	ev, err := r.awaitAck(ctx, d)
	if err != nil {
		r.forgetDial(d)
		return ev, err
	}
	d.mu.Lock()
	d.finder = f
	d.mu.Unlock()
	go func() {
		// The rest of this request's answers arrive as backups until the
		// seen entries expire; then the dial is forgotten.
		t := time.NewTimer(2 * r.cfg.MaxClockSkew)
		defer t.Stop()
		select {
		case <-t.C:
		case <-f.done:
		case <-r.ctx.Done():
		}
		r.forgetDial(d)
	}()
	return ev, nil
}

// buildHello makes the dialler's hello body: its identity key, a
// signature over helloH, and the path's relays (so the target knows them).
func buildHello(identity *keyPair, helloH [32]byte, hops []Hop) []byte {
	b := make([]byte, 0, helloMin+20*len(hops))
	b = append(b, identity.ser[:]...)
	sig := sign(identity.priv, helloH)
	b = append(b, sig[:]...)
	b = append(b, byte(len(hops)))
	for _, h := range hops {
		b = append(b, h.Node[:]...)
	}
	return b
}

// dialLocal connects to a listener of this very node over an in-memory
// pipe, with the same session layer as any other connection.
func (r *Router) dialLocal(identity *keyPair, lst *Listener, key *keyPair) (*Session, error) {
	if !lst.reserve(nil, 0) {
		r.stats.acceptsRefused.Add(1)
		return nil, fmt.Errorf("%w by %s: %s", ErrRefused, addr.FromPubKey(key.pub).String(), refuseReason(wire.RefuseBusy))
	}
	reserved := true // until the inbound state below holds the slot
	defer func() {
		if reserved {
			lst.release(nil)
		}
	}()
	var id addr.ConnID
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
	tKey := key.pub
	master := dialerSecret(id, dEph, tKey, tEph.pub)
	helloH := helloHash(id, dEph.ser, key.ser, tEph.ser)
	cfg := r.sessionConfig(id, true, identity.pub, tKey, master)
	cfg.Hello = buildHello(identity, helloH, nil)
	cfg.OnEnd = r.removeSession
	ds := session.New(cfg)
	r.mu.Lock()
	r.inbound[id] = &inboundState{lst: lst, key: lst.key, master: master, helloH: helloH,
		paths: map[uint32]*peer.Link{}, streamed: map[uint32]bool{1: true},
		expires: r.now().Add(r.cfg.CircuitSetupTimeout), reserved: true}
	reserved = false
	r.mu.Unlock()
	a, b := pipe.New(pipe.Options{})
	if err := r.addSession(ds); err != nil {
		ds.Abort(err)
		return nil, err
	}
	ds.Start(r.newPath(a, nil, nil, id, 1, master, true, 0, !r.cfg.EncryptDirect))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.acceptPath(lst, key, nil, b, wire.StreamHeader{ID: id, Path: 1}, master, helloH, nil)
	}()
	return ds, nil
}
