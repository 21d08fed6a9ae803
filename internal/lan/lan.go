// Package lan finds foxtrot nodes on the local network segment: a node
// sends a beacon, its identity key and the multiaddrs it listens on, to a
// multicast group every Interval, and reports the beacons of others.
//
// A beacon is a hint, not a credential: a node that links to what a beacon
// names dials the 66-hex identity form, so the link's handshake proves the
// key, and a forged or replayed beacon costs a failed dial at most (the
// caller bounds those). Beacons are therefore not signed. With a network
// key they are sealed under it (XChaCha20-Poly1305, a key derived from
// the network key, a random nonce per beacon), so to anyone without it a
// beacon is random bytes and nodes of other networks ignore it; without
// one a beacon is readable by anyone on the segment, which is what
// turning LAN discovery on means.
//
// Wire format (SPEC: this comment):
//
//	plain:  "FXL1" | body
//	sealed: nonce (24) | XChaCha20-Poly1305(k, nonce, body, ad = "FXL1")
//	        k = SHA-256("foxtrot/lan/v1" || network key)
//	body:   key (33, compressed) | count (1, at most MaxAddrs) |
//	        count × (length (2) | multiaddr bytes (at most MaxAddrLen))
package lan

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/foxtrotnet/foxtrot/internal/codec"
)

// Limits of a beacon.
const (
	// MaxAddrs is the most multiaddrs a beacon carries.
	MaxAddrs = 8
	// MaxAddrLen bounds one multiaddr's bytes.
	MaxAddrLen = 256
	// MaxBeacon bounds a beacon's size (a datagram read is this long).
	MaxBeacon = 1400
)

// DefaultGroup is the multicast group and port beacons go to: an
// administratively scoped IPv4 group (RFC 2365), so routers do not
// forward it beyond the site.
var DefaultGroup = &net.UDPAddr{IP: net.IPv4(239, 255, 70, 84), Port: 7946}

var magic = []byte("FXL1")

// Errors.
var (
	// ErrMalformed: a beacon that does not decode (or, with a network key,
	// does not open).
	ErrMalformed = errors.New("lan: malformed beacon")
	// ErrConfig: a Config without what it needs.
	ErrConfig = errors.New("lan: bad config")
)

// Beacon is what a node says about itself.
type Beacon struct {
	Key   *btcec.PublicKey
	Addrs []ma.Multiaddr
}

// sealKey derives the beacon key from a network key.
func sealKey(networkKey []byte) []byte {
	h := sha256.New()
	h.Write([]byte("foxtrot/lan/v1"))
	h.Write(networkKey)
	return h.Sum(nil)
}

// Encode returns b's bytes, sealed when networkKey is not empty. Addresses
// beyond MaxAddrs, or longer than MaxAddrLen, are left out, and so is any
// address that would take the beacon past MaxBeacon.
func Encode(b Beacon, networkKey []byte) ([]byte, error) {
	if b.Key == nil {
		return nil, fmt.Errorf("%w: no key", ErrConfig)
	}
	body := append(make([]byte, 0, 256), b.Key.SerializeCompressed()...)
	body = append(body, 0)
	count := 0
	overhead := len(magic)
	if len(networkKey) > 0 {
		overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	}
	for _, a := range b.Addrs {
		ab := a.Bytes()
		if count == MaxAddrs || len(ab) > MaxAddrLen || overhead+len(body)+2+len(ab) > MaxBeacon {
			continue
		}
		body = binary.BigEndian.AppendUint16(body, uint16(len(ab)))
		body = append(body, ab...)
		count++
	}
	body[33] = byte(count)
	if len(networkKey) == 0 {
		return append(append([]byte{}, magic...), body...), nil
	}
	aead, err := chacha20poly1305.NewX(sealKey(networkKey))
	if err != nil {
		return nil, err
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+len(body)+aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, err
	}
	return aead.Seal(out, out, body, magic), nil
}

// Decode reads a beacon, opening it with networkKey when that is not
// empty. Anything else is ErrMalformed.
func Decode(p []byte, networkKey []byte) (Beacon, error) {
	if len(p) > MaxBeacon {
		return Beacon{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(p))
	}
	var body []byte
	if len(networkKey) > 0 {
		if len(p) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
			return Beacon{}, fmt.Errorf("%w: short", ErrMalformed)
		}
		aead, err := chacha20poly1305.NewX(sealKey(networkKey))
		if err != nil {
			return Beacon{}, err
		}
		nonce := p[:chacha20poly1305.NonceSizeX]
		body, err = aead.Open(nil, nonce, p[len(nonce):], magic)
		if err != nil {
			return Beacon{}, fmt.Errorf("%w: does not open", ErrMalformed)
		}
	} else {
		if len(p) < len(magic) || string(p[:len(magic)]) != string(magic) {
			return Beacon{}, fmt.Errorf("%w: no magic", ErrMalformed)
		}
		body = p[len(magic):]
	}
	r := codec.NewReader(body, ErrMalformed)
	key, err := btcec.ParsePubKey(r.Take(33))
	if r.Err() != nil {
		return Beacon{}, r.Err()
	}
	if err != nil {
		return Beacon{}, fmt.Errorf("%w: key: %v", ErrMalformed, err)
	}
	b := Beacon{Key: key}
	count := int(r.U8())
	if count > MaxAddrs {
		return Beacon{}, fmt.Errorf("%w: %d addresses", ErrMalformed, count)
	}
	for range count {
		n := int(r.U16())
		if n > MaxAddrLen {
			return Beacon{}, fmt.Errorf("%w: address of %d bytes", ErrMalformed, n)
		}
		ab := r.Take(n)
		if r.Err() != nil {
			return Beacon{}, r.Err()
		}
		a, err := ma.NewMultiaddrBytes(ab)
		if err != nil {
			return Beacon{}, fmt.Errorf("%w: address: %v", ErrMalformed, err)
		}
		b.Addrs = append(b.Addrs, a)
	}
	if r.Err() != nil {
		return Beacon{}, r.Err()
	}
	if r.Len() != 0 {
		return Beacon{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, r.Len())
	}
	return b, nil
}

