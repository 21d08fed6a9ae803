package foxtrot

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/nat"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/route"
	"github.com/foxtrotnet/foxtrot/transport"
)

// NATConfig configures NAT traversal (package nat): observed-address
// reports (always on) and hole punching (Punch).
type NATConfig struct {
	// Punch makes the node open direct UDP links for its connections
	// through one relay: as dialler it offers (through the relay) to
	// punch a hole toward the listener's node, as target it answers such
	// offers, and when both dial each other's public UDP addresses and a
	// link comes up, the connection moves onto it (no byte lost); when
	// none does, the relayed path stays. Both nodes need it, and UDP
	// listeners. Default false: punching tells the other end of a
	// connection this node's public address and identity, which a
	// relayed connection otherwise keeps from it.
	Punch bool
	// PunchTimeout bounds one punch, offer to direct link: past it the
	// node gives up and the connection stays relayed. Default 2.5s, so
	// that the outcome is decided within 3 s of the dial.
	PunchTimeout time.Duration
	// MinAgree is how many peers must report the same address before the
	// node believes it is its public UDP address. Default 2.
	MinAgree int
}

// NATStats counts NAT traversal.
type NATStats struct {
	// PublicAddrs are the public UDP addresses enough peers agree they
	// see this node's links come from (see Node.PublicAddrs).
	PublicAddrs []string
	// Varies: peers see this node's links come from one IP but different
	// ports (a symmetric NAT): punching can reach only peers whose NAT
	// filters by address alone, or none.
	Varies bool
	// Punches counts punch attempts (offers made and answered); Direct
	// those that got a direct link in time, Failed those that did not
	// (the connection stayed relayed); Moved the connections that moved
	// onto the direct link; Relayed the punch messages this node passed
	// along circuits it relays.
	Punches, Direct, Failed, Moved, Relayed int64
	// MaxDecide is the longest a punch took to succeed or give up.
	MaxDecide time.Duration
}

// offerRetry is how long a punch offer waits for its answer before it is
// sent again (doubling each time).
const offerRetry = 200 * time.Millisecond

// maxPunching bounds the punches running at once (each dials for at most
// PunchTimeout): offers beyond it are ignored.
const maxPunching = 16

// natPart is the node's NAT traversal: its reflexive addresses from its
// peers' reports, and hole punching for its connections through one
// relay (package nat describes both).
type natPart struct {
	n       *Node
	on      bool
	timeout time.Duration
	table   *nat.Table
	self    [33]byte
	clock   clock // wallClock{}; tests set their own before any dial
	// punchers are the transports that can punch (send a datagram that
	// opens this node's NAT toward a peer before it dials in).
	punchers []puncher

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	running   int
	answers   map[natKey]chan *nat.Punch // offers out, by circuit
	answering map[natKey]bool            // offers answered, racing now
	waiting   map[addr.NodeID][]chan struct{}

	punches, direct, failed, moved, relayed atomic.Int64
	maxDecide                               atomic.Int64
}

type natKey struct {
	id  addr.ConnID
	num uint32
}

// clock is what punches time themselves by: the wall clock, or a test's.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; the func it
	// returns stops that unless it has run.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

