package foxtrot

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/route"
	"github.com/foxtrotnet/foxtrot/session"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
	"github.com/foxtrotnet/foxtrot/transport/quic"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// Config configures a Node. The zero value is a working node: a fresh
// identity, no listeners, no peers, TCP, UDP and the process-wide mem
// transport. Config is read once by NewNode; changing it afterwards has no
// effect.
type Config struct {
	// Identity is the node's key for its peer links (not a key it listens
	// on for connections). Default: a fresh random key.
	Identity *btcec.PrivateKey
	// ListenAddrs are multiaddrs to accept peer links on, such as
	// /ip4/127.0.0.1/tcp/0, /ip4/0.0.0.0/udp/9000 or /mem/0. Default:
	// none.
	ListenAddrs []string
	// Peers are multiaddrs of peers to link to at start and keep linked,
	// redialling with backoff. A /foxtrot/<address or 66-hex key> suffix
	// pins the peer's identity. Default: none.
	//
	// A UDP peer (/ip4/<ip>/udp/<port>/...) must be named by its 66-hex
	// public key (/udp/<port>/foxtrot/<66-hex>) unless NetworkKey is set:
	// every UDP datagram is keyed by the network key or by the responder's
	// public key, and an address (a hash of the key) or no suffix gives
	// neither. NewNode and Connect refuse such an address with
	// ErrUDPNeedsKey. Node.ListenAddrs gives UDP addresses in the 66-hex
	// form for that reason.
	Peers []string
	// NetworkKey, if set, is a pre-shared key: handshakes that do not prove
	// it get no answer at all, so scanners cannot find the node. It keys
	// UDP datagrams too, and so must be 16 bytes at least. Default nil.
	NetworkKey []byte
	// PadPackets pads every UDP datagram of the default UDP transport to
	// one of a few fixed sizes (256, 512, 1024, 1280 or 1452 bytes), so
	// datagram sizes say less about what they carry; it costs bandwidth.
	// It has no effect with Config.Transports set. Default false.
	PadPackets bool
	// UDPCongestion names the congestion controller of the default UDP
	// transport's connections: "cubic" (quic.Cubic, the default), "reno"
	// (quic.Reno) or "bbr" (quic.BBR); any other name fails NewNode with
	// ErrBadConfig. NewUDPCongestion, when set, makes a custom controller
	// for each connection instead (a nil return falls back to the named
	// one): see transport/quic's CongestionControl. Neither has an effect
	// with Config.Transports set (configure a quic.Transport there).
	UDPCongestion    string
	NewUDPCongestion func(quic.CongestionParams) quic.CongestionControl
	// Logger receives the node's events. Default: discard.
	Logger *slog.Logger
	// Transports carry peer links. Default: TCP, UDP (transport/quic,
	// keyed by Identity and NetworkKey, padded with PadPackets; the node
	// closes it) and the process-wide mem transport (mem.Default). A
	// transport given here is the caller's to close.
	Transports []transport.Transport
	// HandshakeTimeout bounds a peer handshake. Default 10s.
	HandshakeTimeout time.Duration
	// PingInterval is how often peers are pinged; a peer silent for three
	// intervals is dropped. Default 15s.
	PingInterval time.Duration
	// DialTimeout bounds a Dial whose context has no deadline. Default 10s.
	DialTimeout time.Duration
	// HopLimit bounds how far this node's connect requests travel.
	// Default 8.
	HopLimit uint8
	// FailoverTimeout bounds how long a connection whose path broke looks
	// for a new one before it fails. Default 20s.
	FailoverTimeout time.Duration
	// StallTimeout is how long a connection's path may be silent before
	// it counts as broken (connections send heartbeats). Default 4s.
	StallTimeout time.Duration
	// EncryptDirect keeps connections encrypted end to end even when they
	// run over one peer link, which already encrypts them. Default false:
	// such connections rely on the link's encryption and use about a
	// quarter less CPU (see route.Config.EncryptDirect).
	EncryptDirect bool
	// Billing, if set, makes the node charge for relaying and pay for the
	// paths its dials use, over payment channels (see route.Billing).
	// Default nil: it relays for free and takes free paths only.
	Billing *route.Billing
	// RequestRate and RequestBurst limit the connect requests this node
	// accepts from each peer (a token bucket: per second, and at once).
	// Defaults 1000 and 1000.
	RequestRate  float64
	RequestBurst int
	// SendBuffer is how many written bytes a connection holds until the
	// other end acknowledges them; Write blocks while it is full. It grows
	// with the other end's window (see MaxWindow). Default 2 MiB.
	SendBuffer int
	// RecvBuffer is how many received bytes may wait for Read: the
	// receive window each connection advertises to the other end at
	// first, so also what it has in flight until the window grows (see
	// MaxWindow). Default 2 MiB.
	RecvBuffer int
	// Linger bounds how long Close keeps delivering what was written
	// before it gives up on it. Default 10s.
	Linger time.Duration
	// StreamWindow is the most one stream of a peer link (one hop of a
	// connection) has in flight. Each stream's window starts at
	// peer.InitialStreamWindow (256 KiB) and grows fourfold while the
	// stream fills it within a few of the link's round trips, up to
	// StreamWindow, with credit from MemoryBudget that comes back when the
	// stream ends; a relay reserves only the initial windows of a circuit
	// from CircuitMemory. Default 16 MiB: 1.3 Gbit/s at 100 ms. With
	// FixedStreamWindows every stream has StreamWindow from the start, a
	// relay reserves two of them per circuit, and the default is 1 MiB.
	StreamWindow int
	// FixedStreamWindows makes peer links use hashicorp/yamux
	// (peer.Yamux) with one fixed StreamWindow per stream, as nodes did
	// before stream windows grew; it speaks the same yamux as the
	// default peer.GoYamux, so either kind of node links with the other.
	// Default false.
	FixedStreamWindows bool
	// AcceptBacklog is how many connections wait for Accept per
	// listener, counting those being set up; more are refused
	// (route.ErrRefused). Default 128.
	AcceptBacklog int
	// MaxInboundHandshakes bounds inbound peer connections whose
	// handshake has not ended (act one not yet arrived included); when all
	// are taken the longest-waiting idle one is closed to make room.
	// Default 512 (see peer.Config).
	MaxInboundHandshakes int
	// MaxHandshakes bounds inbound peer handshakes past act one (the part
	// that costs curve arithmetic). Default 128.
	MaxHandshakes int
	// MaxHandshakesPerAddr bounds inbound peer handshakes from one source
	// IP. Default 16.
	MaxHandshakesPerAddr int
	// MaxPendingStreamsPerPeer bounds the streams one peer has opened
	// whose header is still being read; beyond it further streams are
	// reset unread. Default 32.
	MaxPendingStreamsPerPeer int
	// MaxPendingStreams bounds such streams over all peers. Default 1024.
	MaxPendingStreams int
	// MaxQueuedControl bounds the control bytes queued for one peer that
	// is not reading them; more are refused and counted in
	// Stats.ControlRefused. Default 1 MiB.
	MaxQueuedControl int
	// LinkCipher says whether peer links offer AES-256-GCM for their
	// frames. Default peer.CipherAuto: offered when this machine has AES
	// hardware; a link uses it when both ends offered, else BOLT 8's
	// ChaCha20-Poly1305 (peer.CipherChaCha20Poly1305 never offers it).
	LinkCipher peer.CipherSuite
	// GoneTimeout is how long a listener's connection waits for its
	// dialler to come back after the dialler's node dropped off the
	// path's first link (its process exited without closing, most
	// likely): then Read and Write fail with route.ErrPathBroken.
	// Default 3s. A relay dying is not this: connections through it fail
	// over within FailoverTimeout. On a direct path (no relays) a link cut
	// by the network looks the same as the dialler's exit, so such a
	// connection survives the cut only if its dialler finds a new path
	// within GoneTimeout (usually well under a second).
	GoneTimeout time.Duration
	// MinDirectedWait is the least a dial sent toward known next hops (a
	// learned route or a stealth advert) waits for an answer before it
	// floods; it waits 4 times the route's known setup latency if that is
	// longer. Default 150ms; raise it where answers are slow (a loaded or
	// distant network) to flood less. A repeat dial with a resumption
	// ticket falls back to a full handshake after the same bound.
	MinDirectedWait time.Duration
	// NoTickets turns resumption tickets off: the node neither issues
	// them nor dials with them, so every dial is a full handshake
	// (SPEC.md section 6). Default false: a repeat Dial of a key by this
	// node resumes without public-key work. Nodes of an earlier revision
	// end a connection at a ticket record, so a network mixing
	// revisions sets it.
	NoTickets bool
	// MaxCircuits and MaxCircuitsPerPeer bound the circuits this node
	// relays at once, in all and through one peer; CircuitMemory and
	// CircuitMemoryPerPeer bound the buffer memory active ones may pin,
	// each reserving two initial stream windows (whole windows with
	// FixedStreamWindows; see StreamWindow) and two 64 KiB copy buffers
	// (route.Config.CircuitCost). A circuit over a budget is refused and
	// counted in Stats.CircuitsRefused; the dialler uses another path.
	// Defaults 8192, 1024, 256 MiB and half of CircuitMemory.
	MaxCircuits, MaxCircuitsPerPeer     int
	CircuitMemory, CircuitMemoryPerPeer int64
	// AdvertRadius is how many links a stealth listener's advert travels
	// from the node that advertises (StealthOptions.Advertise), also
	// through this node. Default 4.
	AdvertRadius uint8
	// MaxWindow is the most a connection's receive window and send queue
	// grow to: each starts at RecvBuffer and SendBuffer and doubles while
	// data flows faster than the window allows and the reader keeps up
	// (bandwidth × round trip), with credit from MemoryBudget. Default
	// 16 MiB: 1.3 Gbit/s at 100 ms. A MaxWindow at or below RecvBuffer
	// and SendBuffer keeps connections at their base buffers. Each hop's
	// StreamWindow caps a connection too.
	MaxWindow int
	// MemoryBudget is the node-wide credit, in bytes, that connections'
	// windows grow with beyond RecvBuffer and SendBuffer, and its peer
	// links' stream windows beyond peer.InitialStreamWindow: a busy node
	// (a relay too) buffers at most its connections' and streams' base
	// windows plus this much. Idle connections and streams hold none of
	// it. Default 256 MiB: sixteen connections
	// at full window both ways, a small part of a server's memory.
	MemoryBudget int

	// Bootstrap are multiaddrs of nodes to join the network through:
	// linked at start and kept like Peers, then the DHT (on by default
	// with Bootstrap) looks up the node's own ID through them, linking to
	// the nodes it learns. A node started with only Bootstrap reaches
	// listeners anywhere the DHT reaches. Default: none.
	Bootstrap []string
	// DHT configures the node's part of the DHT (listener records
	// published by Listen, looked up by Dial). Default: on when
	// Bootstrap is set, off otherwise (DHTConfig.On and Off).
	DHT DHTConfig
	// TargetPeers is how many peer links the node keeps up while the DHT
	// runs: with fewer (counting every link but the DHT's own on-demand
	// ones), it links to nodes its DHT table knows, spread across the ID
	// space, learns more from its peers when the table runs short, and
	// replaces a kept link that goes down by another node. Peers and
	// Bootstrap count toward it and are kept regardless. Default 8; a
	// negative value keeps only Peers and Bootstrap. Without the DHT it
	// has no effect.
	TargetPeers int
	// LANDiscovery finds nodes on the local network segment: the node
	// sends a beacon (its identity key and IP listen addresses) to an
	// IPv4 multicast group (239.255.70.84:7946) every 10 s and links to
	// the nodes whose beacons it hears, at most 16 such links at a time.
	// With NetworkKey the beacons are sealed under it: random bytes to
	// others, and only the network's own are heard. Default false.
	LANDiscovery bool
	// NAT configures NAT traversal: hole punching is off by default
	// (see NATConfig); observed-address reports are always exchanged.
	NAT NATConfig

	// lanGroup overrides LAN discovery's multicast group (tests).
	lanGroup *net.UDPAddr
}

