// Package quic carries peer links over UDP: a transport.Transport
// (/ip4/<ip>/udp/<port> and /ip6/<ip>/udp/<port>) whose net.Conn is one
// QUIC stream (quic-go, patched: internal/third_party/quicgo) over an obfuscated UDP
// socket (transport/obfs), so that the Noise + yamux link stack of
// package peer runs over it unchanged and nothing on the wire is
// recognisable as QUIC.
//
// # Wire
//
// Every datagram is sealed by transport/obfs (see its SPEC.md): keyed by
// Config.NetworkKey, or by the responder's identity when dialled with
// DialPeer. Inside is QUIC v1 (RFC 9000) with TLS 1.3 and the ALPN
// "foxtrot". A dialled net.Conn is the QUIC connection's first
// bidirectional stream; its first byte is a preamble, 0x00, which the
// dialler writes at once and the acceptor consumes before it hands the
// conn out (QUIC shows the acceptor a stream only once a frame of it
// arrives, and a plain net.Conn's dialler need not write first). A stream
// that starts with anything else closes the connection. The rest of the
// stream is the caller's bytes. Only the dialler opens a stream, and only
// one.
//
// # Security
//
// TLS here is only QUIC's packet protection: each Transport makes a
// throwaway self-signed certificate and the dialler does not verify it
// (InsecureSkipVerify). Who is at the other end is proven by the Noise
// handshake that package peer runs over the conn, as over TCP; what the
// obfs layer adds is that a scanner without the network key (or the
// responder's identity key) gets no answer of any kind.
//
// Keys: with Config.NetworkKey every datagram is keyed by the network
// key, so Dial works with the plain transport address that
// transport.Transport.Dial receives. Keying by the responder's identity
// needs its public key, which Dial does not get (peer strips the
// /foxtrot/<id> suffix): DialPeer takes it, and a caller finds it by type
// assertion (transport.PeerDialer). A responder answers identity-keyed
// dials when its Config.Identity is set. peer.Set uses DialPeer when the
// address names the peer by its 66-hex public key; an address naming it
// by its foxtrot address (a hash) gives no key, so such a dial is keyed
// by Config.NetworkKey and needs one.
//
// # Sockets
//
// A Transport uses ONE UDP socket per listening address for both that
// listener's accepted conns and the dials it sends (a dial goes out of a
// listening socket of the destination's family, bound to the unspecified
// address or, for a loopback destination, to loopback), so that NAT
// mappings made by dials are the ones peers reach the node through (hole
// punching: Punch sends a datagram of random bytes out of that socket to
// open the node's NAT toward a peer about to dial in). Without such a
// listener a dial uses one unbound socket per family, shared by all
// dials. A socket lives while a listener or a conn uses it, and until
// Close. The sockets come from Config.Packets: real UDP by default, a
// simulated network (internal/natsim) in tests.
//
// # Packet size
//
// Path-MTU discovery is off and QUIC packets are 1280 bytes at most, so
// that with the obfs overhead (58 bytes, 122 from an identity-keyed
// initiator) every datagram stays within 1452 bytes, the largest obfs
// padding size.
//
// # Close
//
// quic-go's Stream.Close only ends the write side, and closing the
// connection discards data not yet sent. Conn.Close therefore lingers:
// it sends the FIN at once and returns, and the connection is closed in
// the background when the peer's FIN (or close) arrives, or after
// Config.Linger. Those background closers belong to the Transport; its
// Close ends them, each closing its connection (so the peer hears of it)
// before the sockets close.
//
// # Congestion control
//
// Each connection's congestion controller is Config.Congestion's: the
// built-in CUBIC (Cubic, the default) or NewReno (Reno), both with
// HyStart++ slow start (RFC 9406, patched into the copy: upstream ends
// slow start at the first delay increase) and pacing, the model-based
// BBR (NewBBR: paced at a gain times the measured bottleneck bandwidth,
// windowed at twice the bandwidth-delay product), or a custom algorithm
// that
// Config.NewCongestion makes, implementing CongestionControl (it may
// wrap NewCubic or NewReno). quic-go's congestion package is internal
// and upstream offers no hook, so this package runs on a copy of quic-go
// v0.65.0 in internal/third_party/quicgo (its FORK.md), patched for this alone.
// Upstream always runs NewReno; CUBIC is the default here because it
// recovers from a loss faster on long, fat paths (BenchmarkWANThroughput,
// see Config.Congestion).
package quic

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
	"github.com/foxtrotnet/foxtrot/transport/udp"
)