// withTimeout is context.WithTimeout(ctx, PunchTimeout) on p's clock.
func (p *natPart) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := p.clock.AfterFunc(p.timeout, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// puncher is the optional transport ability to send a punch datagram
// (transport/quic's Transport.Punch).
type puncher interface {
	Punch(addr ma.Multiaddr) error
}

func newNAT(n *Node, cfg NATConfig, ts []transport.Transport) *natPart {
	ctx, cancel := context.WithCancel(context.Background())
	p := &natPart{
		n: n, on: cfg.Punch, timeout: cfg.PunchTimeout, clock: wallClock{},
		table: nat.NewTable(nat.TableConfig{MinAgree: cfg.MinAgree}),
		ctx:   ctx, cancel: cancel,
		answers:   make(map[natKey]chan *nat.Punch),
		answering: make(map[natKey]bool),
		waiting:   make(map[addr.NodeID][]chan struct{}),
	}
	if p.timeout <= 0 {
		p.timeout = 2500 * time.Millisecond
	}
	copy(p.self[:], n.key.PubKey().SerializeCompressed())
	for _, t := range ts {
		if pt, ok := t.(puncher); ok {
			p.punchers = append(p.punchers, pt)
		}
	}
	return p
}

// protocol is what the node registers with its peer set.
func (p *natPart) protocol() peer.Protocol {
	return peer.Protocol{
		Name: "nat",
		Messages: []peer.MessageType{
			{Type: nat.TypeObserved, Decode: nat.DecodeObserved, Handle: func(l *peer.Link, m wire.Message) {
				if o, ok := m.(*nat.Observed); ok && isUDPLink(l) {
					p.table.Add(l.ID(), o.Addr)
				}
			}},
			{Type: nat.TypePunch, Decode: nat.DecodePunch, Handle: func(l *peer.Link, m wire.Message) {
				if pm, ok := m.(*nat.Punch); ok {
					p.handlePunch(l, pm)
				}
			}},
		},
		LinkUp: p.linkUp,
	}
}

func isUDPLink(l *peer.Link) bool {
	_, ok := l.RemoteAddr().(*net.UDPAddr)
	return ok
}

// linkUp tells a UDP peer where its datagrams come from, and wakes
// punches waiting for a link to it.
func (p *natPart) linkUp(l *peer.Link) {
	if ua, ok := l.RemoteAddr().(*net.UDPAddr); ok {
		ap := ua.AddrPort()
		l.Send(&nat.Observed{Addr: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())})
	}
	p.mu.Lock()
	ws := p.waiting[l.ID()]
	delete(p.waiting, l.ID())
	p.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// goroutine runs f as one of the punches, unless the node is closing or
// maxPunching run already.
func (p *natPart) goroutine(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.running >= maxPunching {
		return false
	}
	p.running++
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			p.running--
			p.mu.Unlock()
		}()
		f()
	}()
	return true
}

func (p *natPart) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// candidates are the addresses this node offers: its public UDP
// addresses, then any other address peers reported (behind a symmetric
// NAT there are only those: a peer that sends to one opens its own NAT's
// filter to this node's IP).
func (p *natPart) candidates() []netip.AddrPort {
	c := p.table.Candidates()
	for _, ap := range p.table.Reported() {
		if !slices.Contains(c, ap) {
			c = append(c, ap)
		}
	}
	return c[:min(len(c), nat.MaxCandidates)]
}

// hasUDP reports whether the node listens on UDP.
func (p *natPart) hasUDP() bool {
	for _, a := range p.n.peers.ListenAddrs() {
		if base, _ := transport.SplitIdentity(a); isUDP(base) {
			return true
		}
	}
	return false
}

// afterDial starts a punch for a new dialled connection through one
// relay.
func (p *natPart) afterDial(s *route.Session) {
	if !p.on || !s.Dialer() || !p.hasUDP() {
		return
	}
	info := s.PathInfo()
	if len(info.Hops) != 1 {
		return
	}
	relay := p.n.peers.Link(info.Hops[0].Node)
	if relay == nil {
		return
	}
	p.goroutine(func() { p.punchOut(s, relay, natKey{info.ID, info.Num}) })
}

// punchOut offers a punch through relay for s's circuit k, and on an
// answer dials the target's node while it dials this one; with a link up
// in time, it moves s onto it.
func (p *natPart) punchOut(s *route.Session, relay *peer.Link, k natKey) {
	start := p.clock.Now()
	ctx, cancel := p.withTimeout(p.ctx)
	defer cancel()
	ch := make(chan *nat.Punch, 1)
	p.mu.Lock()
	p.answers[k] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.answers, k)
		p.mu.Unlock()
	}()
	p.punches.Add(1)
	offer := &nat.Punch{Kind: nat.KindOffer, ID: k.id, Path: k.num, Key: p.self, Candidates: p.candidates()}
	// The offer may reach the target's node before its end of the
	// connection exists (the hello travels on the data stream, the offer
	// on the control channel), or be lost with a link: it is sent again
	// after offerRetry, doubling, until an answer or the timeout.
	var link *peer.Link
	retry := make(chan struct{}, 1)
	stopRetry := func() bool { return false }
	defer func() { stopRetry() }()
	wait := offerRetry
	relay.Send(offer)
