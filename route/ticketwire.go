package route

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// The control messages of a ticket dial (SPEC.md section 6). All three are
// optional types (high bit set): a node that does not know them ignores
// them, so a ticket request that meets one dies there and the dialler
// falls back to a full handshake after a short wait (see ticketdial.go).
const (
	TypeTicketRequest wire.Type = 0x94
	TypeTicketAck     wire.Type = 0x95
	TypeTicketRefuse  wire.Type = 0x96
)

// Sizes of the ticket messages' bodies.
const (
	// TicketRequestSize: hop limit (1), flags (1), target (20), n_d (16),
	// time (8), max price (8), lock (32), ticket (TicketSize).
	TicketRequestSize = 1 + 1 + 20 + 16 + 8 + 8 + 32 + TicketSize
	// ticketAckMin: ID (20), path (4), n_t (16), proof (32), confirm
	// (32), hop count (1); then wire.HopSize per hop.
	ticketAckMin    = 20 + 4 + 16 + 32 + 32 + 1
	ticketRefuseLen = 20
)

// TicketRequest is a dial with a resumption ticket: like a
// wire.ConnectRequest it names the target, a time, a hop limit and a
// price limit, but instead of an ephemeral key and a signature it carries
// the ticket, the dialler's nonce n_d and the lock its answer must open.
// Its connection ID is HASH160 of the body without the hop limit.
type TicketRequest struct {
	HopLimit uint8
	Flags    uint8 // wire.FlagFlood
	Target   [20]byte
	Nonce    [16]byte // n_d
	Time     uint64   // Unix milliseconds
	MaxPrice uint64
	Lock     [32]byte // SHA256(proof)
	Ticket   [TicketSize]byte
}

// Type implements wire.Message.
func (*TicketRequest) Type() wire.Type { return TypeTicketRequest }

// AppendBody implements wire.Message.
func (m *TicketRequest) AppendBody(b []byte) []byte {
	return m.appendFixed(append(b, m.HopLimit))
}

func (m *TicketRequest) appendFixed(b []byte) []byte {
	b = append(b, m.Flags)
	b = append(b, m.Target[:]...)
	b = append(b, m.Nonce[:]...)
	b = binary.BigEndian.AppendUint64(b, m.Time)
	b = binary.BigEndian.AppendUint64(b, m.MaxPrice)
	b = append(b, m.Lock[:]...)
	return append(b, m.Ticket[:]...)
}

// ID is the connection ID: HASH160 of the request without its hop limit.
func (m *TicketRequest) ID() addr.ConnID {
	var buf [TicketRequestSize]byte
	var id addr.ConnID
	copy(id[:], btcutil.Hash160(m.appendFixed(buf[:0])))
	return id
}

// DecodeTicketRequest parses a TicketRequest body (a wire.DecodeFunc):
// exactly TicketRequestSize bytes with no unknown flag.
func DecodeTicketRequest(body []byte) (wire.Message, error) {
	if len(body) != TicketRequestSize {
		return nil, fmt.Errorf("%w: ticket request of %d bytes, want %d", ErrBadMessage, len(body), TicketRequestSize)
	}
	m := &TicketRequest{HopLimit: body[0], Flags: body[1]}
	if m.Flags&^wire.FlagFlood != 0 {
		return nil, fmt.Errorf("%w: ticket request flags %#x", ErrBadMessage, m.Flags)
	}
	b := body[2:]
	b = b[copy(m.Target[:], b):]
	b = b[copy(m.Nonce[:], b):]
	m.Time = binary.BigEndian.Uint64(b)
	m.MaxPrice = binary.BigEndian.Uint64(b[8:])
	b = b[16:]
	b = b[copy(m.Lock[:], b):]
	copy(m.Ticket[:], b)
	return m, nil
}

// TicketAck answers a TicketRequest on one path: the target's nonce n_t,
// the proof that opens the request's lock, and confirm, which shows the
// dialler the target derived the same master'. Relays append themselves
// to Hops as on a wire.ConnectAck.
type TicketAck struct {
	ID      addr.ConnID
	Path    uint32
	Nonce   [16]byte // n_t
	Proof   [32]byte
	Confirm [32]byte
	Hops    []wire.Hop
}

