// Package route finds paths through relays and sets end-to-end
// connections up over them.
//
// # Connection setup
//
//	dialler            relay R1             relay R2             target
//	   │  request(ID)     │                    │                    │
//	   ├─────────────────►│  request (hop-1)   │                    │
//	   │                  ├───────────────────►│  request (hop-2)   │
//	   │                  │                    ├───────────────────►│
//	   │                  │                    │  ack(ID, path)     │
//	   │                  │  ack + [R2]        │◄───────────────────┤
//	   │  ack + [R2, R1]  │◄───────────────────┤ circuit ID/path:   │
//	   │◄─────────────────┤ circuit ID/path:   │ R1 ◄─► target      │
//	   │                  │ dialler ◄─► R2     │                    │
//	   │  stream(ID,path) │  stream(ID,path)   │  stream(ID,path)   │
//	   ├═════════════════►├═══════════════════►├═══════════════════►│
//	   │     hello, data records (end-to-end encrypted, spliced)    │
//
// A connect request names the target (HASH160 of its key), an ephemeral
// key that signs it, a nonce, a time, a hop limit and a price limit; its
// ID is HASH160 of all of it but the hop limit. It names no dialler. A
// node that sees a request for the first time records the peer it came
// from and forwards it to its other peers while the hop limit lasts;
// requests are deduplicated by ID, refused outside a clock-skew window
// (so a replay is either a duplicate or too old), checked for their
// signature, and rate limited per peer.
//
// The node listening on the target key answers each of the first few
// arrivals (Config.MaxAcks) with an ack carrying its key, an ephemeral key,
// a path number and a signature over the ID, both ephemeral keys and the
// path. The ack travels back along the reverse path; every relay checks
// the signature and that the key hashes to the target, records the
// circuit (ID, path) -> (upstream, downstream) in its circuit table
// (package relay), and appends itself to the ack's hop list.
//
// The dialler takes an ack, opens a stream to the peer the ack came from
// naming (ID, path); each relay's circuit table takes the stream, opens
// one to its downstream and splices the two. The router keeps the glue:
// a neighbour cut off for unpaid relaying is refused, relayed bytes are
// counted per neighbour and metered for billing, and a circuit's outcome
// teaches the route table. Both ends derive the session keys from ECDH
// of the two ephemeral keys, bound to the target's key, which signed the
// exchange; the dialler's first record is a hello with its identity key
// and a signature binding it to the exchange. From there package session
// carries the connection: the router hands each session its paths.
//
// A repeat dial skips the public-key work (ticketdial.go, SPEC.md section
// 6): over every connection to a key listener the target sends the
// dialler a single-use resumption ticket; the dialler's next Dial of the
// key sends it in a TicketRequest with a hash lock, the target answers
// with the lock's preimage, which each relay checks with one hash, and
// both ends key the connection from the ticket's secret and fresh nonces.
// A ticket the target cannot take is refused and the dial makes a full
// handshake at once; a replayed one is dropped silently. Once up, the two
// ends rekey the connection with an ephemeral ECDH (session's rekey.go),
// so its data is forward-secret after the first round trip.
//
// Tables are bounded and expire: seen requests after twice the skew
// window, circuits that never got a stream after Config.CircuitSetupTimeout,
// active circuits when their streams end. The tables peers fill are
// fair-shared among them (see seen.go and table), circuits are held to
// budgets of count and buffer memory per peer and in all, and a
// listener's backlog is reserved before a request is acked, so no one
// party can deny the node to the others.
package route

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/time/rate"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/relay"
	"github.com/foxtrotnet/foxtrot/session"
)