wait:
	for {
		stopRetry = p.clock.AfterFunc(wait, func() {
			select {
			case retry <- struct{}{}:
			default:
			}
		})
		select {
		case <-retry:
			relay.Send(offer)
			wait *= 2
			continue
		case ans := <-ch:
			link = p.race(ctx, ans)
			break wait
		case <-ctx.Done():
			break wait
		case <-s.Done():
			break wait
		}
	}
	if !p.decided(start, link != nil) {
		return
	}
	mctx, mcancel := p.withTimeout(p.ctx)
	defer mcancel()
	err := p.n.router.MoveDirect(mctx, s, link)
	if err != nil && link.Err() != nil {
		// The two ends' dials both linked and the set kept the other
		// link: move over that one.
		if l := p.n.peers.Link(link.ID()); l != nil && l != link {
			err = p.n.router.MoveDirect(mctx, s, l)
		}
	}
	if err != nil {
		p.n.log.Debug("nat: direct link up, connection not moved", "conn", k.id.String(), "err", err)
		return
	}
	p.moved.Add(1)
	p.n.log.Debug("nat: connection moved onto a direct link", "conn", k.id.String(), "peer", link.ID().String())
}

// decided counts a punch's outcome and how long it took.
func (p *natPart) decided(start time.Time, ok bool) bool {
	took := int64(p.clock.Now().Sub(start))
	for {
		old := p.maxDecide.Load()
		if took <= old || p.maxDecide.CompareAndSwap(old, took) {
			break
		}
	}
	if ok {
		p.direct.Add(1)
	} else {
		p.failed.Add(1)
	}
	return ok
}

// handlePunch passes a punch message along a circuit this node relays,
// or acts on one for a circuit of its own.
func (p *natPart) handlePunch(l *peer.Link, m *nat.Punch) {
	if next := p.n.router.Across(m.ID, m.Path, l); next != nil {
		if next.Send(m) == nil {
			p.relayed.Add(1)
		}
		return
	}
	if !p.on {
		return
	}
	k := natKey{m.ID, m.Path}
	switch m.Kind {
	case nat.KindAnswer:
		p.mu.Lock()
		ch := p.answers[k]
		p.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
		}
	case nat.KindOffer:
		s := p.n.router.SessionOn(m.ID, m.Path)
		if s == nil || s.Dialer() || !p.hasUDP() {
			return
		}
		if info := s.PathInfo(); len(info.Hops) != 1 || info.Hops[0].Node != l.ID() {
			return // not through this neighbour alone
		}
		answer := &nat.Punch{Kind: nat.KindAnswer, ID: m.ID, Path: m.Path, Key: p.self, Candidates: p.candidates()}
		p.mu.Lock()
		again := p.answering[k]
		p.answering[k] = true
		p.mu.Unlock()
		if again { // our answer was lost, or crossed the offer's repeat
			l.Send(answer)
			return
		}
		started := p.goroutine(func() {
			start := p.clock.Now()
			ctx, cancel := p.withTimeout(p.ctx)
			defer cancel()
			defer func() {
				p.mu.Lock()
				delete(p.answering, k)
				p.mu.Unlock()
			}()
			p.punches.Add(1)
			if l.Send(answer) != nil {
				p.decided(start, false)
				return
			}
			p.decided(start, p.race(ctx, m) != nil)
		})
		if !started {
			p.mu.Lock()
			delete(p.answering, k)
			p.mu.Unlock()
		}
	}
}

