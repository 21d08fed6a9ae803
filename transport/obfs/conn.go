// Package obfs wraps a datagram socket so that nothing on the wire is
// recognisable: every datagram is uniformly random bytes to anyone
// without its key, and a datagram that does not authenticate, or repeats
// one already received, is dropped without any answer.
//
// # Keys
//
// A datagram is keyed one of two ways:
//
//   - By the network key (Config.NetworkKey), a secret every node of a
//     private network shares: K = HKDF-SHA256(NetworkKey, info "foxtrot
//     obfs network key").
//   - By the responder's identity: an initiator that knows the responder's
//     static secp256k1 key (AddPeer) makes an ephemeral key, encodes it
//     with ElligatorSwift (BIP 324; 64 bytes indistinguishable from
//     random, btcec/v2/ellswift) and derives K = HKDF-SHA256(x, salt
//     NetworkKey, info "foxtrot obfs identity key" || ell || responder),
//     x the x coordinate of their ECDH. Every datagram it sends carries
//     ell in front; the responder (Config.Identity) derives the same K,
//     caches it by ell, and answers that address with K and no prefix.
//
// # Wire format (SPEC.md, with test vectors)
//
//	[ell 64, initiator to responder only] nonce 24 | XChaCha20-Poly1305(
//	    sender 8 | seq 8 | length 2 | payload | zero padding ) tag 16
//
// The associated data is ell (or nothing). sender is random per Conn; seq
// is epoch<<32 | counter, epoch the sender's Unix time in seconds, renewed
// every minute. Overhead: 58 bytes (Overhead), 122 from an initiator
// (InitiatorOverhead). With Config.PadPackets a datagram is padded to
// 256, 512, 1024, 1280 or 1452 bytes (larger ones keep their size).
//
// # Replays
//
// The receiver keeps a sliding window of 2048 sequence numbers per sender
// (as WireGuard and IPsec do), so a replayed datagram is dropped whatever
// address it comes from, and refuses an epoch more than a minute plus
// Config.MaxClockSkew old or MaxClockSkew in the future. The windows are
// bounded (Config.MaxSenders); a window lost to that bound or to a
// restart lets a datagram captured within the last minute plus
// MaxClockSkew be delivered once more: what the time check bounds. When
// a sender renews its epoch, its datagrams of the old epoch still in
// flight are dropped (once a minute, a few at most).
//
// # Costs
//
// A datagram that authenticates under no key costs one or more Poly1305
// checks; on a conn with an Identity, one that is long enough also costs
// an ECDH (0.1-0.3 ms here), since its first 64 bytes may be a new
// initiator's key: the price of having no cleartext to tell junk from a
// first datagram. Config.MaxKeyAgreements bounds those per second; a
// flood of junk beyond it delays new initiators (their datagrams are
// dropped with the junk until they resend), never known peers, whose
// keys are cached.
//
// # quic-go
//
// A Conn has ReadFrom and WriteTo, the transport.BatchConn methods (which
// obfuscate every datagram of a batch, over the inner conn's batches
// where it has them), transport.SegmentConn's WriteSegments (which
// obfuscates every datagram of a run and hands the sealed run to the
// inner conn's, one sendmsg with UDP_SEGMENT over a udp.Conn on Linux),
// and SetReadBuffer and SetWriteBuffer passed to the inner conn. It
// deliberately lacks ReadMsgUDP, WriteMsgUDP and SyscallConn: quic-go
// (v0.65) takes those as a UDP socket it may read and write directly
// (recvmmsg batches, GSO, ECN), which would bypass the obfuscation. Over
// a Conn quic-go reads one datagram per ReadFrom, without ECN, and (the
// fork's SegmentWriter patch) sends the runs it packs for segmentation
// offload through WriteSegments. Underneath, ReadFrom reads the inner
// conn in batches (recvmmsg over a udp.Conn) and hands them out one per
// call.
//
// # Speed
//
// Per datagram, besides the AEAD, a Conn allocates nothing of its own,
// formats no string (its key maps are keyed by IP and port), makes no
// system call for the nonce (SPEC.md, Nonces) and, receiving, shares one
// system call with the rest of its batch.
package obfs

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/time/rate"

	"github.com/foxtrotnet/foxtrot/transport"
)