// Config configures a Router. Identity is required; every other field has
// the default its comment gives.
type Config struct {
	// Identity is the node's key: relays add its HASH160 to acks, and
	// dials prove it unless told otherwise.
	Identity *btcec.PrivateKey
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// HopLimit is the hop limit of requests this node makes. Default 8.
	HopLimit uint8
	// MaxClockSkew is how far a request's time may be from ours. Default 60s.
	MaxClockSkew time.Duration
	// RequestRate and RequestBurst limit the requests accepted from one
	// peer (per second, token bucket). Checking a request costs one
	// signature verification (~0.1 ms), so the defaults, 1000 and 1000,
	// cap that at about a tenth of a core per peer.
	RequestRate  float64
	RequestBurst int
	// MaxAcks is how many arrivals of one request a target answers, each
	// a separate path. Default 3.
	MaxAcks int
	// CircuitSetupTimeout is how long a circuit waits for its stream after
	// the ack passed. Default 30s.
	CircuitSetupTimeout time.Duration
	// DialTimeout bounds a dial whose context has no deadline. Default 10s.
	DialTimeout time.Duration
	// SendBuffer is how many written bytes a connection holds until the
	// other end acknowledges them; with a Budget it grows to the other
	// end's window, up to MaxWindow. Default 2 MiB.
	SendBuffer int
	// RecvBuffer is how many received bytes may wait for Read: the
	// receive window a connection advertises to the other end, which
	// sends no more until Read makes room (at the start, the protocol's
	// initial window of 512 KiB applies if it is larger). Default 2 MiB:
	// what a connection has in flight until its window grows (up to
	// MaxWindow, with Budget's credit; without a Budget it bounds
	// throughput at RecvBuffer / RTT); a reader too slow to grow its
	// window costs at most this much memory.
	RecvBuffer int
	// Linger bounds how long Close keeps sending what was written.
	// Default 10s.
	Linger time.Duration
	// AcceptBacklog is how many connections wait for Accept per listener;
	// more are refused. Default 128.
	AcceptBacklog int
	// MaxSeen bounds the table of recent requests. It is fair-shared:
	// each peer may hold max(MaxSeen/peers, 256) entries of requests it
	// relays and as many of requests for this node's listeners; the
	// node's own dials are never refused. Default 65536.
	MaxSeen int
	// Fanout is how many known next hops a request goes to when the
	// route table knows the target (otherwise it is flooded). Default 2.
	Fanout int
	// RouteTTL is how long a learned route lives unless confirmed again.
	// Default 10m.
	RouteTTL time.Duration
	// MaxRoutes bounds the route table (targets); each next hop may lead
	// to at most max(MaxRoutes/peers, 64) of them. Default 16384.
	MaxRoutes int
	// DirectedWait is how long a dial sent to known next hops waits for an
	// ack before it floods a fresh request: this multiple of the best
	// known setup latency, but at least MinDirectedWait. Defaults 4 and
	// 150ms.
	DirectedWait    float64
	MinDirectedWait time.Duration
	// Heartbeat is how often a connection's path is checked: a path that
	// carried nothing for this long gets a ping record. Default 1s.
	Heartbeat time.Duration
	// StallTimeout is how long a path may be silent (no record at all,
	// heartbeats included) before it counts as broken. Default 4s.
	StallTimeout time.Duration
	// FailoverTimeout bounds the search for a new path after one broke;
	// then the connection fails with ErrPathBroken. Default 20s.
	FailoverTimeout time.Duration
	// EncryptDirect keeps the end-to-end encryption on paths without
	// relays too. By default the two ends of such a path agree to rely on
	// the peer link between their nodes, which already encrypts and
	// authenticates every byte (see "Direct paths" in session/record.go).
	EncryptDirect bool
	// Billing, if set, makes the node charge for relaying and pay for its
	// paths (see Billing). Default: free.
	Billing *Billing
	// Rand is the randomness for keys and nonces. Default crypto/rand.
	Rand io.Reader
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// RetryWait and Retries pace a dial that hears nothing back: it sends
	// a fresh, flooded request after RetryWait, then after twice that,
	// and so on, Retries times at most, within its timeout (a request
	// can meet a dead end nobody reports: a relay whose link to the
	// target is still coming up, once it no longer holds it). Defaults
	// 2s (or 4× the smoothed time this node's dials took to hear an
	// answer, if more) and 2; Retries < 0 turns retries off. See retry.go.
	RetryWait time.Duration
	Retries   int
	// GoneTimeout is how long the listening end of a connection waits
	// for the dialler to resume once the first link of its path (the
	// dialler's node's own) went down: the dialler's process most likely
	// exited. Default 3s. Other breaks keep FailoverTimeout. See gone.go.
	GoneTimeout time.Duration

	// Circuit budgets. A relayed circuit whose far end does not read
	// holds up to a stream window of bytes in each of its two link
	// streams plus two splice buffers: CircuitCost() reserves what of
	// that the windows hold without credit from the node's memory budget
	// (see StreamWindow) while it carries a stream. A circuit counts against both the peer
	// its stream comes from and the one it goes to. An ack whose circuit
	// would exceed a count, or finds a memory budget full, is dropped,
	// and the dialler uses another of its paths; a stream whose circuit
	// would exceed a memory budget is closed, and the dialler fails over.
	// Both count in Stats.CircuitsRefused.
	//
	// StreamWindow is what one direction of a circuit may hold without
	// credit from the node's memory budget: the peer links' initial
	// stream window (peer.InitialStreamWindow) when their windows grow
	// only with such credit (peer.GoYamux), the whole fixed window
	// (peer.Config.StreamWindow) when they do not (peer.Yamux). Default
	// 1 MiB.
	StreamWindow int
	// MaxCircuits bounds the circuits relayed at once, waiting for their
	// stream (a backup path holds one for CircuitSetupTimeout) or
	// active. Default 8192.
	MaxCircuits int
	// MaxCircuitsPerPeer bounds the circuits through one peer.
	// Default 1024.
	MaxCircuitsPerPeer int
	// CircuitMemory bounds the bytes reserved by all active circuits.
	// Default 256 MiB (about 120 circuits nobody reads at 1 MiB windows,
	// 400 at the node's 256 KiB initial windows).
	CircuitMemory int64
	// CircuitMemoryPerPeer bounds the bytes reserved by the active
	// circuits through one peer. Default CircuitMemory/2.
	CircuitMemoryPerPeer int64
	// AdvertRadius is how many links from the advertiser a scan-key
	// advert travels (see advert.go). Default 4.
	AdvertRadius uint8
	// AdvertInterval is how often a listener's advert is sent again;
	// adverts not heard again for three intervals expire. Default 30s.
	AdvertInterval time.Duration
	// AdvertRate and AdvertBurst are the bytes of adverts a node sends
	// one peer (per second, and at once): the default 2500 B/s is 2% of
	// a 1 Mbit/s link, the cap Reticulum puts on announces; burst 4096.
	AdvertRate  float64
	AdvertBurst int
	// MaxAdverts bounds the fingerprints a node knows; MaxAdvertsPerPeer
	// those first heard from one peer. Defaults 4096 and 256.
	MaxAdverts        int
	MaxAdvertsPerPeer int
	// AdvertDelay is how long a node holds an advert it will pass on, so
	// that the copies of one wave arriving meanwhile are passed on once,
	// with the shortest way heard. Default 50ms.
	AdvertDelay time.Duration
	// MaxWindow is the most a connection's receive window and send queue
	// grow to while data flows, with credit from Budget. Default 16 MiB.
	MaxWindow int
	// Budget is the node-wide memory credit connections' windows grow
	// with beyond RecvBuffer and SendBuffer (see session.Budget). nil:
	// windows stay at RecvBuffer and SendBuffer.
	Budget *session.Budget
	// NoTickets turns resumption tickets off: the node neither issues
	// tickets to its diallers nor dials with the tickets it was given
	// (see ticketdial.go). Default false: tickets on.
	NoTickets bool
	// TicketLifetime is how long a ticket this node issues is valid; its
	// ticket-sealing key rotates as often and is erased two lifetimes
	// after it was made. Default 10m.
	TicketLifetime time.Duration
	// MaxTicketTargets bounds the targets this node keeps tickets for
	// (two each; the target given a ticket longest ago is dropped
	// first). Default 1024.
	MaxTicketTargets int
}

