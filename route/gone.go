package route

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/relay"
)

// News of a dialler that is gone (see session/gone.go for what the
// target does with it). A relay whose circuit broke because its upstream
// link went down sends CircuitGone to the circuit's downstream neighbour,
// naming the circuit and itself; relays further down pass it on
// unchanged along the circuit; the target's session checks whether the
// reporter is the first relay of the path in use, that is, whether the
// link that died was the dialler node's own. On a path without relays the
// target sees that link die itself. A relay can only learn, from this,
// what it already knew: that the circuit broke at one of its upstream
// links. A lying relay on the path can at worst cut the target's wait
// short, which it could do anyway by dropping the circuit.

// TypeCircuitGone is the control message type of CircuitGone: optional
// (high bit set), so a peer that does not know it ignores it.
const TypeCircuitGone wire.Type = 0x93

// circuitGoneLen is CircuitGone's body: ID, path number, reporter.
const circuitGoneLen = 20 + 4 + 20

// defaultGoneTimeout is Config.GoneTimeout's default.
const defaultGoneTimeout = 3 * time.Second

// upDownWait bounds how long a relay whose circuit broke waits to see
// whether the circuit's upstream link went down with it.
const upDownWait = time.Second

// CircuitGone says that relay By lost the upstream link of circuit (ID,
// Path), and with it the circuit.
type CircuitGone struct {
	ID   addr.ConnID
	Path uint32
	By   addr.NodeID
}

// Type implements wire.Message.
func (*CircuitGone) Type() wire.Type { return TypeCircuitGone }

// AppendBody implements wire.Message.
func (m *CircuitGone) AppendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Path)
	return append(b, m.By[:]...)
}

// DecodeCircuitGone parses a CircuitGone body (a wire.DecodeFunc): exactly
// 44 bytes, anything else is ErrBadMessage.
func DecodeCircuitGone(body []byte) (wire.Message, error) {
	if len(body) != circuitGoneLen {
		return nil, fmt.Errorf("%w: circuit-gone body of %d bytes, want %d", ErrBadMessage, len(body), circuitGoneLen)
	}
	m := &CircuitGone{Path: binary.BigEndian.Uint32(body[20:24])}
	copy(m.ID[:], body[:20])
	copy(m.By[:], body[24:])
	return m, nil
}

// GoneProtocol is what the router adds to its peer set (peer.Set.Register)
// to carry CircuitGone.
func (r *Router) GoneProtocol() peer.Protocol {
	return peer.Protocol{
		Name: "route/circuit-gone",
		Messages: []peer.MessageType{{
			Type:   TypeCircuitGone,
			Decode: DecodeCircuitGone,
			Handle: func(l *peer.Link, m wire.Message) {
				if g, ok := m.(*CircuitGone); ok {
					r.handleCircuitGone(l, g)
				}
			},
		}},
	}
}

// goneTimeout is Config.GoneTimeout with its default.
func (r *Router) goneTimeout() time.Duration {
	if r.cfg.GoneTimeout > 0 {
		return r.cfg.GoneTimeout
	}
	return defaultGoneTimeout
}

// handleCircuitGone passes the news on down a circuit this node relays,
// or gives it to the target's session whose path it is.
func (r *Router) handleCircuitGone(l *peer.Link, m *CircuitGone) {
	if down, ok := r.relay.Downstream(relay.Key{ID: m.ID, Path: m.Path}, relayLink{l}); ok {
		if d, ok := down.(relayLink); ok {
			d.Send(m)
		}
		return
	}
	for _, s := range r.sessionList() {
		if s.CircuitGone(m.ID, m.Path, m.By, r.goneTimeout()) {
			r.log.Debug("the dialler's node looks gone", "conn", m.ID.String(), "relay", m.By.String())
			return
		}
	}
}

// sessionList returns the router's sessions now.
func (r *Router) sessionList() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// circuitEnded is told of every relayed circuit's end (relay.Config.Ended).
// A circuit that ended because its upstream link went down is reported
// downstream as a CircuitGone. It runs on the circuit's own goroutine,
// which was ending anyway; a circuit that broke (not an orderly end)
// waits at most upDownWait to see its upstream link go down, since the
// stream's error can come a moment before the link counts as down.
func (r *Router) circuitEnded(k relay.Key, c relay.Circuit, ok bool) {
	up, okU := c.Up.(relayLink)
	down, okD := c.Down.(relayLink)
	if !okU || !okD || down.Err() != nil {
		return
	}
	if up.Err() != nil {
		down.Send(&CircuitGone{ID: k.ID, Path: k.Path, By: r.self})
		return
	}
	if ok {
		return // an orderly end
	}
	t := time.NewTimer(upDownWait)
	defer t.Stop()
	select {
	case <-up.Done():
	case <-down.Done():
		return
	case <-t.C:
		return // the stream broke, not the link: the dialler's side may fail over
	case <-r.ctx.Done():
		return
	}
	down.Send(&CircuitGone{ID: k.ID, Path: k.Path, By: r.self})
}

// linkGone reports the circuits from l that this node relays as gone,
// downstream, and tells the sessions whose path ran over l without
// relays that the node at its other end is gone. (A circuit whose
// stream ends before the link counts as down is reported by
// circuitEnded.)
func (r *Router) linkGone(l *peer.Link) {
	for _, c := range r.relay.CarriedFrom(relayLink{l}) {
		if d, ok := c.Down.(relayLink); ok {
			d.Send(&CircuitGone{ID: c.Key.ID, Path: c.Key.Path, By: r.self})
		}
	}
	for _, s := range r.sessionList() {
		s.LinkGone(l.ID(), r.goneTimeout())
	}
}
