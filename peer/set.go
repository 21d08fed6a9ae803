package peer

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/budget"
	"github.com/foxtrotnet/foxtrot/internal/signal"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer/noise"
	"github.com/foxtrotnet/foxtrot/transport"
)

// Handler receives what links deliver that no registered Protocol takes:
// the message types package wire decodes itself (wire.Known) other than
// pings and pongs, and circuit streams (wire.StreamCircuit). Its methods
// are called from link goroutines and must not block for long
// (HandleStream may run as long as the stream lives: it has a goroutine
// of its own).
type Handler interface {
	// LinkUp is called when a link is registered. A link that replaces
	// another to the same peer may come up before the old one's LinkDown:
	// compare *Link pointers, not IDs.
	LinkUp(l *Link)
	// LinkDown is called once when a registered link goes down.
	LinkDown(l *Link, err error)
	// HandleMessage is called on the link's control reader for every
	// message other than pings and pongs, in order.
	HandleMessage(l *Link, m wire.Message)
	// HandleStream is called on a goroutine of its own for every stream
	// the peer opens, once its header is read. The handler owns s.
	HandleStream(l *Link, s *Stream, h wire.StreamHeader)
}

// Config configures a Set. Identity and Transports are required; every
// other field has a default, applied by NewSet.
type Config struct {
	// Identity is this node's static key, which its links authenticate.
	Identity *btcec.PrivateKey
	// NetworkKey, if set, is a pre-shared key every handshake must prove;
	// handshakes without it get no answer at all.
	NetworkKey []byte
	// Transports carry the links.
	Transports transport.Set
	// Handler receives messages and streams; nil drops them.
	Handler Handler
	// Logger receives debug and warning events; nil discards them.
	Logger *slog.Logger
	// HandshakeTimeout bounds a handshake and link setup. Default 10s.
	HandshakeTimeout time.Duration
	// PingInterval is how often an idle link is pinged. Default 15s.
	PingInterval time.Duration
	// DeadAfter is how long a silent peer is tolerated before its link is
	// dropped. Default 3 × PingInterval.
	DeadAfter time.Duration
	// RedialMin and RedialMax bound the exponential backoff of redialling
	// kept peers. Defaults 250ms and 30s.
	RedialMin, RedialMax time.Duration
	// StreamWindow is the most a stream's receive window grows to, the
	// most bytes in flight on one stream. Throughput over one stream is
	// bounded by window / RTT; memory per busy stream by the window. With
	// GoYamux (the default) a window starts at InitialStreamWindow
	// (256 KiB) and grows with the stream's bandwidth × round trip, with
	// credit from WindowBudget; with Yamux every stream has this window
	// from the start. Default 16 MiB (1.3 Gbit/s at 100 ms). Idle
	// streams hold nothing.
	StreamWindow uint32
	// WindowBudget is the node-wide credit GoYamux stream windows grow
	// with beyond InitialStreamWindow, given back when a stream ends. nil
	// (the default): windows stay at InitialStreamWindow. The node passes
	// its MemoryBudget.
	WindowBudget WindowBudget
	// MaxHandshakes bounds inbound handshakes past act one, the part
	// that costs curve arithmetic; more are closed at once (in silence,
	// with a network key). When more than half are taken, a handshake
	// past act one has a quarter of HandshakeTimeout to finish. Default
	// 128.
	MaxHandshakes int
	// NewMuxer starts each link's stream multiplexer over its encrypted
	// conn. Default GoYamux; Yamux is hashicorp/yamux with windows of a
	// fixed StreamWindow.
	NewMuxer NewMuxerFunc
	// MaxInboundHandshakes bounds inbound connections whose handshake has
	// not ended, act one not yet arrived included. A connection takes a
	// handshake slot (MaxHandshakes) only once act one has fully arrived;
	// until then it costs a goroutine blocked in a read. When all are
	// taken, the one that has waited longest for its act one is closed to
	// make room, and above half of them every new connection's deadline is
	// a quarter of HandshakeTimeout. Default 512.
	MaxInboundHandshakes int
	// MaxHandshakesPerAddr bounds inbound connections in handshake from
	// one source address (IP, not IP:port), both before and after act
	// one; more are closed at once. Default 16.
	MaxHandshakesPerAddr int
	// MaxPendingStreamsPerPeer bounds the streams one peer has opened
	// whose header is still being read (each costs a goroutine). Beyond
	// it the link stops accepting streams, the muxer's backlog fills, and
	// further streams are reset by the muxer unread, and counted. Default
	// 32.
	MaxPendingStreamsPerPeer int
	// MaxPendingStreams bounds such streams over all links. Default 1024.
	MaxPendingStreams int
	// MaxQueuedControl bounds the bytes of control messages queued for
	// one link's writer; Send refuses more (ErrSendQueueFull, counted in
	// Refusals.Control), so a peer that does not read its control stream
	// costs at most this much each. Default 1 MiB.
	MaxQueuedControl int
	// LinkCipher says whether links offer AES-256-GCM for their frames
	// (see CipherSuite). Default CipherAuto: offered when this
	// machine has AES hardware; a link uses it when both ends offered,
	// else BOLT 8's ChaCha20-Poly1305.
	LinkCipher CipherSuite
}