// CircuitCost is the buffer memory one relayed circuit reserves: a
// stream window each way and two splice buffers.
func (c *Config) CircuitCost() int64 {
	w := c.StreamWindow
	if w <= 0 {
		w = 1 << 20
	}
	return relay.CircuitCost(w)
}

func (c *Config) setDefaults() error {
	if c.Identity == nil {
		return fmt.Errorf("route: Config.Identity is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.HopLimit == 0 {
		c.HopLimit = 8
	}
	if int(c.HopLimit) >= wire.MaxHops {
		return fmt.Errorf("route: HopLimit %d must be below %d", c.HopLimit, wire.MaxHops)
	}
	var bad []string // negative settings: an error, never a default
	dur := func(d *time.Duration, v time.Duration) {
		if *d < 0 {
			bad = append(bad, d.String())
		}
		if *d <= 0 {
			*d = v
		}
	}
	dur(&c.MaxClockSkew, time.Minute)
	dur(&c.CircuitSetupTimeout, 30*time.Second)
	dur(&c.DialTimeout, 10*time.Second)
	dur(&c.Linger, 10*time.Second)
	num := func(n *int, v int) {
		if *n < 0 {
			bad = append(bad, fmt.Sprint(*n))
		}
		if *n <= 0 {
			*n = v
		}
	}
	if c.RequestRate < 0 || c.DirectedWait < 0 {
		bad = append(bad, "a negative rate")
	}
	if c.RequestRate <= 0 {
		c.RequestRate = 1000
	}
	num(&c.RequestBurst, 1000)
	num(&c.MaxAcks, 3)
	num(&c.SendBuffer, 2<<20)
	num(&c.RecvBuffer, 2<<20)
	num(&c.MaxWindow, 16<<20)
	num(&c.AcceptBacklog, 128)
	num(&c.MaxSeen, 1<<16)
	num(&c.Fanout, 2)
	num(&c.MaxRoutes, 1<<14)
	dur(&c.RouteTTL, 10*time.Minute)
	dur(&c.MinDirectedWait, 150*time.Millisecond)
	dur(&c.Heartbeat, time.Second)
	dur(&c.StallTimeout, 4*time.Second)
	dur(&c.FailoverTimeout, 20*time.Second)
	dur(&c.TicketLifetime, defaultTicketLifetime)
	num(&c.MaxTicketTargets, 1024)
	num(&c.StreamWindow, 1<<20)
	num(&c.MaxCircuits, 8192)
	num(&c.MaxCircuitsPerPeer, 1024)
	if c.CircuitMemory < 0 || c.CircuitMemoryPerPeer < 0 {
		bad = append(bad, "a negative circuit memory")
	}
	if c.CircuitMemory <= 0 {
		c.CircuitMemory = 256 << 20
	}
	if c.CircuitMemoryPerPeer <= 0 {
		c.CircuitMemoryPerPeer = c.CircuitMemory / 2
	}
	if c.DirectedWait <= 0 {
		c.DirectedWait = 4
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	bad = append(bad, c.advertDefaults()...)
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: negative settings (%s): zero means the default", ErrBadConfig, strings.Join(bad, ", "))
	}
	return nil
}

// Router is a node's routing engine. It is the peer.Handler of the node's
// peer set: it learns its neighbours from LinkUp and LinkDown, handles
// connect requests, acks and refusals from the control streams, relays
// circuit streams, and dials and listens for the node.
type Router struct {
	cfg  Config
	id   *keyPair // cfg.Identity
	self addr.NodeID
	log  *slog.Logger

	mu        sync.Mutex
	nbrs      map[*peer.Link]*neighbour
	seen      map[addr.ConnID]*seenEntry
	dials     map[addr.ConnID]*dialState
	inbound   map[addr.ConnID]*inboundState
	listeners map[[20]byte]*Listener
	matchers  map[*Listener]struct{} // listeners of other target kinds
	gone      map[[20]byte]goneKey   // recently closed listeners, to refuse for
	sessions  map[*Session]struct{}
	relay     *relay.Table // the circuits this node relays
	routes    *table
	bill      *billing.Engine // nil: billing is off
	closed    bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats     counters
	setupEWMA atomic.Int64 // smoothed time to a dial's first answer, ns (retry.go)
	deadMu    sync.Mutex
	deadEnds  []deadEnd // requests held for a link coming up (retry.go)

	// beforeVerify, if set (by tests), runs before a target verifies a
	// request's signature.
	beforeVerify func()

	seenOwners map[seenKey]*seenOwner // the shares of seen (see seen.go)
	adv        *adverts               // scan-key adverts (advert.go)

	issuer  *ticketIssuer // tickets this node issues as a target
	tickets *ticketStore  // tickets this node was given, by target
}

// neighbour is a peer as the router sees it. Two token buckets guard the
// request flood: in limits what we accept from the peer at all (our CPU);
// fwd limits what of that we pass on to others, to a 1/k share of
// RequestRate for k peers, so everything we forward to any one neighbour
// stays within what it accepts from us, and one peer's storm cannot use up
// the others' share.
type neighbour struct {
	link *peer.Link
	in   *rate.Limiter
	fwd  *rate.Limiter
	obs  *observed
}

// observed is what the router saw of one neighbour, kept while it is
// linked.
type observed struct {
	requestsSent  atomic.Int64 // requests we sent it (ours and forwarded)
	acksBack      atomic.Int64 // verified acks that came back through it
	circuitsOK    atomic.Int64 // circuits through it that ended well
	circuitsBroke atomic.Int64 // ... that broke
	bytes         atomic.Int64 // bytes relayed to or from it
}

// PeerObservation is what the router saw of one neighbour.
type PeerObservation struct {
	Peer          addr.NodeID
	RequestsSent  int64 // connect requests sent to it
	AcksBack      int64 // verified acks that came back through it
	CircuitsOK    int64 // relayed circuits through it that ended well
	CircuitsBroke int64 // ... that broke
	BytesRelayed  int64 // relayed bytes to or from it
	Queued        int   // control bytes waiting to be written to it
}

// Observations returns what the router saw of each current neighbour.
func (r *Router) Observations() []PeerObservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PeerObservation, 0, len(r.nbrs))
	for l, n := range r.nbrs {
		out = append(out, PeerObservation{
			Peer: l.ID(), RequestsSent: n.obs.requestsSent.Load(), AcksBack: n.obs.acksBack.Load(),
			CircuitsOK: n.obs.circuitsOK.Load(), CircuitsBroke: n.obs.circuitsBroke.Load(),
			BytesRelayed: n.obs.bytes.Load(), Queued: l.Queued(),
		})
	}
	return out
}