// Type implements wire.Message.
func (*TicketAck) Type() wire.Type { return TypeTicketAck }

// AppendBody implements wire.Message.
func (m *TicketAck) AppendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Path)
	b = append(b, m.Nonce[:]...)
	b = append(b, m.Proof[:]...)
	b = append(b, m.Confirm[:]...)
	b = append(b, byte(len(m.Hops)))
	for _, h := range m.Hops {
		b = append(b, h.Key[:]...)
		b = binary.BigEndian.AppendUint64(b, h.Price)
		b = binary.BigEndian.AppendUint32(b, h.ValidUntil)
		b = append(b, h.Sig[:]...)
	}
	return b
}

// DecodeTicketAck parses a TicketAck body (a wire.DecodeFunc): a hop
// count below wire.MaxHops and exactly that many hops.
func DecodeTicketAck(body []byte) (wire.Message, error) {
	if len(body) < ticketAckMin {
		return nil, fmt.Errorf("%w: ticket ack of %d bytes", ErrBadMessage, len(body))
	}
	n := int(body[ticketAckMin-1])
	if n >= wire.MaxHops || len(body) != ticketAckMin+n*wire.HopSize {
		return nil, fmt.Errorf("%w: ticket ack of %d bytes with %d hops", ErrBadMessage, len(body), n)
	}
	m := &TicketAck{Path: binary.BigEndian.Uint32(body[20:24])}
	copy(m.ID[:], body)
	b := body[24:]
	b = b[copy(m.Nonce[:], b):]
	b = b[copy(m.Proof[:], b):]
	b = b[copy(m.Confirm[:], b):]
	b = b[1:]
	if n > 0 {
		m.Hops = make([]wire.Hop, n)
	}
	for i := range m.Hops {
		h := &m.Hops[i]
		b = b[copy(h.Key[:], b):]
		h.Price = binary.BigEndian.Uint64(b)
		h.ValidUntil = binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		b = b[copy(h.Sig[:], b):]
	}
	return m, nil
}

// TicketRefuse tells the dialler, along the reverse path, that the target
// will not take the ticket of request ID (unknown key, expired, another
// address, too many in use, or no listener): it falls back to a full
// handshake at once. It is not authenticated, and needs not be: anyone
// on the path can drop the request instead, with the same effect (a full
// handshake, a round trip later). A replayed ticket gets no answer.
type TicketRefuse struct {
	ID addr.ConnID
}

// Type implements wire.Message.
func (*TicketRefuse) Type() wire.Type { return TypeTicketRefuse }

// AppendBody implements wire.Message.
func (m *TicketRefuse) AppendBody(b []byte) []byte { return append(b, m.ID[:]...) }

// DecodeTicketRefuse parses a TicketRefuse body: exactly 20 bytes.
func DecodeTicketRefuse(body []byte) (wire.Message, error) {
	if len(body) != ticketRefuseLen {
		return nil, fmt.Errorf("%w: ticket refusal of %d bytes", ErrBadMessage, len(body))
	}
	m := &TicketRefuse{}
	copy(m.ID[:], body)
	return m, nil
}

// TicketProtocol is what the router adds to its peer set
// (peer.Set.Register) to carry ticket dials.
func (r *Router) TicketProtocol() peer.Protocol {
	return peer.Protocol{
		Name: "route/ticket",
		Messages: []peer.MessageType{
			{Type: TypeTicketRequest, Decode: DecodeTicketRequest, Handle: func(l *peer.Link, m wire.Message) {
				if q, ok := m.(*TicketRequest); ok {
					r.handleTicketRequest(l, q)
				}
			}},
			{Type: TypeTicketAck, Decode: DecodeTicketAck, Handle: func(l *peer.Link, m wire.Message) {
				if a, ok := m.(*TicketAck); ok {
					r.handleTicketAck(l, a)
				}
			}},
			{Type: TypeTicketRefuse, Decode: DecodeTicketRefuse, Handle: func(l *peer.Link, m wire.Message) {
				if f, ok := m.(*TicketRefuse); ok {
					r.handleTicketRefuse(l, f)
				}
			}},
		},
	}
}