// epochInterval is how long a sender keeps one epoch.
const epochInterval = 60 // seconds

// Config configures a Conn. At least one of NetworkKey and Identity is
// set.
type Config struct {
	// NetworkKey is the network's pre-shared key. With it, datagrams to
	// and from any address without an identity key are keyed by it, and
	// identity keys are salted with it. Default nil: none.
	NetworkKey []byte
	// Identity is this node's static key: with it, the Conn answers
	// initiators that dialled it by identity. Default nil: it answers
	// only network-keyed datagrams.
	Identity *btcec.PrivateKey
	// PadPackets pads every datagram to 256, 512, 1024, 1280 or 1452
	// bytes on the wire, hiding the sizes below those. Default false.
	PadPackets bool
	// MaxClockSkew is how far a sender's clock may differ from ours.
	// Default 2 minutes.
	MaxClockSkew time.Duration
	// MaxSenders bounds the replay windows, initiators' keys and cached
	// key agreements kept (each); beyond it an arbitrary one is
	// forgotten. Default 4096.
	MaxSenders int
	// MaxKeyAgreements is how many ECDHs per second (with a burst of as
	// many) a Conn with an Identity makes for datagrams that might come
	// from a new initiator; each costs 0.1-0.3 ms, so junk could
	// otherwise spend a core. Beyond it such datagrams are dropped (a new
	// initiator's first datagrams among them, under a flood: it resends).
	// Default 1000.
	MaxKeyAgreements int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Rand is the source of nonces, ephemeral keys and sender ids; it
	// must be safe for concurrent use. Default: crypto/rand.Reader for
	// ephemeral keys and sender ids, and for nonces a ChaCha8 generator
	// (math/rand/v2) per Conn seeded with 32 bytes from it, which costs
	// no system call per datagram (SPEC.md, Nonces).
	Rand io.Reader
}