// observe returns the observations of link, or a throwaway if it is gone.
func (r *Router) observe(l *peer.Link) *observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.nbrs[l]; n != nil {
		return n.obs
	}
	return &observed{}
}

type seenEntry struct {
	from     *peer.Link // nil: this node made the request
	target   [20]byte
	dEph     [33]byte
	sentAt   time.Time // when we passed it on (latency samples start here)
	maxPrice uint64    // the dialler's limit for the whole path
	expires  time.Time
	relayed  int // acks relayed back for this request
	inbound  bool
	lst      *Listener // target: the listener that answered, and its key
	key      *keyPair
	ackedVia map[*peer.Link]bool // target: arrivals answered
	// checking is set at the target while the first copy's signature is
	// being verified; copies that arrive meanwhile wait in early and are
	// answered once it passes (they are the dialler's backup paths).
	checking bool
	early    []*peer.Link
	owner    seenKey // whose share of the table it uses
	// ticket marks a ticket request (ticketdial.go): its acks are
	// checked against lock with one hash instead of a signature.
	ticket bool
	lock   [32]byte
}

type circuitKey struct {
	id   addr.ConnID
	path uint32
}

// inboundState is the target's side of a connection being set up.
type inboundState struct {
	lst      *Listener
	key      *keyPair // the key that answered: the listener's, or its matcher's
	eph      *keyPair
	dEph     [33]byte
	master   [32]byte
	helloH   [32]byte
	paths    map[uint32]*peer.Link // path number -> the peer it was acked to
	streamed map[uint32]bool       // path numbers whose stream has arrived
	nextPath uint32
	session  *Session
	expires  time.Time
	reserved bool       // holds a slot of lst's backlog (see Listener.reserve)
	via      *peer.Link // the peer the request came from (nil: this node)
	// A ticket connection (ticketdial.go): the identity the ticket names
	// (its hello must name it, unsigned), and the ack's fields.
	ticket         bool
	dialler        [33]byte
	tNonce         [16]byte
	proof, confirm [32]byte
}