// validate rejects settings out of range: zero means the default, a
// negative value is a mistake and NewNode says so.
func (c *Config) validate() error {
	var bad []string
	for name, d := range map[string]time.Duration{
		"HandshakeTimeout": c.HandshakeTimeout, "PingInterval": c.PingInterval, "DialTimeout": c.DialTimeout,
		"FailoverTimeout": c.FailoverTimeout, "StallTimeout": c.StallTimeout, "Linger": c.Linger,
		"GoneTimeout": c.GoneTimeout, "MinDirectedWait": c.MinDirectedWait, "NAT.PunchTimeout": c.NAT.PunchTimeout,
	} {
		if d < 0 {
			bad = append(bad, name)
		}
	}
	for name, n := range map[string]int{
		"RequestBurst": c.RequestBurst, "SendBuffer": c.SendBuffer, "RecvBuffer": c.RecvBuffer,
		"StreamWindow": c.StreamWindow, "AcceptBacklog": c.AcceptBacklog,
		"MaxCircuits": c.MaxCircuits, "MaxCircuitsPerPeer": c.MaxCircuitsPerPeer,
		"MaxWindow": c.MaxWindow, "MemoryBudget": c.MemoryBudget,
		"MaxInboundHandshakes": c.MaxInboundHandshakes, "MaxHandshakes": c.MaxHandshakes,
		"MaxHandshakesPerAddr": c.MaxHandshakesPerAddr, "MaxPendingStreamsPerPeer": c.MaxPendingStreamsPerPeer,
		"MaxPendingStreams": c.MaxPendingStreams, "MaxQueuedControl": c.MaxQueuedControl, "NAT.MinAgree": c.NAT.MinAgree,
	} {
		if n < 0 {
			bad = append(bad, name)
		}
	}
	if c.RequestRate < 0 {
		bad = append(bad, "RequestRate")
	}
	if c.CircuitMemory < 0 {
		bad = append(bad, "CircuitMemory")
	}
	if c.CircuitMemoryPerPeer < 0 {
		bad = append(bad, "CircuitMemoryPerPeer")
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("%w: negative Config.%s (zero means the default)", ErrBadConfig, strings.Join(bad, ", Config."))
	}
	if c.NetworkKey != nil && len(c.NetworkKey) < 16 {
		return fmt.Errorf("%w: Config.NetworkKey of %d bytes (16 at least)", ErrBadConfig, len(c.NetworkKey))
	}
	if uint64(c.StreamWindow) > math.MaxUint32 { // (negatives were refused above)
		return fmt.Errorf("%w: Config.StreamWindow %d is over 4 GiB", ErrBadConfig, c.StreamWindow)
	}
	return nil
}

