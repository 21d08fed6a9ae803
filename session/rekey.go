package session

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/internal/ecdh"
)

// Rekeying (route's SPEC.md section 6, "Forward secrecy"). A connection
// keyed without an ECDH of its own (a resumption ticket's master') gets
// one at its two ends, inside its first round trip, and moves its
// records to the result. The dialler makes its ephemeral key beforehand
// (route: while it waits for the ticket ack) and sends it right after its
// hello, before any data; the target handles it before the data reaches
// its application, so its answer (and the ticket route sends right after
// it) precede anything the application sends:
//
//	dialler                                            target
//	hello, rekey(E_d), data       ──────────────►  e_t; master'' = K(ECDH(e_t, E_d))
//	                              ◄──────────────  rekey(E_t), then seals under master''
//	master'' = K(ECDH(e_d, E_t)); opens under it
//	rekey() (empty), then seals under master'' ──►  opens under master'' after it
//
//	master'' = HKDF-SHA256(salt = "foxtrot/e2e/rekey/v1" || ID,
//	                       ikm = ECDH(e_d, E_t), info = master || E_d || E_t)
//
// The path's record keys become pathKeys(master'', path number), both
// counters restart at 0. The rekey records travel sealed under the old
// keys, so only the two ends can make or alter them. Only a path of the
// connection's own ID that is sealed (not direct) rekeys, once per
// session. From then on resumes are proved with master'' (the target
// accepts master too until the dialler's marker arrived, one round trip),
// so the holder of master cannot move the connection onto a path of its
// own; and route drops the dialler's backup paths keyed from master, so a
// failover takes a fresh path with its own ECDH.

// RekeyKey is a dialler's ephemeral key for its rekey offer.
type RekeyKey struct {
	priv *btcec.PrivateKey
	pub  [33]byte
}

// NewRekeyKey makes a fresh ephemeral key for Config.Rekey (one scalar
// multiplication: make it while waiting for something else).
func NewRekeyKey() (*RekeyKey, error) {
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	r := &RekeyKey{priv: k}
	copy(r.pub[:], k.PubKey().SerializeCompressed())
	return r, nil
}

// rekeyState is a session's rekey, guarded by its mu.
type rekeyState struct {
	offered bool     // dialler: its offer went out
	known   bool     // master is set
	done    bool     // the target: the dialler's marker arrived
	master  [32]byte // master''
}

// rekeyOut is a rekey record for the loop to seal, after which the
// path's sealer switches to key.
type rekeyOut struct {
	body []byte // E_t (the target's answer) or empty (the dialler's marker)
	key  [32]byte
}

// rekeyMaster derives master” (see above).
func rekeyMaster(id [20]byte, master, shared [32]byte, dEph, tEph []byte) [32]byte {
	salt := append([]byte("foxtrot/e2e/rekey/v1"), id[:]...)
	info := make([]byte, 0, 32+66)
	info = append(append(append(info, master[:]...), dEph...), tEph...)
	var out [32]byte
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared[:], salt, info), out[:]); err != nil {
		panic("session: unreachable: hkdf: " + err.Error())
	}
	return out
}

// onRekey handles a rekey record on p's reader, which owns the opener.
func (s *Session) onRekey(p *Path, body []byte) error {
	if s.cfg.Dialer {
		k := p.rk.Load()
		if len(body) != 33 || k == nil || p.info.ID != s.cfg.ID {
			return fmt.Errorf("%w: unexpected rekey record", ErrProtocol)
		}
		p.rk.Store(nil)
		tEph, err := btcec.ParsePubKey(body)
		if err != nil {
			return fmt.Errorf("%w: rekey key: %v", ErrProtocol, err)
		}
		m := rekeyMaster(s.cfg.ID, s.cfg.Master, ecdh.Shared(k.priv, tEph), k.pub[:], body)
		d2t, t2d := pathKeys(m, p.info.Num)
		p.open = newOpener(t2d)
		if s.cfg.OnRekey != nil {
			s.cfg.OnRekey(m)
		}
		s.post(event{typ: evRekey, p: p, rekey: &rekeyOut{key: d2t}, master: m})
		return nil
	}
	if len(body) == 0 { // the dialler's marker
		if p.openNext == nil {
			return fmt.Errorf("%w: unexpected rekey marker", ErrProtocol)
		}
		p.open = newOpener(*p.openNext)
		p.openNext = nil
		s.post(event{typ: evRekeyDone, p: p})
		return nil
	}
	s.mu.Lock()
	again := s.rk.known
	s.rk.known = true // one offer per session, whatever happens next
	s.mu.Unlock()
	if s.cfg.OnRekey == nil || again || p.direct || p.info.ID != s.cfg.ID {
		return fmt.Errorf("%w: unexpected rekey offer", ErrProtocol)
	}
	dEph, err := btcec.ParsePubKey(body)
	if err != nil {
		return fmt.Errorf("%w: rekey key: %v", ErrProtocol, err)
	}
	k, err := btcec.NewPrivateKey()
	if err != nil {
		return err
	}
	tEph := k.PubKey().SerializeCompressed()
	m := rekeyMaster(s.cfg.ID, s.cfg.Master, ecdh.Shared(k, dEph), body, tEph)
	d2t, t2d := pathKeys(m, p.info.Num)
	p.openNext = &d2t
	ticket := s.cfg.OnRekey(m)
	s.post(event{typ: evRekey, p: p, rekey: &rekeyOut{body: tEph, key: t2d}, master: m, body: ticket})
	return nil
}

// resumeMasters are the secrets a resume may be proved with now.
func (s *Session) resumeMasters() [][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.rk.known || s.rk.master == [32]byte{}:
		return [][32]byte{s.cfg.Master}
	case s.rk.done:
		return [][32]byte{s.rk.master}
	}
	return [][32]byte{s.rk.master, s.cfg.Master}
}