// dropInboundLocked forgets the setup of connection id, giving back its
// backlog slot if it still holds one.
func (r *Router) dropInboundLocked(id addr.ConnID, in *inboundState) {
	if in.reserved {
		in.reserved = false
		in.lst.release(in.via)
	}
	delete(r.inbound, id)
}

type goneKey struct {
	key     *keyPair
	expires time.Time
}

// goneKeyTTL is how long a closed listener's key still signs refusals.
const goneKeyTTL = time.Minute

// New returns a Router. Attach it to a peer.Set as its Handler.
func New(cfg Config) (*Router, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	id := newKeyPair(cfg.Identity)
	r := &Router{
		cfg:       cfg,
		id:        id,
		self:      addr.NodeIDFromPubKey(id.pub),
		log:       cfg.Logger,
		nbrs:      make(map[*peer.Link]*neighbour),
		seen:      make(map[addr.ConnID]*seenEntry),
		dials:     make(map[addr.ConnID]*dialState),
		inbound:   make(map[addr.ConnID]*inboundState),
		listeners: make(map[[20]byte]*Listener),
		matchers:  make(map[*Listener]struct{}),
		gone:      make(map[[20]byte]goneKey),
		sessions:  make(map[*Session]struct{}),

		seenOwners: make(map[seenKey]*seenOwner),
		adv:        newAdverts(),
	}
	r.routes = newTable(cfg.RouteTTL, cfg.MaxRoutes)
	r.issuer = newTicketIssuer(cfg.Now, cfg.Rand, cfg.TicketLifetime, 0)
	r.tickets = newTicketStore(cfg.Now, 2, cfg.MaxTicketTargets)
	r.relay = r.newRelay()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if cfg.Billing != nil {
		b, err := billing.New(*cfg.Billing, billing.Host{Identity: cfg.Identity, Logger: cfg.Logger, Now: cfg.Now})
		if err != nil {
			r.cancel()
			r.relay.Close()
			return nil, err
		}
		r.bill = b
	}
	r.wg.Add(2)
	go r.janitor()
	go r.advertLoop()
	return r, nil
}