// Node is one participant of the network: it holds peer links, relays for
// others, and listens and dials on keys. Its methods are safe for
// concurrent use.
type Node struct {
	id     Addr
	key    *btcec.PrivateKey
	log    *slog.Logger
	peers  *peer.Set
	router *route.Router

	dialTimeout time.Duration // Config.DialTimeout, defaulted

	closeOnce sync.Once
	budget    *session.Budget // Config.MemoryBudget
	dht       *dhtPart        // nil while the DHT is off (Config.DHT)
	lan       *lanPart        // nil unless Config.LANDiscovery

	nat        *natPart        // NAT traversal (natpunch.go)
	udp        *quic.Transport // the default UDP transport (closed by Close), or nil
	networkKey bool            // Config.NetworkKey is set
}

// NewNode starts a node: it listens on cfg.ListenAddrs and starts linking
// to cfg.Peers. It fails if a listen address is unusable or any address is
// malformed.
func NewNode(cfg Config) (*Node, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Identity == nil {
		k, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		cfg.Identity = k
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	listen, err := parseMultiaddrs(cfg.ListenAddrs)
	if err != nil {
		return nil, err
	}
	peers, err := parseMultiaddrs(cfg.Peers)
	if err != nil {
		return nil, err
	}
	bootstrap, err := parseMultiaddrs(cfg.Bootstrap)
	if err != nil {
		return nil, err
	}
	if cfg.DHT.On && cfg.DHT.Off {
		return nil, fmt.Errorf("%w: Config.DHT.On and Off both set", ErrBadConfig)
	}
	if cfg.DHT.LookupTimeout < 0 || cfg.DHT.Maintain < 0 || cfg.DHT.RPCTimeout < 0 {
		return nil, fmt.Errorf("%w: negative Config.DHT duration (zero means the default)", ErrBadConfig)
	}
	n := &Node{
		id:          AddrFromPubKey(cfg.Identity.PubKey()),
		key:         cfg.Identity,
		dialTimeout: cfg.DialTimeout,
		budget:      session.NewBudget(int64(cmp.Or(cfg.MemoryBudget, 256<<20))),
		networkKey:  len(cfg.NetworkKey) > 0,
	}
	if len(cfg.Transports) == 0 {
		n.udp, err = quic.New(quic.Config{
			NetworkKey:    cfg.NetworkKey,
			Identity:      cfg.Identity,
			PadPackets:    cfg.PadPackets,
			Logger:        cfg.Logger,
			Congestion:    cfg.UDPCongestion,
			NewCongestion: cfg.NewUDPCongestion,
		})
		if errors.Is(err, quic.ErrConfig) {
			return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		if err != nil {
			return nil, fmt.Errorf("foxtrot: UDP transport: %w", err)
		}
		cfg.Transports = []transport.Transport{tcp.New(), n.udp, mem.New()}
	}
	for _, p := range append(slices.Clip(peers), bootstrap...) {
		if err := n.checkUDPKey(p); err != nil {
			n.closeUDP()
			return nil, err
		}
	}
	if n.dialTimeout == 0 {
		n.dialTimeout = 10 * time.Second
	}
	n.log = cfg.Logger.With("node", n.id.String())
	// A relay reserves what a circuit's two streams hold without credit:
	// their initial windows, or with fixed windows the whole window.
	streamWindow, circuitWindow, newMuxer := cmp.Or(cfg.StreamWindow, 16<<20), peer.InitialStreamWindow, peer.NewMuxerFunc(peer.GoYamux)
	if cfg.FixedStreamWindows {
		streamWindow = cmp.Or(cfg.StreamWindow, 1<<20)
		circuitWindow, newMuxer = streamWindow, peer.Yamux
	}
	n.router, err = route.New(route.Config{
		Identity:        cfg.Identity,
		Logger:          n.log,
		HopLimit:        cfg.HopLimit,
		DialTimeout:     cfg.DialTimeout,
		RequestRate:     cfg.RequestRate,
		RequestBurst:    cfg.RequestBurst,
		FailoverTimeout: cfg.FailoverTimeout,
		StallTimeout:    cfg.StallTimeout,
		EncryptDirect:   cfg.EncryptDirect,
		Billing:         cfg.Billing,
		SendBuffer:      cfg.SendBuffer,
		RecvBuffer:      cfg.RecvBuffer,
		Linger:          cfg.Linger,
		AcceptBacklog:   cfg.AcceptBacklog,
		GoneTimeout:     cfg.GoneTimeout,
		MinDirectedWait: cfg.MinDirectedWait,
		NoTickets:       cfg.NoTickets,

		StreamWindow:         circuitWindow,
		MaxCircuits:          cfg.MaxCircuits,
		MaxCircuitsPerPeer:   cfg.MaxCircuitsPerPeer,
		CircuitMemory:        cfg.CircuitMemory,
		CircuitMemoryPerPeer: cfg.CircuitMemoryPerPeer,
		AdvertRadius:         cfg.AdvertRadius,
		MaxWindow:            cfg.MaxWindow,
		Budget:               n.budget,
	})
	if err != nil {
		n.closeUDP()
		return nil, err
	}
	n.peers, err = peer.NewSet(peer.Config{
		Identity:         cfg.Identity,
		NetworkKey:       cfg.NetworkKey,
		Transports:       cfg.Transports,
		Handler:          n.router,
		Logger:           n.log,
		HandshakeTimeout: cfg.HandshakeTimeout,
		PingInterval:     cfg.PingInterval,
		StreamWindow:     uint32(streamWindow),
		WindowBudget:     n.budget,
		NewMuxer:         newMuxer,

		MaxInboundHandshakes:     cfg.MaxInboundHandshakes,
		MaxHandshakes:            cfg.MaxHandshakes,
		MaxHandshakesPerAddr:     cfg.MaxHandshakesPerAddr,
		MaxPendingStreamsPerPeer: cfg.MaxPendingStreamsPerPeer,
		MaxPendingStreams:        cfg.MaxPendingStreams,
		MaxQueuedControl:         cfg.MaxQueuedControl,
		LinkCipher:               cfg.LinkCipher,
	})
	if err != nil {
		n.router.Close()
		n.closeUDP()
		return nil, err
	}
	n.nat = newNAT(n, cfg.NAT, cfg.Transports)
	for _, p := range []peer.Protocol{n.router.GoneProtocol(), n.router.AdvertProtocol(), n.router.TicketProtocol(), n.nat.protocol()} {
		if err := n.peers.Register(p); err != nil {
			n.Close()
			return nil, err
		}
	}
	if n.dht, err = newDHT(cfg, n.peers, cfg.Identity); err != nil {
		n.Close()
		return nil, err
	}
	for _, a := range listen {
		full, err := n.peers.Listen(a)
		if err != nil {
			n.Close()
			return nil, fmt.Errorf("foxtrot: listen on %s: %w", a, err)
		}
		n.log.Info("listening for peers", "addr", full.String())
	}
	for _, p := range append(peers, bootstrap...) {
		n.peers.Keep(p)
	}
	if n.dht != nil {
		n.dht.start(len(peers)+len(bootstrap) > 0)
	}
	if cfg.LANDiscovery {
		if n.lan, err = startLAN(n, cfg.NetworkKey, cfg.lanGroup); err != nil {
			n.Close()
			return nil, fmt.Errorf("foxtrot: LAN discovery: %w", err)
		}
	}
	return n, nil
}

func parseMultiaddrs(ss []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(ss))
	for _, s := range ss {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("foxtrot: bad multiaddr %q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Identity returns the address of the node's identity key.
func (n *Node) Identity() Addr { return n.id }

// ListenAddrs returns the full multiaddrs peers can link to, ports
// resolved, each ending in /foxtrot/<identity address>, except UDP ones,
// which end in /foxtrot/<66-hex public key>: a dialler without the
// network key needs the key to key its datagrams (see Config.Peers).
func (n *Node) ListenAddrs() []string {
	addrs := n.peers.ListenAddrs()
	out := make([]string, len(addrs))
	for i, a := range addrs {
		if base, _ := transport.SplitIdentity(a); isUDP(base) {
			if full, err := transport.WithIdentity(base, hex.EncodeToString(n.key.PubKey().SerializeCompressed())); err == nil {
				a = full
			}
		}
		out[i] = a.String()
	}
	return out
}

// isUDP reports whether a is an IP address followed by /udp/<port>.
func isUDP(a ma.Multiaddr) bool {
	return len(a) >= 2 && (a[0].Code() == ma.P_IP4 || a[0].Code() == ma.P_IP6) && a[1].Code() == ma.P_UDP
}

// checkUDPKey refuses a peer address the default UDP transport could not
// key a datagram to: no network key and no public key in the address.
func (n *Node) checkUDPKey(a ma.Multiaddr) error {
	base, id := transport.SplitIdentity(a)
	if n.udp == nil || n.networkKey || !n.udp.Match(base) {
		return nil
	}
	if id != "" {
		if _, pub, err := addr.ParseNodeID(id); err != nil || pub != nil {
			return nil // a key, or a malformed id that the dial reports
		}
	}
	return fmt.Errorf("%w: %s", ErrUDPNeedsKey, a)
}

// closeUDP closes the default UDP transport, if the node made one.
func (n *Node) closeUDP() error {
	if n.udp == nil {
		return nil
	}
	return n.udp.Close()
}

// Connect links to the peer at multiaddr now (Config.Peers are linked
// automatically). With a /foxtrot/<address> suffix the peer must prove it
// holds that identity (peer.ErrWrongIdentity otherwise); with a 66-hex
// public key the handshake is Lightning's BOLT 8. Connecting to a peer
// already linked returns at once.
func (n *Node) Connect(ctx context.Context, multiaddr string) error {
	a, err := ma.NewMultiaddr(multiaddr)
	if err != nil {
		return fmt.Errorf("foxtrot: bad multiaddr %q: %w", multiaddr, err)
	}
	if err := n.checkUDPKey(a); err != nil {
		return err
	}
	_, err = n.peers.Connect(ctx, a)
	if errors.Is(err, obfs.ErrNoKey) && !errors.Is(err, ErrUDPNeedsKey) {
		// A UDP transport of Config.Transports without the key.
		err = fmt.Errorf("%w: %s: %w", ErrUDPNeedsKey, multiaddr, err)
	}
	return err
}

// ConnectAll links to every multiaddr at once (as Connect) and returns
// how many linked, with the failures joined into the error (nil when all
// linked). A program that needs at least one peer checks linked > 0.
func (n *Node) ConnectAll(ctx context.Context, multiaddrs []string) (linked int, err error) {
	errs := make([]error, len(multiaddrs))
	var wg sync.WaitGroup
	for i, m := range multiaddrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = n.Connect(ctx, m); errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", m, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, e := range errs {
		if e == nil {
			linked++
		}
	}
	return linked, errors.Join(errs...)
}

// Disconnect closes the link to a peer. Connections through it move to
// other paths. A peer in Config.Peers is redialled, as after any loss.
func (n *Node) Disconnect(peerAddr Addr) error {
	l := n.peers.Link(peerAddr.Hash160())
	if l == nil {
		return fmt.Errorf("foxtrot: not linked to %s", peerAddr)
	}
	return l.Close()
}

// Routes returns what the node has learned about where addresses are:
// for each target, the neighbours that led to it, best first.
func (n *Node) Routes() []Route {
	rs := n.router.Routes()
	out := make([]Route, len(rs))
	for i, r := range rs {
		out[i] = Route{Target: AddrFromHash160(r.Target), NextHop: AddrFromHash160(r.NextHop), Hops: r.Hops,
			Latency: r.Latency, Successes: r.Successes, Failures: r.Failures, Price: r.Price, Updated: r.Updated}
	}
	return out
}

// Route is one learned next hop toward an address: found through acks
// that came back that way, and scored by what connections through it did.
type Route struct {
	Target    Addr
	NextHop   Addr          // the neighbour to send requests for Target to
	Hops      int           // links from here to Target through NextHop
	Latency   time.Duration // smoothed request-to-ack time through NextHop
	Successes int           // circuits or connections through it that ended well
	Failures  int           // ... that broke
	Price     uint64        // the path's quoted price per MiB
	Updated   time.Time     // last confirmed
}

// Peers returns the identities of the peers linked now.
func (n *Node) Peers() []Addr {
	links := n.peers.Links()
	out := make([]Addr, len(links))
	for i, l := range links {
		out[i] = AddrFromHash160(l.ID())
	}
	return out
}

// Close closes every connection, listener and link of the node and waits
// for its goroutines. It is idempotent.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		// LAN beacons, then the DHT's publishers and lookups, then connections (they
		// say goodbye over the links), then links. The UDP transport
		// last: its sockets carry the links' goodbyes.
		var derr, lerr error
		if n.lan != nil {
			lerr = n.lan.close()
		}
		if n.dht != nil {
			derr = n.dht.close()
		}
		if n.nat != nil {
			n.nat.close()
		}
		err = errors.Join(lerr, derr, n.router.Close(), n.peers.Close(), n.closeUDP())
	})
	return err
}