// ALPN is the TLS application protocol a foxtrot QUIC connection names.
const ALPN = "foxtrot"

// preamble is the first byte of a dialled stream.
const preamble = 0x00

// maxPacket is the largest QUIC packet sent: 1280 + 122 bytes of obfs
// overhead fit in 1452. (1330 would fill 1452 exactly; measured within
// the noise of 1280 on loopback, and 1280 leaves room on paths whose MTU
// is under 1500, PPPoE's 1492 with IPv6 among them, without padding.)
const maxPacket = 1280

// Config configures a Transport. The keys are obfs's: at least one of
// NetworkKey and Identity must be set (nothing else may go on the wire).
type Config struct {
	// NetworkKey is the network's pre-shared key (16 bytes at least);
	// datagrams to and from addresses without an identity key are keyed
	// by it. Default nil: none, and then Identity must be set.
	NetworkKey []byte
	// Identity is this node's static key: with it, listeners answer
	// dials keyed by this identity (DialPeer). Default nil.
	Identity *btcec.PrivateKey
	// PadPackets pads every datagram to one of obfs's fixed sizes.
	// Default false.
	PadPackets bool
	// HandshakeTimeout bounds the QUIC handshake and, for an accepted
	// connection, the arrival of its stream's preamble. Default 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has heard nothing for this
	// long; keepalives are sent every IdleTimeout/2, so only a dead peer
	// or path times out. Default 30s.
	IdleTimeout time.Duration
	// Linger bounds how long a closed Conn waits for the peer's FIN
	// before it closes the connection (unsent data is then lost).
	// Default 5s.
	Linger time.Duration
	// Logger receives debug events (failed inbound handshakes); nil
	// discards them.
	Logger *slog.Logger
	// Obfs tunes the datagram wrapper (clock, bounds); its key fields
	// are ignored in favour of the ones above. Default: obfs's defaults.
	Obfs obfs.Config
	// Congestion names the built-in congestion controller of every
	// connection: Cubic ("cubic"), Reno ("reno") or BBR ("bbr"), all
	// paced.
	// Default Cubic, by measurement (BenchmarkWANThroughput: 39 MB one
	// way through a 100 ms round trip and a 6.25 MB/s bottleneck with a
	// drop-tail queue, three runs each): with 0.01% random loss CUBIC
	// moved 5.31-5.39 MB/s and NewReno 4.61-4.71; with a queue of a
	// quarter of the bandwidth-delay product and no loss 5.28-5.49
	// against 5.10-5.28, with a full one 5.64-5.67 against 5.41-5.66;
	// at 0.1% loss both are held by the loss rate alike (0.7-0.9). After
	// a loss NewReno regrows its window by one packet per round trip,
	// CUBIC by a cubic function of the time since the loss; CUBIC was
	// never the slower. BBR, through the same benchmark (20 MB a run,
	// medians of three, 100 ms and 20 ms): 0.96 and 1.00 of CUBIC with
	// a full queue and no loss, 2.7 and 2.3 times CUBIC at 0.1% loss
	// (DESIGN.md has the rows).
	// Any other name is an error (ErrConfig).
	Congestion string
	// NewCongestion, when set, makes each connection's congestion
	// controller instead (again for each new path of a migrated
	// connection): a custom algorithm. A nil return selects the
	// controller named by Congestion. Default nil.
	NewCongestion func(CongestionParams) CongestionControl
	// Packets is the datagram transport under the obfs wrapper: what
	// listens on /ip4|ip6/<ip>/udp/<port> and sends to such addresses.
	// Default: real UDP sockets (transport/udp). Tests put a simulated
	// network here (internal/natsim's Host.Transport).
	Packets transport.PacketTransport
}

