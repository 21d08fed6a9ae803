package route

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/relay"
	"github.com/foxtrotnet/foxtrot/session"
)

const (
	// helloTimeout bounds the wait for a new stream's first record (a
	// hello or a resume) at the target.
	helloTimeout = 10 * time.Second
)

// HandleStream implements peer.Handler: a stream names a circuit this node
// relays, or a connection to one of its listeners.
func (r *Router) HandleStream(l *peer.Link, s *peer.Stream, h wire.StreamHeader) {
	r.handleStream(l, s, h)
}

// stream is what a circuit or session needs of a link stream.
type stream interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// handleStream gives a stream to the circuit table first (a circuit this
// node relays), then to the inbound connections of its listeners.
func (r *Router) handleStream(l *peer.Link, s stream, h wire.StreamHeader) {
	if r.relay.Handle(relayLink{l}, s, h) {
		return
	}
	r.mu.Lock()
	if in := r.inbound[h.ID]; in != nil && in.paths[h.Path] == l && !in.streamed[h.Path] {
		in.streamed[h.Path] = true
		lst, key, master, helloH := in.lst, in.key, in.master, in.helloH
		var dialler *[33]byte
		if in.ticket {
			dialler = &in.dialler
		}
		r.mu.Unlock()
		r.acceptPath(lst, key, l, s, h, master, helloH, dialler)
		return
	}
	r.mu.Unlock()
	r.stats.streamsRejected.Add(1)
	r.log.Debug("stream for no circuit of ours", "conn", h.ID.String(), "path", h.Path, "from", l.ID().String())
	s.Close()
}

// relayLink is a peer link as the circuit table sees it. It compares
// equal to another relayLink of the same link.
type relayLink struct{ *peer.Link }

