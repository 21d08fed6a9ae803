package route

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Resumption tickets (SPEC.md, "Resumption tickets"): the cryptography of
// a repeat dial that does no public-key work, in the manner of TLS 1.3's
// PSK resumption. After a connection, the target seals a ticket under its
// rotating ticket key: the dialler's identity, the target's address, an
// expiry and a resumption secret rs derived from the connection's master
// secret. The dialler, which derives the same rs from the master, keeps
// the ticket and rs; a repeat dial sends the ticket and a lock (the hash
// of a proof only rs can make), the target opens the ticket, refuses it
// if it is unknown, expired, used or for another address, remembers its
// ID until it expires (single use), and answers with the proof, which
// every relay checks against the lock with one hash. Both ends erase rs
// once used.
//
//	dialler                           relays                    target
//	held: ticket, rs
//	n_d fresh; proof = HMAC(rs, "foxtrot/ticket/ack" || n_d)
//	request: ticket, n_d, lock = SHA256(proof) ──────────────► open ticket → rs, identity
//	                                                            unused? mark used; n_t fresh
//	           ◄──── ack: n_t, proof, confirm ── SHA256(proof) == lock?
//	master' = HKDF(salt "foxtrot/e2e/ticket/v1" || ID, rs, n_d || n_t); rs erased

// Ticket layout and sizes.
const (
	ticketVersion   = 1
	ticketKeyIDSize = 8
	ticketNonceSize = 12
	// ticketPlainSize: version (1), expiry (8, Unix seconds), target
	// HASH160 (20), dialler identity key (33), resumption secret (32).
	ticketPlainSize = 1 + 8 + 20 + 33 + 32
	// TicketSize is the size of a sealed ticket: key ID, nonce, then the
	// plaintext under AES-256-GCM with its tag.
	TicketSize = ticketKeyIDSize + ticketNonceSize + ticketPlainSize + 16
	// ticketIDSize is what a target remembers of a used ticket.
	ticketIDSize = ticketKeyIDSize + ticketNonceSize
)

// Defaults of a ticketIssuer.
const (
	defaultTicketLifetime = 10 * time.Minute
	defaultMaxUsedTickets = 1 << 16
)

// ticketKey is one generation of a target's ticket-sealing key.
type ticketKey struct {
	id      [ticketKeyIDSize]byte
	key     [32]byte
	aead    cipher.AEAD
	created time.Time
}

// ticketIssuer is a target's side of resumption: it seals tickets, opens
// them once, and remembers used ones until they expire. Its key rotates
// every lifetime; the previous key is kept one more lifetime (so every
// ticket it sealed can expire) and then erased, with every used-ticket
// entry it covered. Memory is bounded: at most maxUsed used-ticket IDs
// (28 bytes each plus map overhead); when that many unexpired tickets
// were used, further tickets are refused (the dialler falls back to a
// full handshake) rather than accepted unremembered.
type ticketIssuer struct {
	now      func() time.Time
	rand     io.Reader
	lifetime time.Duration
	maxUsed  int

	mu   sync.Mutex
	cur  *ticketKey
	prev *ticketKey
	used map[[ticketIDSize]byte]time.Time // used ticket ID -> its expiry
}

func newTicketIssuer(now func() time.Time, rnd io.Reader, lifetime time.Duration, maxUsed int) *ticketIssuer {
	if lifetime <= 0 {
		lifetime = defaultTicketLifetime
	}
	if maxUsed <= 0 {
		maxUsed = defaultMaxUsedTickets
	}
	return &ticketIssuer{now: now, rand: rnd, lifetime: lifetime, maxUsed: maxUsed,
		used: make(map[[ticketIDSize]byte]time.Time)}
}

// rotateLocked makes a current key if there is none or it is a lifetime
// old, keeping the one before as prev and erasing the one before that.
func (t *ticketIssuer) rotateLocked(now time.Time) error {
	if t.prev != nil && now.Sub(t.prev.created) >= 2*t.lifetime {
		// Every ticket it sealed has expired: erase it (forward secrecy
		// of resumed connections rests on this).
		clear(t.prev.key[:])
		t.prev = nil
	}
	if t.cur != nil && now.Sub(t.cur.created) < t.lifetime {
		return nil
	}
	k := &ticketKey{created: now}
	if _, err := io.ReadFull(t.rand, k.id[:]); err != nil {
		return fmt.Errorf("route: ticket key: %w", err)
	}
	if _, err := io.ReadFull(t.rand, k.key[:]); err != nil {
		return fmt.Errorf("route: ticket key: %w", err)
	}
	aead, err := newTicketAEAD(k.key[:])
	if err != nil {
		return err
	}
	k.aead = aead
	if t.prev != nil {
		clear(t.prev.key[:])
	}
	if t.cur != nil && now.Sub(t.cur.created) < 2*t.lifetime {
		t.prev = t.cur
	} else {
		if t.cur != nil {
			clear(t.cur.key[:])
		}
		t.prev = nil
	}
	t.cur = k
	return nil
}

func newTicketAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("route: ticket key: %w", err)
	}
	return cipher.NewGCM(b)
}

// issue seals a ticket for a connection with master secret master between
// the dialler whose identity key is dialler and the target address
// target. The dialler derives the same resumption secret with
// ticketSecret(master, ticket).
func (t *ticketIssuer) issue(master [32]byte, target [20]byte, dialler [33]byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if err := t.rotateLocked(now); err != nil {
		return nil, err
	}
	k := t.cur
	out := make([]byte, ticketKeyIDSize+ticketNonceSize, TicketSize)
	copy(out, k.id[:])
	nonce := out[ticketKeyIDSize:]
	if _, err := io.ReadFull(t.rand, nonce); err != nil {
		return nil, fmt.Errorf("route: ticket nonce: %w", err)
	}
	rs := ticketSecret(master, out)
	plain := make([]byte, 0, ticketPlainSize)
	plain = append(plain, ticketVersion)
	plain = binary.BigEndian.AppendUint64(plain, uint64(now.Add(t.lifetime).Unix()))
	plain = append(plain, target[:]...)
	plain = append(plain, dialler[:]...)
	plain = append(plain, rs[:]...)
	out = k.aead.Seal(out, nonce, plain, out[:ticketIDSize])
	clear(plain)
	clear(rs[:])
	return out, nil
}

// openedTicket is what a target learns from a valid ticket.
type openedTicket struct {
	rs      [32]byte
	dialler [33]byte
	expires time.Time
}

// open checks a ticket presented for the target address target and
// returns its contents, marking it used: a second open of the same ticket
// fails with ErrTicketUsed until it expires (and ErrTicketUnknown after,
// once its key is erased). Errors wrap ErrTicket.
func (t *ticketIssuer) open(ticket []byte, target [20]byte) (openedTicket, error) {
	var o openedTicket
	if len(ticket) != TicketSize {
		return o, fmt.Errorf("%w: %d bytes, want %d", ErrTicketUnknown, len(ticket), TicketSize)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if err := t.rotateLocked(now); err != nil {
		return o, err
	}
	t.expireLocked(now)
	var k *ticketKey
	for _, c := range []*ticketKey{t.cur, t.prev} {
		if c != nil && hmac.Equal(c.id[:], ticket[:ticketKeyIDSize]) {
			k = c
		}
	}
	if k == nil {
		return o, fmt.Errorf("%w: its key is not (or no longer) ours", ErrTicketUnknown)
	}
	nonce := ticket[ticketKeyIDSize:ticketIDSize]
	plain, err := k.aead.Open(make([]byte, 0, ticketPlainSize), nonce, ticket[ticketIDSize:], ticket[:ticketIDSize])
	if err != nil {
		return o, fmt.Errorf("%w: it does not authenticate", ErrTicketUnknown)
	}
	defer clear(plain)
	if len(plain) != ticketPlainSize || plain[0] != ticketVersion {
		return o, fmt.Errorf("%w: unknown version", ErrTicketUnknown)
	}
	o.expires = time.Unix(int64(binary.BigEndian.Uint64(plain[1:9])), 0)
	if !now.Before(o.expires) {
		return o, fmt.Errorf("%w at %s", ErrTicketExpired, o.expires.UTC().Format(time.RFC3339))
	}
	if !hmac.Equal(plain[9:29], target[:]) {
		return o, fmt.Errorf("%w: it was issued for %s", ErrTicketWrongTarget, addr.FromHash160([20]byte(plain[9:29])).String())
	}
	id := [ticketIDSize]byte(ticket[:ticketIDSize])
	if _, ok := t.used[id]; ok {
		return o, ErrTicketUsed
	}
	if len(t.used) >= t.maxUsed {
		return o, fmt.Errorf("%w: %d unexpired tickets used", ErrTicketBusy, len(t.used))
	}
	t.used[id] = o.expires
	copy(o.dialler[:], plain[29:62])
	copy(o.rs[:], plain[62:94])
	return o, nil
}

// expireLocked forgets used tickets that have expired: they can no longer
// be presented.
func (t *ticketIssuer) expireLocked(now time.Time) {
	for id, exp := range t.used {
		if !now.Before(exp) {
			delete(t.used, id)
		}
	}
}

// usedCount returns how many used tickets the issuer remembers.
func (t *ticketIssuer) usedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.used)
}

// heldTicket is a dialler's ticket for one target: single use, erased
// (rs zeroed) by take.
type heldTicket struct {
	ticket  []byte
	rs      [32]byte
	expires time.Time
	key     *btcec.PublicKey // the target's key: a ticket ack does not carry it
}

