package route

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/foxtrotnet/foxtrot/internal/codec"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// Scan-key adverts (SPEC.md §3, "Advert"). A stealth listener that opts
// in (StealthOptions.Advertise) sends its scan key's fingerprint to its
// peers; each passes it on, one hop further, with the latency and price
// of the way back, while it is within Config.AdvertRadius links of the
// advertiser. Every node that hears one learns a route toward the
// advertiser in its route table under advertRouteKey(fingerprint), as an
// ack teaches a route toward a key: requests of kind TargetStealthAdvert
// are then directed along those routes as any request is along learned
// ones, and flood where none is known.
//
// Adverts cost little and are bounded: a node passes a fingerprint on only
// when it first hears it, hears it over a shorter way, or its last copy is
// half an interval old, and then Config.AdvertDelay later, once for the
// whole wave, leaving out the peers that said they are no farther from
// the advertiser; what it sends each peer goes through a token
// bucket of bytes (Config.AdvertRate, Reticulum's 2% of a link); it keeps
// at most Config.MaxAdverts fingerprints, at most Config.MaxAdvertsPerPeer
// of them first heard from any one peer, each expiring AdvertTTL after it
// was last heard. Adverts are not signed: a node that advertises a
// fingerprint it does not serve draws requests it cannot answer, which
// the dialler's flood fallback then gets past (as a node that drops
// requests).

// TypeAdvert is the control message type of an advert: optional (high
// bit), so a peer that does not know it ignores it.
const TypeAdvert wire.Type = 0xa0

// AdvertSize is the encoded body size of an Advert.
const AdvertSize = stealth.FingerprintSize + 1 + 4 + 8

// Advert tells a peer that the holder of a stealth address's scan key is
// Hops+1 links away through the sender.
type Advert struct {
	Fingerprint stealth.Fingerprint
	// Hops counts the links between the sender and the advertiser: 0
	// when the sender advertises itself.
	Hops uint8
	// Latency is the sender's estimate of its one-way latency to the
	// advertiser, in milliseconds (half the link RTTs on the way, summed).
	Latency uint32
	// Price is the sum of the relays' prices per MiB between the
	// receiver and the advertiser, the sender's own included.
	Price uint64
}

// Type returns TypeAdvert.
func (*Advert) Type() wire.Type { return TypeAdvert }

// AppendBody appends the advert's body.
func (m *Advert) AppendBody(b []byte) []byte {
	b = append(b, m.Fingerprint[:]...)
	b = append(b, m.Hops)
	b = append(b, byte(m.Latency>>24), byte(m.Latency>>16), byte(m.Latency>>8), byte(m.Latency))
	for i := 7; i >= 0; i-- {
		b = append(b, byte(m.Price>>(8*i)))
	}
	return b
}

