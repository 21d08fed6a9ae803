package peer

import (
	"fmt"

	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Protocol is what a protocol package (the DHT, pub/sub, ...) adds to a
// Set with Register: control message types, stream kinds, and observers of
// links coming and going. It plugs in without editing wire, peer or route.
//
// Codes are one byte each and must be unique in a Set. Taken already are
// Ping and Pong (the link's own), and, while Config.Handler is set, the
// types package wire decodes itself (wire.Known: connect requests, acks,
// refusals, channel messages, payment requests) and wire.StreamCircuit,
// which go to the Handler. A new protocol should pick message types with
// the high bit set (Type.Optional) unless every peer it talks to knows
// them: a peer that does not know an optional type ignores it, but drops
// the link on an unknown mandatory one. A stream of a kind the peer does
// not serve is refused (closed) and costs nothing else.
type Protocol struct {
	// Name names the protocol in logs and errors. Required.
	Name string
	// Messages are the control message types the protocol owns.
	Messages []MessageType
	// Streams are the stream kinds the protocol owns.
	Streams []StreamKind
	// LinkUp, if set, is called when a link is registered, after the
	// Handler's LinkUp and before the link's first message is read: see
	// Handler.LinkUp.
	LinkUp func(l *Link)
	// LinkDown, if set, is called once when a link whose LinkUp it saw
	// goes down.
	LinkDown func(l *Link, err error)
}

// MessageType is one control message type of a Protocol.
type MessageType struct {
	Type wire.Type
	// Decode parses a message body (see wire.DecodeFunc). Its error is a
	// protocol violation: the link goes down, as for a malformed built-in
	// message. It must not panic on any input, and has a fuzz target.
	Decode wire.DecodeFunc
	// Handle is called on the link's control reader for every message of
	// the type, in order with the link's other messages. It must not
	// block for long: the link reads nothing else meanwhile.
	Handle func(l *Link, m wire.Message)
}

// StreamKind is one stream kind of a Protocol.
type StreamKind struct {
	Kind uint8
	// Handle is called on a goroutine of its own for every stream of the
	// kind that the peer opens, once its header is read. It owns s, and
	// may run as long as the stream lives; Set.Close waits for it, so it
	// must return once s fails.
	Handle func(l *Link, s *Stream, h wire.StreamHeader)
}

// registry is an immutable table of registered protocols; Register
// replaces the Set's with a copy, so links read it without locks.
type registry struct {
	msgs    [256]*msgEntry
	streams [256]*streamEntry
	protos  []*Protocol
}

type msgEntry struct {
	MessageType
	proto string
}

type streamEntry struct {
	StreamKind
	proto string
}

// decoder is the wire.DecodeWith lookup of registered types.
func (r *registry) decoder(t wire.Type) wire.DecodeFunc {
	if e := r.msgs[t]; e != nil {
		return e.Decode
	}
	return nil
}

// Register adds a protocol's message types, stream kinds and observers.
// It may be called at any time, also while links are up: their next
// message or stream of a registered code goes to the protocol; its
// observers see the links that come up after it. It fails, registering
// nothing, on a code already taken (ErrTaken) or a missing field
// (ErrBadProtocol).
func (s *Set) Register(p Protocol) error {
	if p.Name == "" {
		return fmt.Errorf("%w: a protocol needs a name", ErrBadProtocol)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	next := *s.reg.Load()
	for _, m := range p.Messages {
		if m.Decode == nil || m.Handle == nil {
			return fmt.Errorf("%w: %s: message type %s needs Decode and Handle", ErrBadProtocol, p.Name, m.Type)
		}
		if owner := s.messageOwner(&next, m.Type); owner != "" {
			return fmt.Errorf("%w: %s: message type %s belongs to %s", ErrTaken, p.Name, m.Type, owner)
		}
		next.msgs[m.Type] = &msgEntry{MessageType: m, proto: p.Name}
	}
	for _, k := range p.Streams {
		if k.Kind == 0 || k.Handle == nil {
			return fmt.Errorf("%w: %s: stream kind %d needs a Handle and a kind above 0", ErrBadProtocol, p.Name, k.Kind)
		}
		if owner := s.streamOwner(&next, k.Kind); owner != "" {
			return fmt.Errorf("%w: %s: stream kind %d belongs to %s", ErrTaken, p.Name, k.Kind, owner)
		}
		next.streams[k.Kind] = &streamEntry{StreamKind: k, proto: p.Name}
	}
	if p.LinkUp != nil || p.LinkDown != nil {
		next.protos = append(next.protos[:len(next.protos):len(next.protos)], &p)
	}
	s.reg.Store(&next)
	return nil
}

// messageOwner names who has message type t in r, or "".
func (s *Set) messageOwner(r *registry, t wire.Type) string {
	switch {
	case t == wire.TypePing || t == wire.TypePong:
		return "the link"
	case r.msgs[t] != nil:
		return r.msgs[t].proto
	case wire.Known(t) && s.cfg.Handler != nil:
		return "the Handler"
	}
	return ""
}

// streamOwner names who has stream kind k in r, or "".
func (s *Set) streamOwner(r *registry, k uint8) string {
	switch {
	case r.streams[k] != nil:
		return r.streams[k].proto
	case k == wire.StreamCircuit && s.cfg.Handler != nil:
		return "the Handler"
	}
	return ""
}

// RefusedStreams counts streams peers opened that no one took: a
// malformed header, or a kind nobody serves. Each was closed; its link
// stayed up.
func (s *Set) RefusedStreams() uint64 { return s.refusedStreams.Load() }