// Config configures a Beaconer. Key, Addrs and Found are required.
type Config struct {
	// Key is the node's identity key, sent in its beacons.
	Key *btcec.PublicKey
	// Addrs returns the multiaddrs to announce (called for every beacon).
	Addrs func() []ma.Multiaddr
	// NetworkKey seals beacons, and only beacons sealed with it are heard.
	// Default none: plain beacons.
	NetworkKey []byte
	// Found is called, on the Beaconer's goroutine, with each beacon of
	// another node and the address it came from, at most once per key
	// per Interval. It must not block long.
	Found func(b Beacon, from net.Addr)
	// Interval is how often a beacon goes out. Default 10s.
	Interval time.Duration
	// Conn is where beacons are read from and written to (Group as the
	// destination). Default: a socket joined to Group on every multicast
	// interface (net.ListenMulticastUDP), which the Beaconer closes.
	Conn net.PacketConn
	// Group is the destination of beacons. Default DefaultGroup.
	Group net.Addr
	// Logger receives debug events; nil discards them.
	Logger *slog.Logger
}

// Beaconer sends this node's beacons and hears others'. Close stops it.
type Beaconer struct {
	cfg    Config
	conn   net.PacketConn // beacons are read here
	out    net.PacketConn // and written here (conn itself when given)
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex
	heard map[[33]byte]time.Time // last Found per key, for the rate bound
}

// Start starts beaconing.
func Start(cfg Config) (*Beaconer, error) {
	if cfg.Key == nil || cfg.Addrs == nil || cfg.Found == nil {
		return nil, fmt.Errorf("%w: Key, Addrs and Found are required", ErrConfig)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.Group == nil {
		cfg.Group = DefaultGroup
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Beaconer{cfg: cfg, conn: cfg.Conn, out: cfg.Conn, heard: make(map[[33]byte]time.Time)}
	if b.conn == nil {
		g, ok := cfg.Group.(*net.UDPAddr)
		if !ok {
			return nil, fmt.Errorf("%w: Group %v is not a UDP address", ErrConfig, cfg.Group)
		}
		c, err := net.ListenMulticastUDP("udp4", nil, g)
		if err != nil {
			return nil, fmt.Errorf("lan: join %v: %w", g, err)
		}
		// A socket bound to the group does not send well from it: beacons
		// leave from an ordinary one.
		out, err := net.ListenUDP("udp4", &net.UDPAddr{})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("lan: %w", err)
		}
		b.conn, b.out = c, out
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(2)
	go b.send(ctx)
	go b.read()
	return b, nil
}

// Close stops the Beaconer and waits for its goroutines. Idempotent. A
// Conn given in Config is closed too (it is how the reader is woken).
func (b *Beaconer) Close() error {
	var err error
	b.once.Do(func() {
		b.cancel()
		err = b.conn.Close()
		if b.out != b.conn {
			err = errors.Join(err, b.out.Close())
		}
		b.wg.Wait()
	})
	return err
}

func (b *Beaconer) send(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p, err := Encode(Beacon{Key: b.cfg.Key, Addrs: b.cfg.Addrs()}, b.cfg.NetworkKey)
		if err == nil {
			_, err = b.out.WriteTo(p, b.cfg.Group)
		}
		if err != nil {
			b.cfg.Logger.Debug("lan: beacon not sent", "err", err)
		}
		t.Reset(b.cfg.Interval)
	}
}

func (b *Beaconer) read() {
	defer b.wg.Done()
	self := [33]byte(b.cfg.Key.SerializeCompressed())
	buf := make([]byte, MaxBeacon+1)
	for {
		n, from, err := b.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			b.cfg.Logger.Debug("lan: read", "err", err)
			return
		}
		bc, err := Decode(buf[:n], b.cfg.NetworkKey)
		if err != nil {
			continue // not ours, or garbage: silence
		}
		k := [33]byte(bc.Key.SerializeCompressed())
		if k == self || !b.fresh(k) {
			continue
		}
		b.cfg.Found(bc, from)
	}
}

// fresh reports whether key was not reported within the last Interval,
// and notes it. The map is bounded: past maxHeard keys it is cleared.
func (b *Beaconer) fresh(k [33]byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if t, ok := b.heard[k]; ok && now.Sub(t) < b.cfg.Interval {
		return false
	}
	if len(b.heard) >= maxHeard {
		clear(b.heard)
	}
	b.heard[k] = now
	return true
}

// maxHeard bounds the keys a Beaconer remembers for its rate bound.
const maxHeard = 4096