// race dials the candidates of m's sender (by its identity, so the
// datagrams are keyed by its key) while the sender dials this node, and
// returns the link to it that both ends will keep, or nil when ctx ends
// with none.
//
// When both dials link, peer.Set keeps the link dialled by the smaller
// identity key (Set.keepNew) and closes the other, so a connection moved
// onto the other would break. race therefore returns the first link only
// if it is that keeper, or once the keeper can no longer come: this
// node's own dial failed (when it is the smaller key's), or ctx ended
// (the other end's dial is bounded by the same timeout, started earlier).
func (p *natPart) race(ctx context.Context, m *nat.Punch) *peer.Link {
	pub, err := m.PubKey()
	if err != nil {
		return nil
	}
	id := addr.NodeIDFromPubKey(pub)
	if id == p.n.peers.Self() {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx) // our dials stop when we return
	defer cancel()
	iDialKeeper := bytes.Compare(p.self[:], m.Key[:]) < 0
	keeper := func(l *peer.Link) bool { return l.Outbound() == iDialKeeper }
	arm := func() chan struct{} {
		up := make(chan struct{})
		p.mu.Lock()
		p.waiting[id] = append(p.waiting[id], up)
		p.mu.Unlock()
		return up
	}
	up := arm()
	defer func() {
		p.mu.Lock()
		ws := slices.DeleteFunc(p.waiting[id], func(w chan struct{}) bool { return w == up })
		if len(ws) == 0 {
			delete(p.waiting, id)
		} else {
			p.waiting[id] = ws
		}
		p.mu.Unlock()
	}()
	if l := p.n.peers.Link(id); l != nil {
		return l // linked already: nothing to race
	}
	// Open our NAT toward every candidate first, so that the other end's
	// dial, which may already be on its way, gets in at its first try.
	var bases []ma.Multiaddr
	for _, c := range m.Candidates {
		if !nat.Usable(c) {
			continue
		}
		if base, err := manet.FromNetAddr(net.UDPAddrFromAddrPort(c)); err == nil {
			bases = append(bases, base)
			for _, pt := range p.punchers {
				pt.Punch(base)
			}
		}
	}
	hexKey := hex.EncodeToString(m.Key[:])
	dialled := make(chan *peer.Link, 1)
	p.wg.Add(1) // counted apart from the punches: it belongs to this one
	go func() {
		defer p.wg.Done()
		for _, base := range bases {
			full, err := transport.WithIdentity(base, hexKey)
			if err != nil {
				continue
			}
			if l, err := p.n.peers.Connect(ctx, full); err == nil {
				dialled <- l
				return
			}
			if ctx.Err() != nil {
				break
			}
		}
		dialled <- nil
	}()
	keeperMayCome := true
	for {
		select {
		case <-up:
			up = arm()
		case l := <-dialled:
			dialled = nil
			if iDialKeeper && l == nil {
				keeperMayCome = false // ours was the keeper's dial
			}
		case <-ctx.Done():
			return p.n.peers.Link(id)
		}
		if l := p.n.peers.Link(id); l != nil && (keeper(l) || !keeperMayCome) {
			return l
		}
	}
}

// PublicAddrs returns the node's public UDP addresses as multiaddrs
// (/ip4/<ip>/udp/<port>/foxtrot/<66-hex key>): the addresses at least
// Config.NAT.MinAgree peers report its UDP links come from. Behind a NAT
// that maps endpoint-independently they are where other nodes can reach
// it once it has sent to them; behind a symmetric NAT there are none
// (Stats.NAT.Varies).
func (n *Node) PublicAddrs() []string {
	var out []string
	for _, ap := range n.nat.table.Candidates() {
		base, err := manet.FromNetAddr(net.UDPAddrFromAddrPort(ap))
		if err != nil {
			continue
		}
		full, err := transport.WithIdentity(base, hex.EncodeToString(n.key.PubKey().SerializeCompressed()))
		if err != nil {
			continue
		}
		out = append(out, full.String())
	}
	return out
}

// natStats fills s.NAT.
func (n *Node) natStats(s *Stats) {
	p := n.nat
	s.NAT = NATStats{
		PublicAddrs: n.PublicAddrs(), Varies: p.table.Varies(),
		Punches: p.punches.Load(), Direct: p.direct.Load(), Failed: p.failed.Load(),
		Moved: p.moved.Load(), Relayed: p.relayed.Load(), MaxDecide: time.Duration(p.maxDecide.Load()),
	}
}

// punching reports how many punches run now.
func (p *natPart) punching() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}