func (c Config) withDefaults() (Config, error) {
	if c.HandshakeTimeout < 0 || c.IdleTimeout < 0 || c.Linger < 0 {
		return c, fmt.Errorf("%w: negative timeout", ErrConfig)
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.Linger == 0 {
		c.Linger = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Congestion == "" {
		c.Congestion = Cubic
	}
	c.Obfs.NetworkKey, c.Obfs.Identity, c.Obfs.PadPackets = c.NetworkKey, c.Identity, c.PadPackets
	return c, nil
}

// PeerDialer is transport.PeerDialer: the ability to dial keyed by the
// responder's identity.
type PeerDialer = transport.PeerDialer

// Transport dials and listens on UDP, carrying one QUIC stream per conn.
type Transport struct {
	cfg       Config
	packets   *obfs.Transport
	udp       transport.PacketTransport // Config.Packets
	serverTLS *tls.Config
	clientTLS *tls.Config
	serverQ   *quicgo.Config
	clientQ   *quicgo.Config

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // lingering closers and accept loops

	mu      sync.Mutex
	closed  bool
	sockets map[*socket]struct{} // every open socket
	dialers map[int]*socket      // unbound dial sockets by family (ma.P_IP4, ma.P_IP6)
	// listeners are the open ones, closed by Close.
	listeners map[*Listener]struct{}
}

var (
	_ transport.Transport = (*Transport)(nil)
	_ PeerDialer          = (*Transport)(nil)
)

// New returns a Transport; cfg is validated here, once.
func New(cfg Config) (*Transport, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	congestion, err := cfg.congestion()
	if err != nil {
		return nil, err
	}
	u := cfg.Packets
	if u == nil {
		u = udp.New()
	}
	packets, err := obfs.NewTransport(u, cfg.Obfs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	q := &quicgo.Config{
		HandshakeIdleTimeout:    cfg.HandshakeTimeout,
		MaxIdleTimeout:          cfg.IdleTimeout,
		KeepAlivePeriod:         cfg.IdleTimeout / 2,
		InitialPacketSize:       maxPacket,
		DisablePathMTUDiscovery: true,
		MaxIncomingUniStreams:   -1,
		// One stream per connection: its windows are the connection's.
		InitialStreamReceiveWindow:     1 << 20,
		InitialConnectionReceiveWindow: 1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		MaxConnectionReceiveWindow:     16 << 20,
		Congestion:                     congestion,
	}
	server, client := q.Clone(), q.Clone()
	server.MaxIncomingStreams = 1
	client.MaxIncomingStreams = -1
	ctx, cancel := context.WithCancel(context.Background())
	return &Transport{
		cfg:     cfg,
		packets: packets,
		udp:     u,
		serverTLS: &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{ALPN},
			MinVersion:   tls.VersionTLS13,
		},
		clientTLS: &tls.Config{
			InsecureSkipVerify: true, // identity is proven by Noise on top
			NextProtos:         []string{ALPN},
			ServerName:         ALPN,
			MinVersion:         tls.VersionTLS13,
		},
		serverQ: server,
		clientQ: client,
		ctx:     ctx,
		cancel:  cancel,
		sockets: make(map[*socket]struct{}),
		dialers: make(map[int]*socket),

		listeners: make(map[*Listener]struct{}),
	}, nil
}

// selfSigned makes a throwaway P-256 certificate.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: ALPN},
		DNSNames:     []string{ALPN},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(100 * 365 * 24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Match reports whether addr is an IP address followed by /udp/N.
func (t *Transport) Match(addr ma.Multiaddr) bool { return t.udp.Match(addr) }

// Dial connects to addr, keying datagrams by the network key; without
// one it fails at once with an error wrapping obfs.ErrNoKey (use
// DialPeer).
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr) (net.Conn, error) {
	return t.dial(ctx, addr, nil)
}

// DialPeer connects to addr keying datagrams by pub, the responder's
// identity (its listener needs Config.Identity).
func (t *Transport) DialPeer(ctx context.Context, addr ma.Multiaddr, pub *btcec.PublicKey) (net.Conn, error) {
	return t.dial(ctx, addr, pub)
}

func (t *Transport) dial(ctx context.Context, addr ma.Multiaddr, pub *btcec.PublicKey) (net.Conn, error) {
	opErr := func(ra net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: "quic", Addr: ra, Err: err}
	}
	na, err := t.udp.ResolveAddr(addr)
	if err != nil {
		return nil, opErr(nil, err)
	}
	ua := na.(*net.UDPAddr)
	if pub == nil && len(t.cfg.NetworkKey) == 0 {
		// Nothing could key the datagrams: fail now rather than time out.
		return nil, opErr(ua, obfs.ErrNoKey)
	}
	s, err := t.dialSocket(addr[0].Code(), ua)
	if err != nil {
		return nil, opErr(ua, err)
	}
	if pub != nil {
		if err := s.pc.AddPeer(ua, pub); err != nil {
			t.release(s)
			return nil, opErr(ua, err)
		}
	}
	qc, err := s.qt.Dial(ctx, ua, t.clientTLS, t.clientQ)
	if err != nil {
		t.release(s)
		return nil, opErr(ua, err)
	}
	st, err := qc.OpenStreamSync(ctx)
	if err == nil {
		_, err = st.Write([]byte{preamble})
	}
	if err != nil {
		qc.CloseWithError(0, "")
		t.release(s)
		return nil, opErr(ua, err)
	}
	return t.newConn(s, qc, st), nil
}

// dialSocket returns, with a reference taken, the socket a dial to ua
// goes out of: a listening socket that can reach it, else the shared
// unbound one of its family.
func (t *Transport) dialSocket(family int, ua *net.UDPAddr) (*socket, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, net.ErrClosed
	}
	for s := range t.sockets {
		if s.listening && s.family == family && (s.ip.IsUnspecified() || s.ip.IsLoopback() == ua.IP.IsLoopback()) {
			s.refs++
			return s, nil
		}
	}
	if s := t.dialers[family]; s != nil {
		s.refs++
		return s, nil
	}
	any := "/ip4/0.0.0.0/udp/0"
	if family == ma.P_IP6 {
		any = "/ip6/::/udp/0"
	}
	s, err := t.openLocked(ma.StringCast(any), family)
	if err != nil {
		return nil, err
	}
	t.dialers[family] = s
	s.refs++
	return s, nil
}