func (c Config) withDefaults() (Config, error) {
	if len(c.NetworkKey) == 0 && c.Identity == nil {
		return c, fmt.Errorf("%w: neither NetworkKey nor Identity", ErrConfig)
	}
	if c.NetworkKey != nil && len(c.NetworkKey) < 16 {
		return c, fmt.Errorf("%w: NetworkKey of %d bytes (16 at least)", ErrConfig, len(c.NetworkKey))
	}
	if c.MaxClockSkew < 0 || c.MaxSenders < 0 || c.MaxKeyAgreements < 0 {
		return c, fmt.Errorf("%w: negative MaxClockSkew, MaxSenders or MaxKeyAgreements", ErrConfig)
	}
	if c.MaxKeyAgreements == 0 {
		c.MaxKeyAgreements = 1000
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 2 * time.Minute
	}
	if c.MaxSenders == 0 {
		c.MaxSenders = 4096
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Stats counts a Conn's datagrams.
type Stats struct {
	Sent     uint64 // datagrams sent
	Received uint64 // datagrams delivered to the reader
	// Unauthenticated counts datagrams dropped because no key opened
	// them (junk, probes, truncated or extended copies).
	Unauthenticated uint64
	// Replayed counts authentic datagrams dropped as seen before.
	Replayed uint64
	// Stale counts authentic datagrams dropped for an epoch outside the
	// clock window.
	Stale uint64
	// KeyAgreements counts ECDHs made for datagrams that might have come
	// from a new initiator.
	KeyAgreements uint64
	// KeyAgreementsRefused counts datagrams dropped, without an ECDH,
	// beyond Config.MaxKeyAgreements (also counted Unauthenticated).
	KeyAgreementsRefused uint64
}

// Conn is an obfuscated net.PacketConn over another.
type Conn struct {
	inner  net.PacketConn
	cfg    Config
	psk    *key
	sender uint64
	ma     ma.Multiaddr

	txMu    sync.Mutex
	epoch   int64
	counter uint32
	nonces  *mrand.ChaCha8 // nonces when Config.Rand is nil

	mu      sync.Mutex
	dialled map[addrKey]dialled   // responders we dialled by identity, by address
	learned map[addrKey]key       // initiators that dialled us, by address
	ells    map[[ellSize]byte]key // key agreements made as responder

	limit *rate.Limiter // key agreements

	sent, received, unauth, replayed, stale, ecdhs, refused atomic.Uint64

	// One reader at a time: the replay windows, the read buffers and
	// the queue below (open is called with rxMu held).
	rxMu    sync.Mutex
	windows map[uint64]*window   // replay windows, by sender
	sbuf    []byte               // where a datagram is opened
	rbatch  []transport.Datagram // ReadBatch's scratch
	// queue is the last batch ReadFrom read from the inner conn: its
	// datagrams queue[head:queued] are still to be opened and handed
	// out, one per ReadFrom (or several per ReadBatch), before the inner
	// conn is read again; qerr came with the batch, and is returned once
	// the queue is empty.
	queue        []transport.Datagram
	head, queued int
	qerr         error
	closed       atomic.Bool
	wbMu         sync.Mutex // the write batch scratch
	wbatch       []transport.Datagram

	closeOnce sync.Once
	closeErr  error
}

// rxBatch is how many datagrams ReadFrom reads from the inner conn at a
// time (one recvmmsg over a udp.Conn).
const rxBatch = 32

// addrKey is how the key maps name an address: by IP and port when it
// is a *net.UDPAddr (without a zone) or its String is an IP and a port
// in canonical form, else by its String. Two addresses have the same
// key exactly when their Strings are equal (a *net.UDPAddr prints an
// IPv4-mapped IPv6 address as IPv4, so it is unmapped), without
// formatting a string per datagram.
type addrKey struct {
	ap netip.AddrPort
	s  string
}

func keyOf(a net.Addr) addrKey {
	if u, ok := a.(*net.UDPAddr); ok && u.Zone == "" && u.Port >= 0 && u.Port <= math.MaxUint16 {
		if ip, ok := netip.AddrFromSlice(u.IP); ok {
			return addrKey{ap: netip.AddrPortFrom(ip.Unmap(), uint16(u.Port))}
		}
	}
	s := a.String()
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.String() == s {
		return addrKey{ap: ap}
	}
	return addrKey{s: s}
}

type dialled struct {
	ell [ellSize]byte
	key key
}

var (
	_ transport.PacketConn  = (*Conn)(nil)
	_ transport.BatchConn   = (*Conn)(nil)
	_ transport.SegmentConn = (*Conn)(nil)
)

// New wraps inner. The Conn owns inner: closing it closes inner.
func New(inner net.PacketConn, cfg Config) (*Conn, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		inner:   inner,
		cfg:     cfg,
		dialled: make(map[addrKey]dialled),
		learned: make(map[addrKey]key),
		ells:    make(map[[ellSize]byte]key),
		windows: make(map[uint64]*window),
		limit:   rate.NewLimiter(rate.Limit(cfg.MaxKeyAgreements), cfg.MaxKeyAgreements),
	}
	if cfg.NetworkKey != nil {
		k := networkKey(cfg.NetworkKey)
		c.psk = &k
	}
	var b [8]byte
	if _, err := io.ReadFull(c.rand(), b[:]); err != nil {
		return nil, err
	}
	c.sender = binary.BigEndian.Uint64(b[:])
	if cfg.Rand == nil {
		var seed [32]byte
		if _, err := io.ReadFull(rand.Reader, seed[:]); err != nil {
			return nil, err
		}
		c.nonces = mrand.NewChaCha8(seed)
	}
	if m, ok := inner.(interface{ Multiaddr() ma.Multiaddr }); ok {
		c.ma = m.Multiaddr()
	} else if m, err := manet.FromNetAddr(inner.LocalAddr()); err == nil {
		c.ma = m
	}
	return c, nil
}

// AddPeer keys datagrams to addr by the responder's identity key pub,
// with a fresh ephemeral key, replacing any key addr had.
func (c *Conn) AddPeer(addr net.Addr, pub *btcec.PublicKey) error {
	ell, x, err := initiate(pub, c.rand())
	if err != nil {
		return err
	}
	var salt []byte
	if c.cfg.NetworkKey != nil {
		salt = c.cfg.NetworkKey
	}
	c.mu.Lock()
	c.dialled[keyOf(addr)] = dialled{ell: ell, key: identityKey(x, ell, pub, salt)}
	c.mu.Unlock()
	return nil
}

// Stats returns the counters so far.
func (c *Conn) Stats() Stats {
	return Stats{
		Sent: c.sent.Load(), Received: c.received.Load(),
		Unauthenticated: c.unauth.Load(), Replayed: c.replayed.Load(),
		Stale: c.stale.Load(), KeyAgreements: c.ecdhs.Load(),
		KeyAgreementsRefused: c.refused.Load(),
	}
}

// rand is Config.Rand, or crypto/rand.
func (c *Conn) rand() io.Reader {
	if c.cfg.Rand != nil {
		return c.cfg.Rand
	}
	return rand.Reader
}

// nextHeader numbers the next datagram sent and draws its nonce.
func (c *Conn) nextHeader() (h header, nonce [nonceSize]byte, err error) {
	if c.nonces == nil {
		if nonce, err = readNonce(c.cfg.Rand); err != nil {
			return h, nonce, err
		}
	}
	now := c.cfg.Now().Unix()
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if c.nonces != nil {
		c.nonces.Read(nonce[:]) // never fails
	}
	if c.epoch == 0 || now-c.epoch >= epochInterval || c.counter == math.MaxUint32 {
		c.epoch = max(now, c.epoch+1)
		c.counter = 0
	}
	h = header{sender: c.sender, seq: uint64(c.epoch)<<32 | uint64(c.counter)}
	c.counter++
	return h, nonce, nil
}

// readNonce reads a nonce from r (apart, so that the nonce of the usual
// path, from Conn.nonces, stays on the stack).
func readNonce(r io.Reader) (nonce [nonceSize]byte, err error) {
	b := new([nonceSize]byte)
	_, err = io.ReadFull(r, b[:])
	return *b, err
}

// seal appends p, obfuscated for to, to dst.
func (c *Conn) seal(dst, p []byte, to net.Addr) ([]byte, error) {
	ak := keyOf(to)
	c.mu.Lock()
	d, isDialled := c.dialled[ak]
	l, isLearned := c.learned[ak]
	c.mu.Unlock()
	var k key
	var prefix []byte
	switch {
	case isDialled:
		k, prefix = d.key, d.ell[:]
	case isLearned:
		k = l
	case c.psk != nil:
		k = *c.psk
	default:
		return dst, fmt.Errorf("%w %s", ErrNoKey, to)
	}
	h, nonce, err := c.nextHeader()
	if err != nil {
		return dst, err
	}
	return k.sealNonce(dst, prefix, &nonce, h, p, c.cfg.PadPackets)
}

// open returns the payload of datagram d from addr, decrypted into
// scratch (at least len(d) bytes), or false if d is to be dropped (and
// is counted). The caller holds rxMu (or is the only reader).
func (c *Conn) open(scratch, d []byte, from net.Addr) ([]byte, bool) {
	ak := keyOf(from)
	// A datagram that starts with an ell this responder has already
	// agreed a key for is tried with that key first, so that an
	// initiator's stream of datagrams costs one AEAD open each, not one
	// per key that cannot open it (learned, network). Any other datagram
	// matches a cached ell with odds of 2^-512 per entry, and then only
	// costs one failed open more.
	var ell [ellSize]byte
	var cached key
	mayBeInitiator := c.cfg.Identity != nil && len(d) >= InitiatorOverhead
	if mayBeInitiator {
		ell = [ellSize]byte(d[:ellSize])
	}
	c.mu.Lock()
	dk, isDialled := c.dialled[ak]
	lk, isLearned := c.learned[ak]
	isCached := false
	if mayBeInitiator {
		cached, isCached = c.ells[ell]
	}
	c.mu.Unlock()

	var h header
	var p []byte
	err := errOpen
	var initiator *key
	if isCached {
		if h, p, err = cached.open(scratch, d[ellSize:], d[:ellSize]); err == nil {
			initiator = &cached
		}
	}
	if err != nil && isDialled {
		h, p, err = dk.key.open(scratch, d, nil)
	}
	if err != nil && isLearned {
		h, p, err = lk.open(scratch, d, nil)
	}
	if err != nil && c.psk != nil {
		h, p, err = c.psk.open(scratch, d, nil)
	}
	if err != nil && mayBeInitiator && !isCached {
		if !c.limit.AllowN(c.cfg.Now(), 1) {
			c.refused.Add(1)
		} else {
			c.ecdhs.Add(1)
			x, xerr := respond(ell, c.cfg.Identity)
			if xerr == nil {
				var salt []byte
				if c.cfg.NetworkKey != nil {
					salt = c.cfg.NetworkKey
				}
				k := identityKey(x, ell, c.cfg.Identity.PubKey(), salt)
				if h, p, err = k.open(scratch, d[ellSize:], d[:ellSize]); err == nil {
					initiator = &k
					c.mu.Lock()
					bound(c.ells, c.cfg.MaxSenders)
					c.ells[ell] = k
					c.mu.Unlock()
				}
			}
		}
	}
	if err != nil {
		c.unauth.Add(1)
		return nil, false
	}
	now := c.cfg.Now().Unix()
	skew := int64(c.cfg.MaxClockSkew / time.Second)
	if e := h.epoch(); e < now-epochInterval-skew || e > now+skew {
		c.stale.Add(1)
		return nil, false
	}
	w := c.windows[h.sender]
	if w == nil {
		bound(c.windows, c.cfg.MaxSenders)
		w = new(window)
		c.windows[h.sender] = w
	}
	if !w.accept(h.seq) {
		c.replayed.Add(1)
		return nil, false
	}
	if initiator != nil {
		// Only a datagram that is new may (re)point replies to its
		// address: a replay from elsewhere must not.
		c.mu.Lock()
		if _, ok := c.learned[ak]; !ok {
			bound(c.learned, c.cfg.MaxSenders)
		}
		c.learned[ak] = *initiator
		c.mu.Unlock()
	}
	c.received.Add(1)
	return p, true
}

// bound makes room for one more entry in m by forgetting an arbitrary one
// when m holds max.
func bound[K comparable, V any](m map[K]V, max int) {
	if len(m) < max {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

// smallPool holds write buffers for datagrams of ordinary size; larger
// ones are allocated.
var smallPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// ReadFrom reads the next datagram that authenticates and is new,
// dropping any other without answer. Concurrent reads take turns.
//
// It reads the inner conn a batch at a time (one recvmmsg over a
// udp.Conn, up to 32 datagrams), with room in each for a payload of
// len(p) bytes (1452 bytes on the wire at least, 64 KiB at most: the
// queue holds 2 MiB at worst, 50 KiB for quic-go's reads), and opens and
// hands out the batch's datagrams one per call before reading again. A
// datagram with a payload longer than p is therefore dropped, as
// ReadBatch drops one too long for its buffer (it cannot authenticate
// once the inner conn has truncated it). Queued datagrams are handed out
// without waiting, whatever the read deadline (which bounds the wait for
// the inner conn); after Close, ReadFrom fails with net.ErrClosed.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	c.scratchLocked()
	for {
		d, from, err := c.nextLocked(len(p))
		if err != nil {
			return 0, nil, err
		}
		if payload, ok := c.open(c.sbuf, d, from); ok {
			return copy(p, payload), from, nil
		}
	}
}

func (c *Conn) scratchLocked() {
	if c.sbuf == nil {
		c.sbuf = make([]byte, maxDatagram+ellSize)
	}
}

// nextLocked returns the next datagram the inner conn received, still
// sealed: the queue's first, or else the first of a batch read into the
// queue, with room for payloads of size bytes.
func (c *Conn) nextLocked(size int) ([]byte, net.Addr, error) {
	for {
		if c.head < c.queued {
			if c.closed.Load() {
				la := c.inner.LocalAddr()
				return nil, nil, &net.OpError{Op: "read", Net: la.Network(), Source: la, Err: net.ErrClosed}
			}
			d := &c.queue[c.head]
			c.head++
			if d.Addr == nil { // not a datagram the inner conn could describe
				continue
			}
			return d.Buf[:d.N], d.Addr, nil
		}
		if err := c.qerr; err != nil {
			c.qerr = nil
			return nil, nil, err
		}
		c.queue = scratchN(c.queue, rxBatch, size+InitiatorOverhead)
		n, err := transport.ReadBatch(c.inner, c.queue)
		c.head, c.queued, c.qerr = 0, min(max(n, 0), len(c.queue)), err
	}
}

// WriteTo sends p to addr, obfuscated with addr's key.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	var buf []byte
	if len(p)+InitiatorOverhead <= 2048 {
		b := smallPool.Get().(*[]byte)
		defer smallPool.Put(b)
		buf = *b
	}
	d, err := c.seal(buf[:0], p, addr)
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "obfs", Addr: addr, Err: err}
	}
	if _, err := c.inner.WriteTo(d, addr); err != nil {
		return 0, err
	}
	c.sent.Add(1)
	return len(p), nil
}