// DecodeAdvert parses an advert's body (a wire.DecodeFunc): exactly
// AdvertSize bytes, Hops below wire.MaxHops.
func DecodeAdvert(body []byte) (wire.Message, error) {
	d := codec.NewReader(body, ErrBadAdvert)
	m := new(Advert)
	d.Copy(m.Fingerprint[:])
	m.Hops = d.U8()
	m.Latency = d.U32()
	m.Price = d.U64()
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("%d trailing bytes", d.Len())
	}
	if d.Err() == nil && int(m.Hops) >= wire.MaxHops {
		d.Fail("hop count %d", m.Hops)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// adverts is a router's advert state. Its mutex is never held with the
// router's.
type adverts struct {
	mu      sync.Mutex
	own     map[stealth.Fingerprint]*Listener // our advertising listeners
	known   map[stealth.Fingerprint]*advertEntry
	perPeer map[*peer.Link]int           // fingerprints first heard from each peer
	buckets map[*peer.Link]*rate.Limiter // bytes each peer may still be sent
	pending map[stealth.Fingerprint]bool // to pass on at the next flush
	kick    chan struct{}                // wakes advertLoop
	lastOwn time.Time                    // when our own adverts last went out

	sent, received, dropped, limited atomic.Int64
}

// advertEntry is a fingerprint this node heard of.
type advertEntry struct {
	hops    int // links to the advertiser, the best way heard
	latency time.Duration
	price   uint64
	via     *peer.Link // the peer it was first heard from (counted in perPeer)
	// heard is each peer's own distance to the advertiser, as its advert
	// said: a peer no farther than we are gains nothing from ours.
	heard     map[*peer.Link]int
	expires   time.Time
	forwarded time.Time // when it was last passed on
}

func newAdverts() *adverts {
	return &adverts{
		own:     make(map[stealth.Fingerprint]*Listener),
		known:   make(map[stealth.Fingerprint]*advertEntry),
		perPeer: make(map[*peer.Link]int),
		buckets: make(map[*peer.Link]*rate.Limiter),
		pending: make(map[stealth.Fingerprint]bool),
		kick:    make(chan struct{}, 1),
	}
}

// AdvertStats are the counters of a router's adverts.
type AdvertStats struct {
	Sent     int64 // adverts sent to peers, ours and passed on
	Received int64 // adverts received
	Dropped  int64 // received and dropped: beyond the radius, or a table bound
	Limited  int64 // not sent: a peer's byte budget was spent
	Known    int   // fingerprints known now
	Pending  int   // fingerprints waiting to be passed on (Config.AdvertDelay)
}

// AdvertStats returns the advert counters.
func (r *Router) AdvertStats() AdvertStats {
	a := r.adv
	a.mu.Lock()
	known, pending := len(a.known), len(a.pending)
	a.mu.Unlock()
	return AdvertStats{Sent: a.sent.Load(), Received: a.received.Load(), Dropped: a.dropped.Load(),
		Limited: a.limited.Load(), Known: known, Pending: pending}
}

// AdvertProtocol is the advert protocol, to register with the node's
// peer set (peer.Set.Register) beside the router as its Handler.
func (r *Router) AdvertProtocol() peer.Protocol {
	return peer.Protocol{
		Name: "advert",
		Messages: []peer.MessageType{{
			Type:   TypeAdvert,
			Decode: DecodeAdvert,
			Handle: func(l *peer.Link, m wire.Message) { r.handleAdvert(l, m.(*Advert)) },
		}},
		LinkUp:   r.advertLinkUp,
		LinkDown: r.advertLinkDown,
	}
}

// startAdvert advertises fp for l until l closes: at once to every peer,
// then every Config.AdvertInterval.
func (r *Router) startAdvert(l *Listener, fp stealth.Fingerprint) {
	a := r.adv
	now := r.now()
	a.mu.Lock()
	a.own[fp] = l
	if a.lastOwn.IsZero() {
		a.lastOwn = now // the next round is an interval away
	}
	a.mu.Unlock()
	r.mu.Lock()
	links := r.neighbourLinksLocked(nil)
	r.mu.Unlock()
	for _, to := range links {
		r.sendAdvert(to, &Advert{Fingerprint: fp}, now)
	}
}

// sendAdvert sends m to l if l's byte budget allows.
func (r *Router) sendAdvert(l *peer.Link, m *Advert, now time.Time) {
	a := r.adv
	a.mu.Lock()
	b := a.buckets[l]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(r.cfg.AdvertRate), r.cfg.AdvertBurst)
		a.buckets[l] = b
	}
	ok := b.AllowN(now, advertFrameSize)
	a.mu.Unlock()
	if !ok {
		a.limited.Add(1)
		return
	}
	if l.Send(m) == nil {
		a.sent.Add(1)
	}
}

// advertFrameSize is what one advert costs a link's budget: the control
// frame's length and type, and the body.
const advertFrameSize = 4 + 1 + AdvertSize