// closeGrace bounds how long Close lets connections say goodbye.
const closeGrace = 2 * time.Second

// Close shuts the router down: listeners first, then every connection is
// closed as Session.Close does (what was written is delivered, then a fin
// and a reset, so the other end reads io.EOF at once instead of waiting
// for a resume), for up to two seconds; whatever has not finished by then
// is ended. It waits for the router's goroutines. The peer set is the
// caller's to close, after the router. Idempotent.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.wg.Wait()
		return nil
	}
	r.closed = true
	listeners := make([]*Listener, 0, len(r.listeners))
	for _, l := range r.listeners {
		listeners = append(listeners, l)
	}
	for l := range r.matchers {
		listeners = append(listeners, l)
	}
	r.mu.Unlock()
	for _, l := range listeners {
		l.Close()
	}
	r.mu.Lock()
	sessions := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		sessions = append(sessions, s)
	}
	r.mu.Unlock()
	for _, s := range sessions {
		s.Close()
	}
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
wait:
	for _, s := range sessions {
		select {
		case <-s.Done():
		case <-grace.C:
			break wait
		}
	}
	r.cancel()
	r.relay.Close()
	for _, s := range sessions {
		s.Abort(ErrClosed)
	}
	for _, s := range sessions {
		s.Wait()
	}
	r.wg.Wait()
	if r.bill != nil {
		r.bill.Close()
	}
	return nil
}

func (r *Router) now() time.Time { return r.cfg.Now() }

// janitor expires table entries once a second.
func (r *Router) janitor() {
	defer r.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.expire(r.now())
			r.advertTick(r.now())
		}
	}
}

func (r *Router) expire(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireSeenLocked(now.UnixNano())
	r.relay.Expire(now)
	for id, in := range r.inbound {
		if in.session == nil && now.After(in.expires) {
			r.dropInboundLocked(id, in)
		}
	}
	for h, g := range r.gone {
		if now.After(g.expires) {
			delete(r.gone, h)
		}
	}
	r.routes.expire(now)
}

// LinkUp implements peer.Handler.
func (r *Router) LinkUp(l *peer.Link) {
	if r.bill != nil {
		r.bill.LinkUp(l)
	}
	defer r.releaseDeadEnds(l) // after r.mu is released (retry.go)
	r.mu.Lock()
	defer r.mu.Unlock()
	lim, burst := r.forwardShareLocked(len(r.nbrs) + 1)
	r.nbrs[l] = &neighbour{
		link: l,
		in:   rate.NewLimiter(rate.Limit(r.cfg.RequestRate), r.cfg.RequestBurst),
		fwd:  rate.NewLimiter(lim, burst), // a new peer starts with a full share
		obs:  &observed{},
	}
	r.shareForwardingLocked()
}

// forwardShareLocked is one peer's share of the forwarding budget among k.
func (r *Router) forwardShareLocked(k int) (rate.Limit, int) {
	k = max(k, 1)
	return rate.Limit(r.cfg.RequestRate / float64(k)), max(r.cfg.RequestBurst/k, 1)
}

// shareForwardingLocked gives each peer an equal share of the forwarding
// budget (see neighbour).
func (r *Router) shareForwardingLocked() {
	lim, burst := r.forwardShareLocked(len(r.nbrs))
	for _, n := range r.nbrs {
		n.fwd.SetLimit(lim)
		n.fwd.SetBurst(burst)
	}
}