func (c *Config) setDefaults() error {
	if c.Identity == nil {
		return fmt.Errorf("peer: Config.Identity is required")
	}
	if len(c.Transports) == 0 {
		return fmt.Errorf("peer: Config.Transports is empty")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.PingInterval, 15*time.Second)
	def(&c.DeadAfter, 3*c.PingInterval)
	def(&c.RedialMin, 250*time.Millisecond)
	def(&c.RedialMax, 30*time.Second)
	if c.StreamWindow == 0 {
		c.StreamWindow = 16 << 20
	}
	if c.StreamWindow < 256<<10 {
		return fmt.Errorf("peer: StreamWindow %d is below yamux's minimum 256 KiB", c.StreamWindow)
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = 128
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&c.MaxInboundHandshakes, 512)
	defInt(&c.MaxHandshakesPerAddr, 16)
	defInt(&c.MaxPendingStreamsPerPeer, 32)
	defInt(&c.MaxPendingStreams, 1024)
	defInt(&c.MaxQueuedControl, 1<<20)
	if c.NewMuxer == nil {
		c.NewMuxer = GoYamux
	}
	return nil
}

// Set is a node's peer set: it listens for and dials links, keeps
// configured peers linked (redialling with backoff), keeps one link per
// peer, and hands what links receive to the protocols registered with
// Register, or else to the Handler.
//
// When both sides dial each other at once, two links form; both sides
// keep the one dialled by the side with the smaller compressed public key
// and close the other (ErrDuplicateLink). A new link from the same dialler
// replaces the old one, since the dialler only redials a link it has seen
// die.
type Set struct {
	cfg  Config
	log  *slog.Logger
	self addr.NodeID
	hcfg HandshakeConfig

	mu        sync.Mutex
	links     map[addr.NodeID]*Link
	dialing   map[addr.NodeID]*dialCall // dials in flight, by the identity they expect
	listeners []transport.Listener
	addrs     []ma.Multiaddr
	closed    bool

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup
	now    func() time.Time // the clock of handshake deadlines

	budget  *budget.Budget
	amu     sync.Mutex // guards waiting
	waiting list.List  // *inbound not yet in their handshake, oldest first
	// streamFreed wakes accept loops waiting for a pending-stream unit;
	// guarded by amu.
	streamFreed signal.Signal

	regMu sync.Mutex // serializes Register
	reg   atomic.Pointer[registry]

	failedHandshakes atomic.Uint64
	refusedStreams   atomic.Uint64
	streamsReset     atomic.Uint64
	controlRefused   atomic.Uint64 // control messages Send refused: MaxQueuedControl
	acceptedStreams  atomic.Uint64 // streams taken from peers' muxers, headers not yet read
	cookieJar        *noise.CookieJar
	cookies          atomic.Uint64
	cookiesFailed    atomic.Uint64

	// Readiness and kept peers (ready.go), guarded by mu.
	announced signal.Signal        // notified when a link's LinkUp handlers have run
	kept      map[string]*keptPeer // Keep's peers, by the multiaddr given
}

// NewSet returns a Set; it listens and dials nothing until told to.
func NewSet(cfg Config) (*Set, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Set{
		cfg:     cfg,
		log:     cfg.Logger,
		self:    addr.NodeIDFromPubKey(cfg.Identity.PubKey()),
		hcfg:    HandshakeConfig{Static: cfg.Identity, NetworkKey: cfg.NetworkKey, LinkCipher: cfg.LinkCipher},
		links:   make(map[addr.NodeID]*Link),
		dialing: make(map[addr.NodeID]*dialCall),
		now:     time.Now,
		budget:  newBudget(&cfg),

		cookieJar: noise.NewCookieJar(cfg.NetworkKey, nil),
		kept:      make(map[string]*keptPeer),
	}
	s.reg.Store(new(registry))
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = s.ctx.Done()
	return s, nil
}

// Self returns this node's identity: HASH160 of its identity key.
func (s *Set) Self() addr.NodeID { return s.self }