// handleAdvert learns a route toward an advertiser and passes the advert
// on while it is within the radius.
func (r *Router) handleAdvert(l *peer.Link, m *Advert) {
	a := r.adv
	a.received.Add(1)
	now := r.now()
	hops := int(m.Hops) + 1
	latency := time.Duration(m.Latency)*time.Millisecond + l.RTT()/2
	a.mu.Lock()
	if _, mine := a.own[m.Fingerprint]; mine || hops > int(r.cfg.AdvertRadius) {
		a.mu.Unlock()
		a.dropped.Add(1)
		return
	}
	e := a.known[m.Fingerprint]
	fresh := e == nil
	if fresh {
		if len(a.known) >= r.cfg.MaxAdverts || a.perPeer[l] >= r.cfg.MaxAdvertsPerPeer {
			a.mu.Unlock()
			a.dropped.Add(1)
			return
		}
		e = &advertEntry{hops: hops, via: l, heard: make(map[*peer.Link]int)}
		a.known[m.Fingerprint] = e
		a.perPeer[l]++
	}
	e.heard[l] = int(m.Hops)
	better := fresh || hops < e.hops
	shortest := hops <= e.hops
	if shortest {
		e.hops, e.latency, e.price = hops, latency, m.Price
	}
	e.expires = now.Add(3 * r.cfg.AdvertInterval)
	pass := hops < int(r.cfg.AdvertRadius) && (better || now.Sub(e.forwarded) >= r.cfg.AdvertInterval/2)
	if pass && !a.pending[m.Fingerprint] {
		// Passed on after Config.AdvertDelay, with the best way heard by
		// then: the copies of one wave that arrive meanwhile, over longer
		// or shorter ways, cost nothing more.
		a.pending[m.Fingerprint] = true
		e.forwarded = now
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()

	r.mu.Lock()
	if shortest {
		// Only the neighbours on a shortest way lead closer: a copy over
		// a longer way came from a peer no nearer the advertiser than we
		// are, and a request sent there would wander.
		key := advertRouteKey(m.Fingerprint)
		if r.routes.learn(key, l, hops, latency, m.Price, now, len(r.nbrs)) {
			r.routes.keepShortest(key)
		} else {
			r.stats.routesOverShare.Add(1) // l holds its share of the route table
		}
	}
	r.mu.Unlock()
}

// advertLoop passes on the adverts handleAdvert marked, Config.AdvertDelay
// after the first of a batch. The router owns it: it ends with r.ctx.
func (r *Router) advertLoop() {
	defer r.wg.Done()
	a := r.adv
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-a.kick:
		}
		t := time.NewTimer(r.cfg.AdvertDelay)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.flushAdverts(r.now())
	}
}

// flushAdverts passes on every pending advert: to each peer but those
// whose own adverts said they are no farther from the advertiser than we
// are (the peers we heard it from among them), who would gain nothing.
func (r *Router) flushAdverts(now time.Time) {
	a := r.adv
	type batch struct {
		out    Advert
		nearer map[*peer.Link]bool
	}
	var out []batch
	a.mu.Lock()
	for fp := range a.pending {
		delete(a.pending, fp)
		e := a.known[fp]
		if e == nil || e.hops >= int(r.cfg.AdvertRadius) {
			continue
		}
		b := batch{out: Advert{Fingerprint: fp, Hops: uint8(e.hops), Latency: uint32(min(e.latency.Milliseconds(), 1<<32-1)),
			Price: addPrice(e.price, r.price())}, nearer: make(map[*peer.Link]bool)}
		for p, d := range e.heard {
			if d <= e.hops {
				b.nearer[p] = true
			}
		}
		out = append(out, b)
	}
	a.mu.Unlock()
	if len(out) == 0 {
		return
	}
	r.mu.Lock()
	links := r.neighbourLinksLocked(nil)
	r.mu.Unlock()
	for _, b := range out {
		for _, to := range links {
			if !b.nearer[to] {
				r.sendAdvert(to, &b.out, now)
			}
		}
	}
}