// OpenStream implements relay.Link.
func (l relayLink) OpenStream(ctx context.Context, h wire.StreamHeader) (relay.Stream, error) {
	s, err := l.Link.OpenStream(ctx, h)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// newRelay makes the router's circuit table: a neighbour cut off for
// unpaid relaying is refused, every relayed byte is counted for both
// neighbours (and billed when billing is on), and the route table learns
// how each circuit ended.
func (r *Router) newRelay() *relay.Table {
	return relay.New(relay.Config{
		Logger:      r.log,
		Now:         r.cfg.Now,
		MaxCircuits: r.cfg.MaxCircuits, MaxPerLink: r.cfg.MaxCircuitsPerPeer,
		Memory: r.cfg.CircuitMemory, MemoryPerLink: r.cfg.CircuitMemoryPerPeer,
		Cost: r.cfg.CircuitCost(),
		Refuse: func(up relay.Link) bool {
			return r.bill != nil && r.bill.CutOff(up.ID())
		},
		Meter: func(c relay.Circuit, stop func()) relay.Meter {
			up, down := c.Up.(relayLink).Link, c.Down.(relayLink).Link
			m := &circuitMeter{up: r.observe(up), down: r.observe(down)}
			if r.bill != nil && c.UpRate > 0 {
				m.bill = r.bill.Relay(up.ID(), down.ID(), c.UpRate, c.DownRate, stop)
			}
			return m
		},
		Ended: r.circuitEnded,
		Done: func(c relay.Circuit, ok bool) {
			up, down := c.Up.(relayLink).Link, c.Down.(relayLink).Link
			for _, o := range []*observed{r.observe(up), r.observe(down)} {
				if ok {
					o.circuitsOK.Add(1)
				} else {
					o.circuitsBroke.Add(1)
				}
			}
			r.mu.Lock()
			r.routes.outcome(c.Target, down, ok)
			r.mu.Unlock()
		},
	})
}

// CircuitStatus describes a circuit this node relays now.
type CircuitStatus struct {
	ID   addr.ConnID
	Path uint32
	// Up is the neighbour the circuit's stream came from (toward the
	// dialler), Down the one it goes on to (toward the target).
	Up, Down addr.NodeID
	Started  time.Time     // when its stream arrived
	Age      time.Duration // since then, by Config.Now
	// Bytes relayed toward the target (Up to Down) and back.
	UpDown, DownUp int64
	// Price is what this node charges per MiB through it, Billed whether
	// it bills the upstream neighbour for it (billing on, a priced path).
	Price  uint64
	Billed bool
}

// Circuits returns up to limit of the circuits this node relays now (all
// if limit <= 0), oldest first, and how many there are. The splices are
// not stopped: their byte counts are atomics, read as they stand.
func (r *Router) Circuits(limit int) ([]CircuitStatus, int) {
	list, total := r.relay.List(limit)
	out := make([]CircuitStatus, len(list))
	now := r.now()
	for i, c := range list {
		out[i] = CircuitStatus{ID: c.ID, Path: c.Path, Up: c.Up.ID(), Down: c.Down.ID(), Started: c.Started, Age: now.Sub(c.Started),
			UpDown: c.UpDown, DownUp: c.DownUp, Price: c.UpRate - c.DownRate, Billed: r.bill != nil && c.UpRate > 0}
	}
	return out, total
}

// circuitMeter counts a circuit's bytes for both its neighbours and bills
// them: atomic adds only, nothing on the splice waits for billing.
type circuitMeter struct {
	up, down *observed
	bill     *billing.RelayMeter // nil: not billed
}

func (m *circuitMeter) Add(n int64) {
	m.up.bytes.Add(n)
	m.down.bytes.Add(n)
	if m.bill != nil {
		m.bill.Add(n)
	}
}

func (m *circuitMeter) Close() {
	if m.bill != nil {
		m.bill.Close()
	}
}

// splice copies a<->b until both directions end; see relay.Splice.
func splice(a, b stream, moved func(n int64)) bool { return relay.Splice(a, b, moved) }

// acceptPath reads the first record of a new stream at the target. A
// hello opens a session for the listener (queued for Accept once the
// dialler's identity is checked); a resume moves an existing session onto
// the stream. Anything else is dropped and counted: Accept never sees a
// failure. A connection dialled with a ticket (dialler not nil) has no
// hello signature: its hello must name the identity the ticket named.
// Once a connection to a key listener is up, the target issues the
// dialler a ticket for its next dial.
func (r *Router) acceptPath(lst *Listener, key *keyPair, l *peer.Link, st io.ReadWriteCloser, h wire.StreamHeader, master, helloH [32]byte, dialler *[33]byte) {
	p := r.newPath(st, l, nil, h.ID, h.Path, master, false, 0, false)
	fail := func(err error) {
		p.Close()
		r.stats.acceptsFailed.Add(1)
		r.log.Debug("inbound stream dropped", "conn", h.ID.String(), "err", err)
	}
	first, err := p.ReadFirst(helloTimeout)
	if err != nil {
		fail(err)
		return
	}
	hello := func(b []byte, helloH [32]byte, dialler *[33]byte) (*btcec.PublicKey, []Hop, error) {
		if dialler != nil {
			return checkTicketHello(b, *dialler)
		}
		return checkHello(b, helloH)
	}
	if first.Hello != nil {
		pub, hops, err := hello(first.Hello, helloH, dialler)
		if err != nil {
			fail(err)
			return
		}
		p.SetHops(hops)
		p.AllowDirect(!r.cfg.EncryptDirect && len(hops) == 0)
		var rekey func([32]byte) []byte
		if dialler != nil {
			rekey = r.targetRekey(lst.key, pub)
		}
		s := r.newTargetSession(h.ID, key.pub, pub, master, rekey)
		if err := r.registerInbound(s); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		s.Start(p)
		if l != nil && (dialler == nil || len(hops) == 0) {
			// A full handshake's master is forward-secret already; a
			// ticket connection's next ticket comes from its rekey,
			// but one without relays does not rekey when it switches
			// to the peer link's encryption (forward-secret itself),
			// so it gets one now too. Before Accept sees the session,
			// so the ticket goes out ahead of any data.
			r.issueTicket(s, master, lst.key, pub)
		}
		r.confirm(lst, s)
		return
	}
	res := first.Resume
	r.mu.Lock()
	in := r.inbound[res.ID]
	var s *Session
	if in != nil {
		s = in.session
	}
	r.mu.Unlock()
	switch {
	case s != nil:
		if err := s.Adopt(p, res); err != nil {
			fail(err)
		}
	case in != nil:
		// The first path broke before its hello got through: the dialler
		// sent it again inside the resume.
		if err := res.Check(in.master, p); err != nil {
			fail(err)
			return
		}
		if res.Hello == nil {
			fail(fmt.Errorf("%w: resume of a connection never greeted", ErrProtocol))
			return
		}
		var tDialler *[33]byte
		if in.ticket {
			tDialler = &in.dialler
		}
		pub, _, err := hello(res.Hello, in.helloH, tDialler)
		if err != nil {
			fail(err)
			return
		}
		var rekey func([32]byte) []byte
		if tDialler != nil {
			rekey = r.targetRekey(in.lst.key, pub)
		}
		s := r.newTargetSession(res.ID, in.key.pub, pub, in.master, rekey)
		if err := r.registerInbound(s); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		if err := s.Adopt(p, res); err != nil {
			s.Abort(err)
			fail(err)
			return
		}
		if tDialler == nil {
			r.issueTicket(s, in.master, in.lst.key, pub)
		}
		r.confirm(in.lst, s)
	default:
		fail(fmt.Errorf("%w: resume of an unknown connection", ErrProtocol))
	}
}

// newTargetSession makes the target's session of a connection.
func (r *Router) newTargetSession(id addr.ConnID, local, remote *btcec.PublicKey, master [32]byte, onRekey func([32]byte) []byte) *Session {
	cfg := r.sessionConfig(id, false, local, remote, master)
	cfg.OnRekey = onRekey
	cfg.OnEnd = r.removeSession
	return session.New(cfg)
}

// registerInbound makes s the session of its connection ID at the target.
func (r *Router) registerInbound(s *Session) error {
	r.mu.Lock()
	if in := r.inbound[s.ID()]; in != nil {
		if in.session != nil {
			r.mu.Unlock()
			return fmt.Errorf("%w: a second hello", ErrProtocol)
		}
		in.session = s
	}
	r.mu.Unlock()
	return r.addSession(s)
}

// confirm queues a new session for Accept (the session has already told
// the dialler its hello arrived).
func (r *Router) confirm(lst *Listener, s *Session) {
	r.mu.Lock()
	in := r.inbound[s.ID()]
	reserved := in != nil && in.reserved && in.lst == lst
	var via *peer.Link
	if reserved {
		in.reserved = false // the slot is the session's now
		via = in.via
	}
	r.mu.Unlock()
	if !lst.enqueue(s, reserved, via) {
		s.Abort(fmt.Errorf("%w: listener closed or busy", ErrRefused))
		r.stats.acceptsFailed.Add(1)
	}
}

// checkHelloSize checks a hello body's length against its relay count (a
// resume's hello reaches here with its length unchecked).
func checkHelloSize(b []byte) error {
	if len(b) < helloMin || len(b) != helloMin+20*int(b[helloMin-1]) || int(b[helloMin-1]) >= wire.MaxHops {
		return fmt.Errorf("%w: hello of %d bytes", ErrProtocol, len(b))
	}
	return nil
}

// checkHello checks the dialler's proof of identity.
func checkHello(b []byte, helloH [32]byte) (*btcec.PublicKey, []Hop, error) {
	if err := checkHelloSize(b); err != nil {
		return nil, nil, err
	}
	pub, err := btcec.ParsePubKey(b[:33])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: hello key: %v", ErrProtocol, err)
	}
	var sig [64]byte
	copy(sig[:], b[33:97])
	if err := verify(pub, helloH, sig); err != nil {
		return nil, nil, fmt.Errorf("%w: hello: %v", ErrProtocol, err)
	}
	hops := make([]Hop, b[helloMin-1])
	for i := range hops {
		copy(hops[i].Node[:], b[helloMin+20*i:])
	}
	return pub, hops, nil
}