// ReadBatch waits for at least one datagram that authenticates and is new
// and returns as many as are ready, up to len(ds); through the inner
// conn's batches where it has them.
func (c *Conn) ReadBatch(ds []transport.Datagram) (int, error) {
	if len(ds) == 0 {
		return 0, nil
	}
	c.rxMu.Lock()
	defer c.rxMu.Unlock()
	c.scratchLocked()
	got := 0
	for got < len(ds) && c.head < c.queued { // what ReadFrom left queued first
		d, from, err := c.nextLocked(len(ds[got].Buf))
		if err != nil {
			return got, err
		}
		if payload, ok := c.open(c.sbuf, d, from); ok {
			ds[got].N, ds[got].Addr = copy(ds[got].Buf, payload), from
			got++
		}
	}
	if got > 0 {
		return got, nil
	}
	if err := c.qerr; err != nil {
		c.qerr = nil
		return 0, err
	}
	c.rbatch = scratch(c.rbatch, ds, InitiatorOverhead)
	for {
		n, err := transport.ReadBatch(c.inner, c.rbatch[:len(ds)])
		got := 0
		for i := range n {
			r := &c.rbatch[i]
			if payload, ok := c.open(c.sbuf, r.Buf[:r.N], r.Addr); ok {
				ds[got].N, ds[got].Addr = copy(ds[got].Buf, payload), r.Addr
				got++
			}
		}
		if got > 0 || err != nil {
			return got, err
		}
	}
}