// Listen listens on addr; port 0 picks a free one.
func (t *Transport) Listen(addr ma.Multiaddr) (transport.Listener, error) {
	if !t.Match(addr) {
		return nil, fmt.Errorf("%w for %s", transport.ErrNoTransport, addr)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, net.ErrClosed
	}
	s, err := t.openLocked(addr, addr[0].Code())
	if err != nil {
		t.mu.Unlock()
		return nil, err
	}
	ql, err := s.qt.Listen(t.serverTLS, t.serverQ)
	if err != nil {
		t.closeSocketLocked(s)
		t.mu.Unlock()
		return nil, err
	}
	s.listening = true
	s.refs++
	t.mu.Unlock()
	return t.newListener(s, ql), nil
}

// socket is one obfuscated UDP socket and the quic.Transport over it.
type socket struct {
	pc        *obfs.Conn
	qt        *quicgo.Transport
	family    int
	ip        net.IP
	listening bool // guarded by Transport.mu, as are refs
	refs      int  // listeners and conns using it
}

func (t *Transport) openLocked(addr ma.Multiaddr, family int) (*socket, error) {
	pc, err := t.packets.ListenPacket(addr)
	if err != nil {
		return nil, err
	}
	oc := pc.(*obfs.Conn)
	s := &socket{pc: oc, qt: &quicgo.Transport{Conn: oc}, family: family}
	if ua, ok := oc.LocalAddr().(*net.UDPAddr); ok {
		s.ip = ua.IP
	}
	t.sockets[s] = struct{}{}
	return s, nil
}

// release drops a reference to s, closing it when it was the last.
func (t *Transport) release(s *socket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		t.closeSocketLocked(s)
	}
}

func (t *Transport) closeSocketLocked(s *socket) {
	if _, ok := t.sockets[s]; !ok {
		return
	}
	delete(t.sockets, s)
	if t.dialers[s.family] == s {
		delete(t.dialers, s.family)
	}
	s.qt.Close()
	s.pc.Close()
}

// Close closes every socket, and with them every listener and conn, and
// returns when the transport's goroutines have exited. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.wg.Wait()
		return nil
	}
	t.closed = true
	var ls []*Listener
	for l := range t.listeners {
		ls = append(ls, l)
	}
	t.mu.Unlock()
	// Lingering closers stop waiting for their peers' FIN and close their
	// connections, which tells the peers (a CONNECTION_CLOSE), while the
	// sockets are still open: closing a socket first would end its
	// connections without a word, and a peer would learn of it only when
	// its idle timeout struck.
	t.cancel()
	t.wg.Wait()
	t.mu.Lock()
	for s := range t.sockets {
		t.closeSocketLocked(s)
	}
	t.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	return nil
}

// goroutine runs f as a goroutine of the transport unless it is closed.
func (t *Transport) goroutine(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}