// ticketSecret is the resumption secret of the ticket whose first
// ticketIDSize bytes are head, under the connection's master secret:
// HMAC-SHA256(master, "foxtrot/ticket/rs" || key ID || nonce).
func ticketSecret(master [32]byte, head []byte) [32]byte {
	m := hmac.New(sha256.New, master[:])
	m.Write([]byte("foxtrot/ticket/rs"))
	m.Write(head[:ticketIDSize])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// ticketProof is what only a holder of rs can answer a ticket request
// with: HMAC-SHA256(rs, "foxtrot/ticket/ack" || n_d).
func ticketProof(rs [32]byte, dNonce [16]byte) [32]byte {
	m := hmac.New(sha256.New, rs[:])
	m.Write([]byte("foxtrot/ticket/ack"))
	m.Write(dNonce[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// ticketLock is what a ticket request carries and every relay checks an
// ack's proof against: SHA256(proof).
func ticketLock(proof [32]byte) [32]byte { return sha256.Sum256(proof[:]) }

// checkTicketProof is a relay's (and the dialler's) whole check of a
// ticket ack: one hash.
func checkTicketProof(lock, proof [32]byte) bool {
	l := ticketLock(proof)
	return hmac.Equal(l[:], lock[:])
}

// ticketMaster is a resumed connection's master secret:
// HKDF-SHA256(salt = "foxtrot/e2e/ticket/v1" || ID, ikm = rs,
// info = n_d || n_t), used from there on as a full handshake's master.
func ticketMaster(id addr.ConnID, rs [32]byte, dNonce, tNonce [16]byte) [32]byte {
	salt := append([]byte("foxtrot/e2e/ticket/v1"), id[:]...)
	info := make([]byte, 0, 32)
	info = append(append(info, dNonce[:]...), tNonce[:]...)
	var out [32]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, rs[:], salt, info), out[:]); err != nil {
		panic("route: unreachable: hkdf: " + err.Error())
	}
	return out
}

// ticketConfirm proves to the dialler that the target derived the same
// master (so n_t arrived unaltered): HMAC-SHA256(master',
// "foxtrot/ticket/confirm" || ID).
func ticketConfirm(master [32]byte, id addr.ConnID) [32]byte {
	m := hmac.New(sha256.New, master[:])
	m.Write([]byte("foxtrot/ticket/confirm"))
	m.Write(id[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// ticketStore is a dialler's tickets, by target address: at most perTarget
// for each of at most maxTargets targets (the target given a ticket
// longest ago is dropped first, so a target dialled again and again
// keeps its tickets however many others come and go), each used once. It holds secrets (rs): take erases a ticket as
// it hands it out, and expired ones are dropped as they are found.
type ticketStore struct {
	now        func() time.Time
	perTarget  int
	maxTargets int

	mu    sync.Mutex
	byKey map[[20]byte][]heldTicket
	order [][20]byte // targets, the one given a ticket longest ago first
}

func newTicketStore(now func() time.Time, perTarget, maxTargets int) *ticketStore {
	return &ticketStore{now: now, perTarget: max(perTarget, 1), maxTargets: max(maxTargets, 1),
		byKey: make(map[[20]byte][]heldTicket)}
}

// add keeps a ticket the target, whose key is key, issued over a
// connection with master secret master, valid for lifetime.
func (s *ticketStore) add(target [20]byte, master [32]byte, ticket []byte, lifetime time.Duration, key *btcec.PublicKey) {
	if len(ticket) != TicketSize {
		return
	}
	h := heldTicket{ticket: append([]byte(nil), ticket...), rs: ticketSecret(master, ticket), expires: s.now().Add(lifetime), key: key}
	s.mu.Lock()
	defer s.mu.Unlock()
	held, known := s.byKey[target]
	if !known {
		if len(s.order) >= s.maxTargets {
			old := s.order[0]
			s.order = s.order[1:]
			for i := range s.byKey[old] {
				clear(s.byKey[old][i].rs[:])
			}
			delete(s.byKey, old)
		}
	} else {
		s.forget(target)
	}
	s.order = append(s.order, target)
	if len(held) >= s.perTarget {
		clear(held[0].rs[:])
		held = held[1:]
	}
	s.byKey[target] = append(held, h)
}

// forget removes target from s.order (s.mu held).
func (s *ticketStore) forget(target [20]byte) {
	if i := slices.Index(s.order, target); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
}

// take removes and returns the newest unexpired ticket for target. The
// caller erases its rs once the request is made.
func (s *ticketStore) take(target [20]byte) (heldTicket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.byKey[target]
	now := s.now()
	for len(held) > 0 {
		h := held[len(held)-1]
		held[len(held)-1] = heldTicket{} // no copy of rs stays behind
		held = held[:len(held)-1]
		if now.Before(h.expires) {
			s.byKey[target] = held
			return h, true
		}
		clear(h.rs[:])
	}
	for i := range held {
		clear(held[i].rs[:])
	}
	delete(s.byKey, target)
	s.forget(target)
	return heldTicket{}, false
}
