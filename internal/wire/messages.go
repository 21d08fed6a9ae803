package wire

import (
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Ping asks the peer to answer with a Pong carrying the same Nonce; the
// round trip is the link's RTT sample.
type Ping struct{ Nonce uint64 }

// Pong answers a Ping.
type Pong struct{ Nonce uint64 }

func (*Ping) Type() Type                   { return TypePing }
func (m *Ping) AppendBody(b []byte) []byte { return appendU64(b, m.Nonce) }
func (m *Ping) decodeBody(d decoder)       { m.Nonce = d.U64() }
func (*Pong) Type() Type                   { return TypePong }
func (m *Pong) AppendBody(b []byte) []byte { return appendU64(b, m.Nonce) }
func (m *Pong) decodeBody(d decoder)       { m.Nonce = d.U64() }

// Target kinds of a ConnectRequest. The kind tells the target how to
// recognise a request as its own; relays route every kind alike, by
// Target. Kinds other than TargetAddr belong to the target kinds that
// plug into route (a stealth target, whose key is a one-time key the
// listener finds by scanning, is next).
const (
	// TargetAddr: Target is HASH160 of the listener's public key.
	TargetAddr uint8 = 0
)

// Request flags.
const (
	// FlagFlood asks every node to flood the request to all its peers
	// instead of the best next hops its route table knows: the dialler's
	// fallback when a directed request got no answer in time.
	FlagFlood  uint8 = 1 << 0
	knownFlags       = FlagFlood
)

// ConnectRequest asks the network for a path to Target. It names no
// dialer: only an ephemeral key, which signs it. Relays decrement HopLimit
// as they forward; everything else is fixed by the dialer, and the
// connection ID commits to it.
type ConnectRequest struct {
	HopLimit  uint8
	Kind      uint8    // TargetAddr, or a kind a target plugs in
	Flags     uint8    // FlagFlood
	Target    [20]byte // HASH160 of the target public key (addr.Addr.Hash160)
	Ephemeral [33]byte // the dialer's ephemeral public key (compressed)
	Nonce     [16]byte
	Time      uint64   // Unix milliseconds when the dialer made it
	MaxPrice  uint64   // most the dialer pays for the whole path, per MiB
	Sig       [64]byte // BIP-340 signature by Ephemeral over SigHash()
}

// ConnectRequestSize is the encoded body size of a ConnectRequest.
const ConnectRequestSize = 1 + 1 + 1 + 20 + 33 + 16 + 8 + 8 + 64

func (*ConnectRequest) Type() Type { return TypeConnectRequest }

func (m *ConnectRequest) AppendBody(b []byte) []byte {
	b = append(b, m.HopLimit)
	return m.appendFixed(b)
}

// appendFixed appends everything but the hop limit.
func (m *ConnectRequest) appendFixed(b []byte) []byte {
	b = m.appendSigned(b)
	return append(b, m.Sig[:]...)
}

// appendSigned appends the fields the signature covers.
func (m *ConnectRequest) appendSigned(b []byte) []byte {
	b = append(b, m.Kind, m.Flags)
	b = append(b, m.Target[:]...)
	b = append(b, m.Ephemeral[:]...)
	b = append(b, m.Nonce[:]...)
	b = appendU64(b, m.Time)
	return appendU64(b, m.MaxPrice)
}

func (m *ConnectRequest) decodeBody(d decoder) {
	m.HopLimit = d.U8()
	m.Kind = d.U8()
	m.Flags = d.U8()
	d.Copy(m.Target[:])
	d.Copy(m.Ephemeral[:])
	d.Copy(m.Nonce[:])
	m.Time = d.U64()
	m.MaxPrice = d.U64()
	d.Copy(m.Sig[:])
	if d.Err() == nil && m.Flags&^knownFlags != 0 {
		d.Fail("unknown flags %#x", m.Flags)
	}
}

// ID is the connection ID: HASH160 of the request without its hop limit.
// Every relay computes the same ID however many hops the request made.
func (m *ConnectRequest) ID() addr.ConnID {
	var buf [ConnectRequestSize]byte
	var id addr.ConnID
	copy(id[:], btcutil.Hash160(m.appendFixed(buf[:0])))
	return id
}

// SigHash is what the ephemeral key signs: a tagged SHA-256 of every field
// but the hop limit and the signature.
func (m *ConnectRequest) SigHash() [32]byte {
	var buf [64 + ConnectRequestSize]byte
	b := append(buf[:0], "foxtrot/connect-request"...)
	return sha256.Sum256(m.appendSigned(b))
}

// Hop is what one relay adds to an ack on its way back: who it is and
// what it charges. A relay that charges signs its quote (see QuoteHash);
// a free hop (Price 0) may leave Sig zero.
type Hop struct {
	Key        [33]byte // the relay's identity key
	Price      uint64   // satoshis per MiB it charges for the circuit
	ValidUntil uint32   // Unix time (seconds) after which the quote lapses
	Sig        [64]byte // BIP-340 by Key over QuoteHash
}

// HopSize is the encoded size of a Hop.
const HopSize = 33 + 8 + 4 + 64

// Node returns HASH160 of the relay's key.
func (h Hop) Node() addr.NodeID {
	var n addr.NodeID
	copy(n[:], btcutil.Hash160(h.Key[:]))
	return n
}

// QuoteHash is what a relay signs to quote its price for one path of one
// connection.
func QuoteHash(id addr.ConnID, path uint32, key [33]byte, price uint64, validUntil uint32) [32]byte {
	b := append([]byte("foxtrot/quote"), id[:]...)
	b = appendU32(b, path)
	b = append(b, key[:]...)
	b = appendU64(b, price)
	return sha256.Sum256(appendU32(b, validUntil))
}

// MaxHops bounds the hop list of an ack (and so any path).
const MaxHops = 32

// ConnectAck answers a ConnectRequest. The target signs the connection ID,
// both ephemeral keys, its own key and the path number, so no relay can
// swap the key material. Relays append themselves to Hops as it travels
// back, target side first.
type ConnectAck struct {
	ID        addr.ConnID
	Path      uint32 // chosen by the target, distinct per ack of one ID
	TargetKey [33]byte
	Ephemeral [33]byte
	Sig       [64]byte // BIP-340 by TargetKey over AckSigHash
	Hops      []Hop
}

func (*ConnectAck) Type() Type { return TypeConnectAck }

func (m *ConnectAck) AppendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = appendU32(b, m.Path)
	b = append(b, m.TargetKey[:]...)
	b = append(b, m.Ephemeral[:]...)
	b = append(b, m.Sig[:]...)
	b = append(b, byte(len(m.Hops)))
	for _, h := range m.Hops {
		b = append(b, h.Key[:]...)
		b = appendU64(b, h.Price)
		b = appendU32(b, h.ValidUntil)
		b = append(b, h.Sig[:]...)
	}
	return b
}