// Listen accepts links on addr and returns the resolved address with this
// node's /foxtrot identity appended.
func (s *Set) Listen(addr ma.Multiaddr) (ma.Multiaddr, error) {
	t, err := s.cfg.Transports.For(addr)
	if err != nil {
		return nil, err
	}
	l, err := t.Listen(addr)
	if err != nil {
		return nil, err
	}
	full, err := transport.WithIdentity(l.Multiaddr(), s.self.String())
	if err != nil {
		l.Close()
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return nil, ErrLinkClosed
	}
	s.listeners = append(s.listeners, l)
	s.addrs = append(s.addrs, full)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.acceptLoop(l)
	return full, nil
}

// ListenAddrs returns the full addresses the Set listens on.
func (s *Set) ListenAddrs() []ma.Multiaddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ma.Multiaddr(nil), s.addrs...)
}

// FailedHandshakes counts inbound handshakes that failed or timed out.
func (s *Set) FailedHandshakes() uint64 { return s.failedHandshakes.Load() }

func (s *Set) acceptLoop(l transport.Listener) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-s.done:
				return
			}
			continue
		}
		s.admit(c)
	}
}

// setupContext bounds a handshake by HandshakeTimeout, ctx and the Set's
// lifetime.
func (s *Set) setupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// dialCall is a dial in flight that others wait for.
type dialCall struct {
	done chan struct{}
	link *Link
	err  error
}

// Connect links to the peer at addr (a transport multiaddr, optionally
// ending in /foxtrot/<address or 66-hex key>) and returns the link. With a
// public key the handshake is BOLT 8's Noise_XK; otherwise Noise_XX, and
// with an address the peer's key must hash to it (ErrWrongIdentity). If a
// link to that identity is already up, it is returned without dialling.
func (s *Set) Connect(ctx context.Context, addr ma.Multiaddr) (*Link, error) {
	base, id := transport.SplitIdentity(addr)
	cfg := s.hcfg
	if id != "" {
		h, pub, err := parseIdentity(id)
		if err != nil {
			return nil, err
		}
		if h == s.self {
			return nil, ErrSelfLink
		}
		if l := s.Link(h); l != nil {
			return l, nil
		}
		// One dial per identity at a time: a second caller (a Connect
		// racing the keep-alive redial, say) waits for the first, so one
		// side never makes two links that the two ends might resolve
		// differently.
		s.mu.Lock()
		if c := s.dialing[h]; c != nil {
			s.mu.Unlock()
			select {
			case <-c.done:
				return c.link, c.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		c := &dialCall{done: make(chan struct{})}
		s.dialing[h] = c
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			delete(s.dialing, h)
			s.mu.Unlock()
			close(c.done)
		}()
		cfg.RemoteStatic = pub
		c.link, c.err = s.dial(ctx, base, cfg, &h)
		return c.link, c.err
	}
	return s.dial(ctx, base, cfg, nil)
}

// dial makes a new link to base, expecting identity want (if not nil).
func (s *Set) dial(ctx context.Context, base ma.Multiaddr, cfg HandshakeConfig, want *addr.NodeID) (*Link, error) {
	t, err := s.cfg.Transports.For(base)
	if err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, ErrLinkClosed
	}
	ctx, cancel := s.setupContext(ctx)
	defer cancel()
	var c net.Conn
	if pd, ok := t.(transport.PeerDialer); ok && cfg.RemoteStatic != nil {
		c, err = pd.DialPeer(ctx, base, cfg.RemoteStatic) // its wire is keyed by the peer's identity
	} else {
		c, err = t.Dial(ctx, base)
	}
	if err != nil {
		return nil, err
	}
	verify := func(pub *btcec.PublicKey) error {
		h := addr.NodeIDFromPubKey(pub)
		if h == s.self {
			return ErrSelfLink
		}
		if want != nil && h != *want {
			return fmt.Errorf("%w: %s answered as %s", ErrWrongIdentity, want.String(), h.String())
		}
		return nil
	}
	sc, err := Client(ctx, c, cfg, verify)
	if err != nil {
		return nil, err
	}
	full, err := transport.WithIdentity(base, addr.FromPubKey(sc.RemoteKey()).String())
	if err != nil {
		sc.Close()
		return nil, err
	}
	l, err := newLink(ctx, s, sc, true, full)
	if err != nil {
		return nil, err
	}
	return s.add(l)
}

// parseIdentity decodes a /foxtrot value: a 66-hex key (with the key) or an
// address (hash only). addr.ParseNodeID is the parser; errors wrap
// transport.ErrBadIdentity and addr's error saying what is wrong.
func parseIdentity(id string) (addr.NodeID, *btcec.PublicKey, error) {
	h, pub, err := addr.ParseNodeID(id)
	if err != nil {
		return addr.NodeID{}, nil, fmt.Errorf("%w: %w", transport.ErrBadIdentity, err)
	}
	return h, pub, nil
}