// LinkDown implements peer.Handler. Circuits through the link end as
// their streams fail; circuits still waiting for a stream that would go
// out over the link are dropped. A circuit waiting for its stream from
// the link is kept until it expires: the stream may have arrived just
// before the link went down (a dialler that wrote, closed and shut its
// node down at once), and its bytes are still there to relay.
func (r *Router) LinkDown(l *peer.Link, err error) {
	if r.bill != nil {
		r.bill.LinkDown(l)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.nbrs, l)
	r.shareForwardingLocked()
	r.routes.dropLink(l)
	r.relay.LinkDown(relayLink{l})
	if !r.closed { // sessions take their own locks: tell them outside r.mu
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.linkGone(l)
		}()
	}
}

// HandleMessage implements peer.Handler.
func (r *Router) HandleMessage(l *peer.Link, m wire.Message) {
	switch m := m.(type) {
	case *wire.ConnectRequest:
		r.handleRequest(l, m)
	case *wire.ConnectAck:
		r.handleAck(l, m)
	case *wire.ConnectRefuse:
		r.handleRefuse(l, m)
	case *wire.ChannelMessage, *wire.PaymentRequest:
		if r.bill != nil {
			r.bill.HandleMessage(l, m) // queued for the billing loop; never blocks
		}
	default:
		r.log.Debug("unhandled message", "type", m.Type())
	}
}

// neighbourLinks returns the links of all neighbours but except.
func (r *Router) neighbourLinksLocked(except *peer.Link) []*peer.Link {
	out := make([]*peer.Link, 0, len(r.nbrs))
	for l := range r.nbrs {
		if l != except {
			out = append(out, l)
		}
	}
	return out
}

func (r *Router) addSession(s *Session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.sessions[s] = struct{}{}
	return nil
}

func (r *Router) removeSession(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sessions, s)
	if in := r.inbound[s.ID()]; in != nil && in.session == s {
		r.dropInboundLocked(s.ID(), in)
	}
}

// counters are the router's statistics.
type counters struct {
	requestsSent, acksSent,
	requestsSeen, requestsForwarded, requestsDuplicate, requestsInvalid,
	requestsThrottled, requestsNotForwarded, requestsDeadEnd, acksRelayed, acksInvalid, acksUnknown,
	streamsRejected,
	acceptsFailed, directedTimeouts,
	acksOverPrice, requestsRefusedCredit atomic.Int64
	session                                                                                session.Counters // failovers, their time, direct paths
	dialRetries                                                                            atomic.Int64
	requestsOverShare, seenEvicted, routesOverShare, acceptsRefused                        atomic.Int64
	ticketDials, ticketFallbacks, ticketsKept, ticketsIssued, ticketsRefused, ticketRekeys atomic.Int64
}

// setupEWMA (in Router) is the smoothed time, in ns, from a dial's first
// request to its first answer: retry.go paces retries by it.