// WriteBatch sends ds in order, each obfuscated with its address's key;
// through the inner conn's batches where it has them.
func (c *Conn) WriteBatch(ds []transport.Datagram) (int, error) {
	c.wbMu.Lock()
	defer c.wbMu.Unlock()
	c.wbatch = scratch(c.wbatch, ds, InitiatorOverhead)
	for i := range ds {
		d, err := c.seal(c.wbatch[i].Buf[:0], ds[i].Buf, ds[i].Addr)
		if err != nil {
			n, werr := transport.WriteBatch(c.inner, c.wbatch[:i])
			c.sent.Add(uint64(n))
			if werr != nil {
				return n, werr
			}
			return n, &net.OpError{Op: "write", Net: "obfs", Addr: ds[i].Addr, Err: err}
		}
		c.wbatch[i] = transport.Datagram{Buf: d, Addr: ds[i].Addr}
	}
	n, err := transport.WriteBatch(c.inner, c.wbatch[:len(ds)])
	c.sent.Add(uint64(n))
	return n, err
}

// runPool holds the buffers WriteSegments seals a run into; a run
// longer than maxRun is sealed into a buffer of its own.
var runPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const maxRun = 256 << 10

// WriteSegments sends b to addr as datagrams of segment bytes (the last
// shorter if len(b) is not a multiple), each obfuscated on its own with
// addr's key, exactly as WriteTo would send it. The sealed datagrams,
// all the same size but the last, go to the inner conn as one run
// (transport.WriteSegments): over a udp.Conn on Linux, one sendmsg for
// up to 64 of them. quic-go, which finds this method (the quic-go
// copy's SegmentWriter), then packs packets as it would for a socket
// with generic segmentation offload.
func (c *Conn) WriteSegments(b []byte, segment int, addr net.Addr) error {
	if segment <= 0 {
		return &net.OpError{Op: "write", Net: "obfs", Addr: addr, Err: fmt.Errorf("segment size %d", segment)}
	}
	bp := runPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxRun {
			runPool.Put(bp)
		}
	}()
	run, sealed, n := (*bp)[:0], 0, 0
	for len(b) > 0 {
		k := min(segment, len(b))
		start := len(run)
		var err error
		if run, err = c.seal(run, b[:k], addr); err != nil {
			return &net.OpError{Op: "write", Net: "obfs", Addr: addr, Err: err}
		}
		if n == 0 {
			sealed = len(run) - start // every full segment seals to this size
		}
		b, n = b[k:], n+1
	}
	*bp = run[:0]
	if err := transport.WriteSegments(c.inner, run, sealed, addr); err != nil {
		return err
	}
	c.sent.Add(uint64(n))
	return nil
}

