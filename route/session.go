package route

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/session"
)

// Session is one end of an end-to-end connection (see package session).
// Route sets connections up and hands each session its paths.
type Session = session.Session

// Hop is a relay on a connection's path: its identity (HASH160) and the
// price it quoted (satoshis per MiB; known to the dialler only).
type Hop = session.Hop

// sessionConfig is the part of a session's configuration that comes from
// the router's.
func (r *Router) sessionConfig(id addr.ConnID, dialer bool, local, remote *btcec.PublicKey, master [32]byte) session.Config {
	return session.Config{
		ID: id, Dialer: dialer, Local: local, Remote: remote, Master: master, Self: r.self,
		SendBuffer: r.cfg.SendBuffer, RecvBuffer: r.cfg.RecvBuffer,
		Heartbeat: r.cfg.Heartbeat, StallTimeout: r.cfg.StallTimeout,
		FailoverTimeout: r.cfg.FailoverTimeout, Linger: r.cfg.Linger,
		Stats: &r.stats.session, Logger: r.log,
		MaxWindow: r.cfg.MaxWindow, Budget: r.cfg.Budget,
	}
}

// newPath makes a session path over a circuit stream whose first hop is
// link (nil for a same-node pipe). rate is what its relays charge the
// dialler per MiB; direct lets the path rely on the peer link's
// encryption (see session.PathInfo.Direct).
func (r *Router) newPath(stream io.ReadWriteCloser, link *peer.Link, hops []Hop, id addr.ConnID, num uint32, master [32]byte, dialer bool, rate uint64, direct bool) *session.Path {
	info := session.PathInfo{ID: id, Num: num, Hops: hops, Peer: r.self, Local: link == nil, Direct: direct}
	if link != nil {
		info.Peer = link.ID()
	}
	if dialer && rate > 0 && link != nil && r.bill != nil {
		// The dialler pays for every byte of every record of its own
		// connection, both directions: exactly what its first relay
		// splices and meters.
		info.Meter = r.bill.Origin(link.ID(), rate)
	}
	return session.NewPath(stream, info, master, dialer)
}

// finder finds a dialler's session new paths when one breaks: the other
// acks of its dial first, then fresh requests (directed, then flooded).
// It is the session's session.Finder.
type finder struct {
	r      *Router
	kind   uint8 // the target's kind
	target [20]byte
	tKey   *btcec.PublicKey
	id     addr.ConnID // the session's connection ID
	master [32]byte
	done   <-chan struct{} // the session's Done
	fixed  *fixedRequest   // what fresh requests repeat (stealth targets)

	confirm [32]byte // a ticket connection's: its backups must carry it

	mu sync.Mutex
	// ticket is set for a connection dialled with a ticket until it
	// rekeys: its backups are the ticket ack's other paths.
	ticket  bool
	backups []dialEvent
	used    map[circuitKey]bool
	links   map[*session.Path]*peer.Link // first hops of the paths handed out
}

func (r *Router) newFinder(kind uint8, target [20]byte, tKey *btcec.PublicKey, id addr.ConnID, master [32]byte) *finder {
	return &finder{r: r, kind: kind, target: target, tKey: tKey, id: id, master: master,
		used: make(map[circuitKey]bool), links: make(map[*session.Path]*peer.Link)}
}

// addBackup keeps an ack for later use.
func (f *finder) addBackup(ev dialEvent) {
	if ev.refuse != nil || ev.ticketRefused || ev.overPrice {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev.ticket && (!f.ticket || ev.confirm != f.confirm) {
		return
	}
	if !f.used[circuitKey{ev.id, ev.ack.Path}] {
		f.backups = append(f.backups, ev)
	}
}

// dropTicketBackups forgets the backup paths a ticket ack gave: they are
// keyed from master', which a rekeyed connection no longer relies on.
func (f *finder) dropTicketBackups() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ticket = false // later ticket acks are dropped too (addBackup)
	f.backups = slices.DeleteFunc(f.backups, func(ev dialEvent) bool { return ev.ticket })
}

// Backups returns how many unused backup paths the finder holds.
func (f *finder) Backups() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.backups)
}

// use records that the session runs on p, whose first hop is link.
func (f *finder) use(p *session.Path, link *peer.Link) {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := p.Info()
	f.used[circuitKey{info.ID, info.Num}] = true
	f.links[p] = link
}

// NewPath opens a stream on the next usable backup, or on a fresh path.
func (f *finder) NewPath(ctx context.Context) (*session.Path, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(f.r.ctx, cancel)
	defer stop()
	for {
		f.mu.Lock()
		if len(f.backups) == 0 {
			f.mu.Unlock()
			break
		}
		ev := f.backups[0]
		f.backups = f.backups[1:]
		used := f.used[circuitKey{ev.id, ev.ack.Path}]
		f.mu.Unlock()
		if used || ev.link.Err() != nil {
			continue
		}
		if p, err := f.openPath(ctx, ev); err == nil {
			return p, nil
		}
	}
	ev, err := f.r.requestPath(ctx, f)
	if err != nil {
		return nil, err
	}
	return f.openPath(ctx, ev)
}

// openPath opens the data stream an ack leads to, as a path to resume on.
func (f *finder) openPath(ctx context.Context, ev dialEvent) (*session.Path, error) {
	if !ev.tKey.IsEqual(f.tKey) {
		return nil, fmt.Errorf("%w: answered by another key", ErrBadAck)
	}
	master := f.master
	if ev.id != f.id {
		master = dialerSecret(ev.id, ev.eph, ev.tKey, ev.tEph)
	}
	stream, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: ev.id, Path: ev.ack.Path})
	if err != nil {
		return nil, err
	}
	p := f.r.newPath(stream, ev.link, pathHops(ev.ack.Hops), ev.id, ev.ack.Path, master, true, ev.price, false)
	f.use(p, ev.link)
	return p, nil
}

// PathDone feeds the route table: a path that ended well confirms its
// first hop, one that broke counts against it.
func (f *finder) PathDone(p *session.Path, ok bool) {
	f.mu.Lock()
	link := f.links[p]
	delete(f.links, p)
	f.mu.Unlock()
	if link == nil {
		return
	}
	f.r.mu.Lock()
	f.r.routes.outcome(f.target, link, ok)
	f.r.mu.Unlock()
}

// pathHops turns an ack's hop list (target side first) into a path's
// relays (dialler side first).
func pathHops(in []wire.Hop) []Hop {
	out := make([]Hop, len(in))
	for i, h := range in {
		out[len(in)-1-i] = Hop{Node: h.Node(), Price: h.Price}
	}
	return out
}