// add registers a new link, resolving duplicates, and returns the link in
// use for that peer.
func (s *Set) add(l *Link) (*Link, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.shutdown(ErrLinkClosed)
		l.wg.Wait()
		return nil, ErrLinkClosed
	}
	old := s.links[l.id]
	if old != nil && old.Err() == nil && !s.keepNew(old, l) {
		s.mu.Unlock()
		s.log.Debug("duplicate link closed", "peer", l.id.String())
		l.shutdown(ErrDuplicateLink)
		return old, nil
	}
	s.links[l.id] = l
	l.reg = s.reg.Load()
	l.up.Store(true)
	s.mu.Unlock()
	if old != nil {
		old.shutdown(ErrDuplicateLink)
	}
	s.logLinkUp(l)
	if h := s.cfg.Handler; h != nil {
		h.LinkUp(l)
	}
	for _, p := range l.reg.protos {
		if p.LinkUp != nil {
			p.LinkUp(l)
		}
	}
	l.start()
	s.announce(l)
	return l, nil
}

// keepNew decides between two live links to one peer (see Set).
func (s *Set) keepNew(old, new *Link) bool {
	if old.outbound == new.outbound {
		return true // the same side redialled: it saw the old one die
	}
	// Keep the link dialled by the smaller key.
	me := s.cfg.Identity.PubKey().SerializeCompressed()
	them := new.RemoteKey().SerializeCompressed()
	iDialSmaller := bytes.Compare(me, them) < 0
	return new.outbound == iDialSmaller
}

// linkDown unregisters a link that went down.
func (s *Set) linkDown(l *Link, err error) {
	s.mu.Lock()
	if s.links[l.id] == l {
		delete(s.links, l.id)
	}
	s.mu.Unlock()
	if !l.up.Load() {
		return // lost a duplicate race or failed before registration
	}
	s.logLinkDown(l, err)
	if h := s.cfg.Handler; h != nil {
		h.LinkDown(l, err)
	}
	for _, p := range l.reg.protos {
		if p.LinkDown != nil {
			p.LinkDown(l, err)
		}
	}
}

// Link returns the live link to the peer with identity id, or nil.
func (s *Set) Link(id addr.NodeID) *Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.links[id]; l != nil && l.Err() == nil {
		return l
	}
	return nil
}

// Links returns the live links.
func (s *Set) Links() []*Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Link, 0, len(s.links))
	for _, l := range s.links {
		if l.Err() == nil {
			out = append(out, l)
		}
	}
	return out
}

// Keep links to addr now and whenever the link goes down, redialling with
// exponential backoff between RedialMin and RedialMax, until Close.
func (s *Set) Keep(addr ma.Multiaddr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	k := s.keepLocked(addr)
	go s.keep(addr, k)
}

func (s *Set) keep(addr ma.Multiaddr, k *keptPeer) {
	defer s.wg.Done()
	backoff := s.cfg.RedialMin
	for {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HandshakeTimeout)
		l, err := s.Connect(ctx, addr)
		cancel()
		if err == nil {
			// Remember who answered, so a redial can find an existing link
			// (for example one the peer dialled meanwhile) without dialling.
			if _, id := transport.SplitIdentity(addr); id == "" && l.maddr != nil {
				addr = l.maddr
			} else if id == "" {
				if full, e := transport.WithIdentity(addr, l.id.String()); e == nil {
					addr = full
				}
			}
			backoff = s.cfg.RedialMin
			s.keptLinked(k)
			select {
			case <-l.Done():
				s.keptDown(k)
				s.log.Debug("kept peer went down; redialling", "addr", addr, "err", l.Err())
			case <-s.done:
				return
			}
		} else {
			if errors.Is(err, ErrLinkClosed) && s.isClosed() {
				return
			}
			s.keptFailed(k, err, backoff)
		}
		select {
		case <-time.After(s.jitter(backoff)):
		case <-s.done:
			return
		}
		if err != nil {
			backoff = min(backoff*2, s.cfg.RedialMax)
		}
	}
}

func (s *Set) isClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Close closes listeners and links and waits for every goroutine of the
// Set and its links. Idempotent.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	listeners := s.listeners
	s.mu.Unlock()
	for _, l := range listeners {
		l.Close()
	}
	s.wg.Wait() // handshakes and keepers are done: no link is added after this
	s.mu.Lock()
	links := make([]*Link, 0, len(s.links))
	for _, l := range s.links {
		links = append(links, l)
	}
	s.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	return nil
}