// scratch returns buffers for a batch like ds: each as long as its
// datagram plus overhead, and at least the largest padded size.
func scratch(s []transport.Datagram, ds []transport.Datagram, overhead int) []transport.Datagram {
	for len(s) < len(ds) {
		s = append(s, transport.Datagram{})
	}
	for i := range ds {
		s[i] = sized(s[i], len(ds[i].Buf)+overhead)
	}
	return s
}

// scratchN returns n buffers of size bytes, and at least the largest
// padded size.
func scratchN(s []transport.Datagram, n, size int) []transport.Datagram {
	for len(s) < n {
		s = append(s, transport.Datagram{})
	}
	for i := range s[:n] {
		s[i] = sized(s[i], size)
	}
	return s[:n]
}

// sized is d emptied, with a buffer of size bytes (at least the largest
// padded size, at most the largest datagram).
func sized(d transport.Datagram, size int) transport.Datagram {
	need := min(max(size, padSizes[len(padSizes)-1]), maxDatagram+ellSize)
	if cap(d.Buf) < need {
		d.Buf = make([]byte, need)
	}
	return transport.Datagram{Buf: d.Buf[:need]}
}

// Close closes the inner conn, unblocking readers and writers. Later
// calls return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.inner.Close()
	})
	return c.closeErr
}

