package cosign

import (
	"fmt"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Defaults of DecoderConfig.
const (
	DefaultWindow    = 5 * time.Minute
	DefaultCacheSize = 4096
)

// DecoderConfig configures a Decoder. The zero value works.
type DecoderConfig struct {
	// Window is how far a message's timestamp may be from the receiver's
	// clock, either way. Default DefaultWindow.
	Window time.Duration
	// CacheSize bounds the replay cache. An entry lives until its
	// message's timestamp leaves the window; when the cache is full of live
	// entries, new messages are refused with ErrBusy rather than forgetting
	// one that could then be replayed. Default DefaultCacheSize.
	CacheSize int
	// Senders, when not empty, are the only keys whose messages are
	// accepted; any other sender gets ErrNotMember before its message can
	// take a place in the replay cache. Default: any sender.
	Senders []*btcec.PublicKey
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Decoder decodes messages and refuses stale and replayed ones. It is safe
// for concurrent use.
type Decoder struct {
	window  time.Duration
	size    int
	senders []*btcec.PublicKey
	now     func() time.Time

	mu   sync.Mutex
	seen map[replayKey]time.Time // guarded by mu; value: when the entry expires
}

// A message is a replay when its type, ID and sender were seen before.
// Keying by sender too means that a proposal ID one party used cannot be
// burnt by another, and the proposer's decoder takes one answer from each
// co-signer for the same ID.
type replayKey struct {
	typ    Type
	id     ID
	sender [btcec.PubKeyBytesLenCompressed]byte
}

// NewDecoder returns a Decoder configured by cfg, defaults filled in.
func NewDecoder(cfg DecoderConfig) *Decoder {
	d := &Decoder{
		window:  cfg.Window,
		size:    cfg.CacheSize,
		senders: cfg.Senders,
		now:     cfg.Now,
		seen:    make(map[replayKey]time.Time),
	}
	if d.window <= 0 {
		d.window = DefaultWindow
	}
	if d.size <= 0 {
		d.size = DefaultCacheSize
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Decode parses b (see Parse), then checks, in this order, that the sender
// is admitted (ErrNotMember), that the timestamp is within the window
// (ErrStale), and that the message was not seen before (ErrReplay, or
// ErrBusy when the replay cache is full). A message is remembered only once
// it has passed every other check. Decode never panics, whatever b holds.
func (d *Decoder) Decode(b []byte) (Message, error) {
	return d.decode(b, nil)
}

// decode is Decode with one more check, run after the sender check and
// before the message can take a place in the replay cache.
func (d *Decoder) decode(b []byte, check func(Message) error) (Message, error) {
	m, err := Parse(b)
	if err != nil {
		return nil, err
	}
	h := m.Head()
	if len(d.senders) > 0 && !containsKey(d.senders, h.Sender) {
		return nil, fmt.Errorf("%w: %s %s from %s", ErrNotMember, m.Type(), h.ID, shortKey(h.Sender))
	}
	if check != nil {
		if err := check(m); err != nil {
			return nil, err
		}
	}
	now := d.now()
	if h.Time.Before(now.Add(-d.window)) || h.Time.After(now.Add(d.window)) {
		return nil, fmt.Errorf("%w: %s %s is timestamped %s, now is %s (window ±%s)",
			ErrStale, m.Type(), h.ID, h.Time.Format(time.RFC3339), now.UTC().Format(time.RFC3339), d.window)
	}
	k := replayKey{typ: m.Type(), id: h.ID}
	copy(k.sender[:], h.Sender.SerializeCompressed())
	if err := d.remember(k, h.Time.Add(d.window), now); err != nil {
		return nil, fmt.Errorf("%w: %s %s from %s", err, m.Type(), h.ID, shortKey(h.Sender))
	}
	return m, nil
}

// remember records k until expiry, or says why it cannot.
func (d *Decoder) remember(k replayKey, expiry, now time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[k]; ok {
		return ErrReplay
	}
	if len(d.seen) >= d.size {
		d.expireLocked(now)
		if len(d.seen) >= d.size {
			return ErrBusy
		}
	}
	d.seen[k] = expiry
	return nil
}

// expireLocked drops the entries whose messages would now be stale anyway.
func (d *Decoder) expireLocked(now time.Time) {
	for k, exp := range d.seen {
		if now.After(exp) {
			delete(d.seen, k)
		}
	}
}

func containsKey(keys []*btcec.PublicKey, k *btcec.PublicKey) bool {
	for _, x := range keys {
		if x.IsEqual(k) {
			return true
		}
	}
	return false
}