func (m *ConnectAck) decodeBody(d decoder) {
	d.Copy(m.ID[:])
	m.Path = d.U32()
	d.Copy(m.TargetKey[:])
	d.Copy(m.Ephemeral[:])
	d.Copy(m.Sig[:])
	n := d.count(MaxHops)
	if n > 0 {
		m.Hops = make([]Hop, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		d.Copy(m.Hops[i].Key[:])
		m.Hops[i].Price = d.U64()
		m.Hops[i].ValidUntil = d.U32()
		d.Copy(m.Hops[i].Sig[:])
	}
}

// AckSigHash is what a target signs in a ConnectAck: the connection ID,
// the dialer's ephemeral key (from the request), its own key, its
// ephemeral key and the path number.
func AckSigHash(id addr.ConnID, dialerEphemeral, targetKey, targetEphemeral [33]byte, path uint32) [32]byte {
	h := sha256.New()
	h.Write([]byte("foxtrot/connect-ack"))
	h.Write(id[:])
	h.Write(dialerEphemeral[:])
	h.Write(targetKey[:])
	h.Write(targetEphemeral[:])
	h.Write(appendU32(nil, path))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Refusal reasons.
const (
	RefuseNoListener uint8 = 1 // the key is no longer listened on
	RefuseBusy       uint8 = 2 // the listener's accept queue is full
)

// ConnectRefuse tells a dialer, along the reverse path, that the target was
// reached but will not accept. It is signed by the target, so a relay
// cannot forge one.
type ConnectRefuse struct {
	ID        addr.ConnID
	TargetKey [33]byte
	Reason    uint8
	Sig       [64]byte // BIP-340 by TargetKey over RefuseSigHash
}

func (*ConnectRefuse) Type() Type { return TypeConnectRefuse }

func (m *ConnectRefuse) AppendBody(b []byte) []byte {
	b = append(b, m.ID[:]...)
	b = append(b, m.TargetKey[:]...)
	b = append(b, m.Reason)
	return append(b, m.Sig[:]...)
}

func (m *ConnectRefuse) decodeBody(d decoder) {
	d.Copy(m.ID[:])
	d.Copy(m.TargetKey[:])
	m.Reason = d.U8()
	d.Copy(m.Sig[:])
}

// RefuseSigHash is what a target signs in a ConnectRefuse.
func RefuseSigHash(id addr.ConnID, targetKey [33]byte, reason uint8) [32]byte {
	b := append([]byte("foxtrot/connect-refuse"), id[:]...)
	b = append(b, targetKey[:]...)
	return sha256.Sum256(append(b, reason))
}

// ChannelMessage carries one payment-channel message (package channel's
// own encoding, versioned there) between neighbours.
type ChannelMessage struct {
	Payload []byte
}

// MaxChannelPayload bounds a ChannelMessage's payload.
const MaxChannelPayload = MaxMessageSize - 16

func (*ChannelMessage) Type() Type { return TypeChannel }

func (m *ChannelMessage) AppendBody(b []byte) []byte {
	b = appendU32(b, uint32(len(m.Payload)))
	return append(b, m.Payload...)
}

func (m *ChannelMessage) decodeBody(d decoder) {
	n := int(d.U32())
	if d.Err() == nil && n > MaxChannelPayload {
		d.Fail("channel payload of %d bytes", n)
		return
	}
	m.Payload = append([]byte(nil), d.Take(n)...)
}

// PaymentRequest asks a neighbour to pay for the bytes relayed for it:
// Owed is what the asker has metered, in satoshis, not yet paid.
type PaymentRequest struct {
	Owed uint64
}

func (*PaymentRequest) Type() Type                   { return TypePaymentRequest }
func (m *PaymentRequest) AppendBody(b []byte) []byte { return appendU64(b, m.Owed) }
func (m *PaymentRequest) decodeBody(d decoder)       { m.Owed = d.U64() }