// advertLinkUp tells a new peer of our own adverts and of those we pass
// on, so it need not wait for the next round.
func (r *Router) advertLinkUp(l *peer.Link) {
	a := r.adv
	now := r.now()
	var out []*Advert
	a.mu.Lock()
	for fp, lst := range a.own {
		if !lst.isClosed() {
			out = append(out, &Advert{Fingerprint: fp})
		}
	}
	for fp, e := range a.known {
		if e.hops < int(r.cfg.AdvertRadius) && now.Before(e.expires) {
			out = append(out, &Advert{Fingerprint: fp, Hops: uint8(e.hops),
				Latency: uint32(min(e.latency.Milliseconds(), 1<<32-1)), Price: addPrice(e.price, r.price())})
		}
	}
	a.mu.Unlock()
	for _, m := range out {
		r.sendAdvert(l, m, now)
	}
}

// advertLinkDown forgets a peer's budget and its count of fingerprints;
// the route table drops the routes through it itself.
func (r *Router) advertLinkDown(l *peer.Link, _ error) {
	a := r.adv
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.buckets, l)
	delete(a.perPeer, l)
	for _, e := range a.known {
		if e.via == l {
			e.via = nil
		}
		delete(e.heard, l)
	}
}

// advertTick expires what was not heard again, and sends our own adverts
// every Config.AdvertInterval. The janitor calls it.
func (r *Router) advertTick(now time.Time) {
	a := r.adv
	var gone []stealth.Fingerprint
	var own []stealth.Fingerprint
	a.mu.Lock()
	for fp, e := range a.known {
		if now.After(e.expires) {
			gone = append(gone, fp)
			if e.via != nil {
				a.perPeer[e.via]--
			}
			delete(a.known, fp)
		}
	}
	for fp, lst := range a.own {
		if lst.isClosed() {
			delete(a.own, fp)
		}
	}
	if now.Sub(a.lastOwn) >= r.cfg.AdvertInterval {
		a.lastOwn = now
		for fp := range a.own {
			own = append(own, fp)
		}
	}
	a.mu.Unlock()
	r.mu.Lock()
	for _, fp := range gone {
		delete(r.routes.targets, advertRouteKey(fp))
	}
	var links []*peer.Link
	if len(own) > 0 {
		links = r.neighbourLinksLocked(nil)
	}
	r.mu.Unlock()
	for _, fp := range own {
		for _, l := range links {
			r.sendAdvert(l, &Advert{Fingerprint: fp}, now)
		}
	}
}

// advertDefaults sets the advert settings' defaults and names the
// negative ones.
func (c *Config) advertDefaults() []string {
	var bad []string
	if c.AdvertRadius == 0 {
		c.AdvertRadius = 4
	}
	if c.AdvertInterval < 0 || c.AdvertRate < 0 || c.AdvertBurst < 0 || c.MaxAdverts < 0 || c.MaxAdvertsPerPeer < 0 {
		bad = append(bad, "an advert setting")
	}
	if c.AdvertInterval <= 0 {
		c.AdvertInterval = 30 * time.Second
	}
	if c.AdvertDelay < 0 {
		bad = append(bad, "AdvertDelay")
	}
	if c.AdvertDelay == 0 {
		c.AdvertDelay = 50 * time.Millisecond
	}
	if c.AdvertRate <= 0 {
		c.AdvertRate = 2500
	}
	if c.AdvertBurst <= 0 {
		c.AdvertBurst = 4096
	}
	if c.MaxAdverts <= 0 {
		c.MaxAdverts = 4096
	}
	if c.MaxAdvertsPerPeer <= 0 {
		c.MaxAdvertsPerPeer = 256
	}
	return bad
}

// keepShortest drops target's candidates that are more hops away than
// its nearest.
func (t *table) keepShortest(target [20]byte) {
	e := t.targets[target]
	if e == nil {
		return
	}
	best := -1
	for _, c := range e.cands {
		if best < 0 || c.hops < best {
			best = c.hops
		}
	}
	kept := e.cands[:0]
	for _, c := range e.cands {
		if c.hops == best {
			kept = append(kept, c)
		}
	}
	for i := len(kept); i < len(e.cands); i++ {
		e.cands[i] = nil
	}
	e.cands = kept
}

// addPrice adds prices, saturating: a peer's advert may say anything.
func addPrice(a, b uint64) uint64 {
	if a+b < a {
		return ^uint64(0)
	}
	return a + b
}
