package nat

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Control message types: optional (high bit set), so a peer that does not
// know them ignores them.
const (
	// TypeObserved is an Observed report.
	TypeObserved wire.Type = 0xb4
	// TypePunch is a Punch offer or answer.
	TypePunch wire.Type = 0xb5
)

// MaxCandidates bounds the candidate addresses a Punch carries.
const MaxCandidates = 8

// Observed tells a peer the address its link's datagrams arrive from: its
// reflexive (public) address, if it is behind a NAT.
//
//	family 1 (4 or 6) | IP (4 or 16) | port 2
type Observed struct {
	Addr netip.AddrPort
}

// Type implements wire.Message.
func (*Observed) Type() wire.Type { return TypeObserved }

// AppendBody implements wire.Message.
func (m *Observed) AppendBody(b []byte) []byte { return appendAddr(b, m.Addr) }

// DecodeObserved parses an Observed body (a wire.DecodeFunc): one address
// and nothing else.
func DecodeObserved(body []byte) (wire.Message, error) {
	ap, rest, err := readAddr(body)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after an observed address", ErrBadMessage, len(rest))
	}
	return &Observed{Addr: ap}, nil
}

// Punch kinds.
const (
	// KindOffer is the dialler's offer, sent along the connection's
	// circuit toward the target's node.
	KindOffer uint8 = 1
	// KindAnswer is the target node's answer, sent back along it.
	KindAnswer uint8 = 2
)

// Punch asks the node at the other end of a relayed connection to open a
// direct UDP link: both ends then dial each other's candidates at once.
// Relays pass it along the circuit (ID, Path) unchanged.
//
//	kind 1 | connection ID 20 | path 4 | sender's identity key 33 |
//	count 1 (at most MaxCandidates) | count × address (as Observed)
type Punch struct {
	Kind       uint8
	ID         addr.ConnID
	Path       uint32
	Key        [33]byte // the sending node's identity, compressed
	Candidates []netip.AddrPort
}

// Type implements wire.Message.
func (*Punch) Type() wire.Type { return TypePunch }

// AppendBody implements wire.Message.
func (m *Punch) AppendBody(b []byte) []byte {
	b = append(b, m.Kind)
	b = append(b, m.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, m.Path)
	b = append(b, m.Key[:]...)
	cs := m.Candidates[:min(len(m.Candidates), MaxCandidates)]
	b = append(b, byte(len(cs)))
	for _, c := range cs {
		b = appendAddr(b, c)
	}
	return b
}

// PubKey parses the sender's identity key.
func (m *Punch) PubKey() (*btcec.PublicKey, error) { return btcec.ParsePubKey(m.Key[:]) }

// punchFixed is a Punch body's length before its candidates.
const punchFixed = 1 + 20 + 4 + 33 + 1

// DecodePunch parses a Punch body (a wire.DecodeFunc). It checks the
// key's prefix but does not parse the point (PubKey does, on use).
func DecodePunch(body []byte) (wire.Message, error) {
	if len(body) < punchFixed {
		return nil, fmt.Errorf("%w: punch of %d bytes", ErrBadMessage, len(body))
	}
	m := &Punch{Kind: body[0], Path: binary.BigEndian.Uint32(body[21:25])}
	if m.Kind != KindOffer && m.Kind != KindAnswer {
		return nil, fmt.Errorf("%w: punch kind %d", ErrBadMessage, m.Kind)
	}
	copy(m.ID[:], body[1:21])
	copy(m.Key[:], body[25:58])
	if m.Key[0] != 2 && m.Key[0] != 3 {
		return nil, fmt.Errorf("%w: punch key prefix %#x", ErrBadMessage, m.Key[0])
	}
	n := int(body[58])
	if n > MaxCandidates {
		return nil, fmt.Errorf("%w: %d candidates (at most %d)", ErrBadMessage, n, MaxCandidates)
	}
	rest := body[punchFixed:]
	m.Candidates = make([]netip.AddrPort, 0, n)
	for range n {
		ap, r, err := readAddr(rest)
		if err != nil {
			return nil, err
		}
		m.Candidates = append(m.Candidates, ap)
		rest = r
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the candidates", ErrBadMessage, len(rest))
	}
	return m, nil
}

func appendAddr(b []byte, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		b = append(b, 4)
		a := ip.As4()
		b = append(b, a[:]...)
	} else {
		b = append(b, 6)
		a := ip.As16()
		b = append(b, a[:]...)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func readAddr(b []byte) (netip.AddrPort, []byte, error) {
	if len(b) < 1 {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: no address", ErrBadMessage)
	}
	var size int
	switch b[0] {
	case 4:
		size = 4
	case 6:
		size = 16
	default:
		return netip.AddrPort{}, nil, fmt.Errorf("%w: address family %d", ErrBadMessage, b[0])
	}
	if len(b) < 1+size+2 {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: short address", ErrBadMessage)
	}
	ip, _ := netip.AddrFromSlice(b[1 : 1+size])
	if ip.Is4In6() {
		return netip.AddrPort{}, nil, fmt.Errorf("%w: IPv4-mapped address in family 6", ErrBadMessage)
	}
	port := binary.BigEndian.Uint16(b[1+size:])
	return netip.AddrPortFrom(ip, port), b[1+size+2:], nil
}