// LocalAddr is the inner conn's.
func (c *Conn) LocalAddr() net.Addr { return c.inner.LocalAddr() }

// Multiaddr is the inner conn's, or made from its LocalAddr.
func (c *Conn) Multiaddr() ma.Multiaddr { return c.ma }

// SetDeadline sets the inner conn's deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.inner.SetDeadline(t) }

// SetReadDeadline sets the inner conn's read deadline: it bounds the
// wait for the inner conn; datagrams ReadFrom has queued are handed out
// without waiting, whatever the deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.inner.SetReadDeadline(t) }

// SetWriteDeadline sets the inner conn's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.inner.SetWriteDeadline(t) }

// SetReadBuffer sets the inner conn's socket receive buffer, if it has
// one (quic-go asks for 7 MiB).
func (c *Conn) SetReadBuffer(n int) error {
	if s, ok := c.inner.(interface{ SetReadBuffer(int) error }); ok {
		return s.SetReadBuffer(n)
	}
	return errors.ErrUnsupported
}

// SetWriteBuffer sets the inner conn's socket send buffer, if it has one.
func (c *Conn) SetWriteBuffer(n int) error {
	if s, ok := c.inner.(interface{ SetWriteBuffer(int) error }); ok {
		return s.SetWriteBuffer(n)
	}
	return errors.ErrUnsupported
}