// Stats is a snapshot of the router's counters.
type Stats struct {
	RequestsSent      int64 // copies of this node's own requests sent to peers
	AcksSent          int64 // acks and refusals this node sent as a target
	RequestsSeen      int64 // new, valid requests handled
	RequestsForwarded int64 // copies of requests sent on
	RequestsDuplicate int64 // requests dropped as already seen
	RequestsInvalid   int64 // requests dropped for a bad signature, time or shape
	RequestsThrottled int64 // requests dropped by a peer's rate limit
	// RequestsNotForwarded counts requests accepted but not passed on
	// because their peer had used its share of the forwarding budget.
	RequestsNotForwarded int64
	RequestsDeadEnd      int64 // requests with nowhere to go (hop limit or no peers)
	AcksRelayed          int64
	AcksInvalid          int64 // acks and refusals that failed their checks
	AcksUnknown          int64 // acks for requests this node never saw (or forgot)
	CircuitsRelayed      int64 // circuits that carried a stream
	CircuitsActive       int64 // circuits carrying a stream now
	BytesRelayed         int64 // bytes spliced, both directions
	StreamsRejected      int64 // streams naming no circuit of ours
	AcceptsFailed        int64 // inbound connections dropped before Accept
	// Failovers counts connections moved to a new path; FailoverTime is
	// the total time those moves took.
	Failovers    int64
	FailoverTime time.Duration
	// DirectedTimeouts counts dials whose directed request got no answer
	// in time and were flooded.
	DirectedTimeouts int64
	// Billing: acks dropped because their path cost more than the
	// request allowed; neighbours cut off for unpaid relaying; requests
	// refused from a cut-off neighbour.
	AcksOverPrice, CutOffs, RequestsRefusedCredit int64
	// DirectPaths counts connection paths without relays on which this
	// end now reads records that rely on the peer link's encryption
	// rather than their own (see Config.EncryptDirect).
	DirectPaths int64
	// DialRetries counts fresh requests this node's dials sent because
	// nothing had answered the earlier ones (Config.RetryWait).
	DialRetries int64
	// RequestsOverShare counts requests dropped because their peer held
	// its share of the seen-request table (or the table was full of
	// shares no larger than its own); SeenEvicted, entries dropped from
	// the largest share to make room for a smaller one; RoutesOverShare,
	// routes not learned because their next hop held its share of the
	// route table.
	RequestsOverShare, SeenEvicted, RoutesOverShare int64
	// CircuitsRefused counts acks not passed on because the circuit they
	// would have made was over a budget (Config.MaxCircuits,
	// MaxCircuitsPerPeer, CircuitMemory, CircuitMemoryPerPeer); the
	// dialler uses another path.
	CircuitsRefused int64
	// AcceptsRefused counts requests refused because their listener's
	// backlog (queued and reserved connections) was full.
	AcceptsRefused int64
	// Resumption tickets (ticketdial.go). As a dialler: TicketDials
	// counts dials that connected with a ticket (no public-key work),
	// TicketFallbacks those whose ticket was refused or unanswered and
	// that went on with a full handshake, TicketsKept the tickets
	// received. As a target: TicketsIssued, and TicketsRefused (unknown,
	// expired, another address's, or replayed). TicketRekeys counts the
	// resumed connections that completed their ephemeral ECDH (forward
	// secrecy after the first round trip), at either end.
	TicketDials, TicketFallbacks, TicketsKept, TicketsIssued, TicketsRefused, TicketRekeys int64
}

// ControlMessages is the number of connect requests, acks and refusals
// this node sent: its share of what connection setup costs the network.
func (s Stats) ControlMessages() int64 {
	return s.RequestsSent + s.RequestsForwarded + s.AcksSent + s.AcksRelayed
}

// Stats returns the router's counters.
func (r *Router) Stats() Stats {
	c := &r.stats
	rs := r.relay.Stats()
	var cutOffs int64
	if r.bill != nil {
		cutOffs = r.bill.Stats().CutOffs
	}
	return Stats{
		RequestsSent: c.requestsSent.Load(), AcksSent: c.acksSent.Load(),
		RequestsSeen: c.requestsSeen.Load(), RequestsForwarded: c.requestsForwarded.Load(),
		RequestsDuplicate: c.requestsDuplicate.Load(), RequestsInvalid: c.requestsInvalid.Load(),
		RequestsThrottled: c.requestsThrottled.Load(), RequestsNotForwarded: c.requestsNotForwarded.Load(),
		RequestsDeadEnd: c.requestsDeadEnd.Load(),
		AcksRelayed:     c.acksRelayed.Load(), AcksInvalid: c.acksInvalid.Load(), AcksUnknown: c.acksUnknown.Load(),
		CircuitsRelayed: rs.Relayed, CircuitsActive: rs.Active,
		BytesRelayed: rs.Bytes, StreamsRejected: c.streamsRejected.Load(),
		AcceptsFailed: c.acceptsFailed.Load(),
		Failovers:     c.session.Failovers.Load(), FailoverTime: time.Duration(c.session.FailoverNanos.Load()),
		DirectedTimeouts: c.directedTimeouts.Load(),
		AcksOverPrice:    c.acksOverPrice.Load(), CutOffs: cutOffs,
		RequestsRefusedCredit: c.requestsRefusedCredit.Load() + rs.Refused,
		DirectPaths:           c.session.DirectPaths.Load(),
		DialRetries:           c.dialRetries.Load(),
		RequestsOverShare:     c.requestsOverShare.Load(), SeenEvicted: c.seenEvicted.Load(),
		RoutesOverShare: c.routesOverShare.Load(),
		CircuitsRefused: rs.OverBudget, AcceptsRefused: c.acceptsRefused.Load(),
		TicketDials: c.ticketDials.Load(), TicketFallbacks: c.ticketFallbacks.Load(),
		TicketsKept: c.ticketsKept.Load(), TicketsIssued: c.ticketsIssued.Load(), TicketsRefused: c.ticketsRefused.Load(),
		TicketRekeys: c.ticketRekeys.Load(),
	}
}
