package dht

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/internal/codec"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Control message types: optional (high bit), so a peer without the DHT
// ignores them. Beside route's 0x93 and 0xa0.
const (
	TypeRequest  wire.Type = 0xd0
	TypeResponse wire.Type = 0xd1
)

// Op is an RPC.
type Op uint8

// The RPCs.
const (
	OpPing     Op = 1 // are you there
	OpFindNode Op = 2 // the K contacts you know closest to a target
	OpGet      Op = 3 // the records under a target, or closer contacts
	OpPut      Op = 4 // store a record (with the token a Get gave)
)

func (o Op) valid() bool { return o >= OpPing && o <= OpPut }

func (o Op) String() string {
	switch o {
	case OpPing:
		return "ping"
	case OpFindNode:
		return "find_node"
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	}
	return "op?"
}

// Message bounds.
const (
	MaxAddrs     = 8   // multiaddrs per contact
	MaxAddrLen   = 256 // bytes per multiaddr
	MaxToken     = 32  // bytes of a write token
	MaxRecords   = 8   // records per response (MaxKeysPerTarget's ceiling)
	TokenSize    = 16  // bytes of the tokens this node issues
	keySize      = 33  // a compressed public key
	statusOK     = 0
	statusRefuse = 1
)

// Request is an RPC request. From is the sender's contact (its key must be
// the link's), so the receiver can add it to its table.
type Request struct {
	ID     uint64
	Op     Op
	From   Contact
	Target ID // FindNode and Get
	Token  []byte
	CAS    *uint64 // Put
	Record *Record // Put
}

// Type returns TypeRequest.
func (*Request) Type() wire.Type { return TypeRequest }

// AppendBody appends the request's body (SPEC.md, "Request").
func (m *Request) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, m.ID)
	b = append(b, byte(m.Op))
	b = appendContact(b, &m.From)
	switch m.Op {
	case OpFindNode, OpGet:
		b = append(b, m.Target[:]...)
	case OpPut:
		b = append(b, byte(len(m.Token)))
		b = append(b, m.Token...)
		if m.CAS != nil {
			b = append(b, 1)
			b = binary.BigEndian.AppendUint64(b, *m.CAS)
		} else {
			b = append(b, 0)
		}
		b = m.Record.Append(b)
	}
	return b
}

// DecodeRequest parses a request body (a wire.DecodeFunc), strictly.
func DecodeRequest(body []byte) (wire.Message, error) {
	d := codec.NewReader(body, ErrMalformed)
	m := &Request{ID: d.U64(), Op: Op(d.U8())}
	if d.Err() == nil && !m.Op.valid() {
		d.Fail("request: op %d", m.Op)
	}
	m.From = decodeContact(d)
	switch m.Op {
	case OpFindNode, OpGet:
		d.Copy(m.Target[:])
	case OpPut:
		m.Token = decodeToken(d)
		switch d.U8() {
		case 0:
		case 1:
			cas := d.U64()
			m.CAS = &cas
		default:
			d.Fail("request: cas flag")
		}
		m.Record = decodeRecord(d)
	}
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("request: %d trailing bytes", d.Len())
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Response answers the Request of the same ID, from the responder's
// contact. Refused is set when the
// receiver would not serve it (a Put with a bad token, a record it did not
// store). Token is a write token for Get's target; Nodes are contacts
// closer to the target (FindNode, Get); Records are what Get found.
type Response struct {
	ID      uint64
	Op      Op
	Refused bool
	From    Contact // the responder (its key must be the link's)
	Token   []byte
	Nodes   []Contact
	Records []*Record
}

// Type returns TypeResponse.
func (*Response) Type() wire.Type { return TypeResponse }

// AppendBody appends the response's body (SPEC.md, "Response").
func (m *Response) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, m.ID)
	b = append(b, byte(m.Op))
	if m.Refused {
		b = append(b, statusRefuse)
	} else {
		b = append(b, statusOK)
	}
	b = appendContact(b, &m.From)
	b = append(b, byte(len(m.Token)))
	b = append(b, m.Token...)
	b = append(b, byte(len(m.Nodes)))
	for i := range m.Nodes {
		b = appendContact(b, &m.Nodes[i])
	}
	b = append(b, byte(len(m.Records)))
	for _, r := range m.Records {
		b = r.Append(b)
	}
	return b
}

// DecodeResponse parses a response body (a wire.DecodeFunc), strictly.
func DecodeResponse(body []byte) (wire.Message, error) {
	d := codec.NewReader(body, ErrMalformed)
	m := &Response{ID: d.U64(), Op: Op(d.U8())}
	if d.Err() == nil && !m.Op.valid() {
		d.Fail("response: op %d", m.Op)
	}
	switch d.U8() {
	case statusOK:
	case statusRefuse:
		m.Refused = true
	default:
		d.Fail("response: status")
	}
	m.From = decodeContact(d)
	m.Token = decodeToken(d)
	n := int(d.U8())
	if n > K {
		d.Fail("response: %d nodes", n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Nodes = append(m.Nodes, decodeContact(d))
	}
	n = int(d.U8())
	if n > MaxRecords {
		d.Fail("response: %d records", n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		m.Records = append(m.Records, decodeRecord(d))
	}
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("response: %d trailing bytes", d.Len())
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeToken(d *codec.Reader) []byte {
	n := int(d.U8())
	if n > MaxToken {
		d.Fail("token of %d bytes", n)
		return nil
	}
	if n == 0 {
		return nil
	}
	return bytes.Clone(d.Take(n))
}

// appendContact appends key (33) | count (1) | each: length (2) | multiaddr.
func appendContact(b []byte, c *Contact) []byte {
	b = append(b, c.keyBytes()...)
	b = append(b, byte(len(c.Addrs)))
	for _, a := range c.Addrs {
		ab := a.Bytes()
		b = binary.BigEndian.AppendUint16(b, uint16(len(ab)))
		b = append(b, ab...)
	}
	return b
}

// decodeContact reads a contact without parsing its key (Contact.PubKey
// does that when the contact is used): the prefix byte is checked, the ID
// is the SHA-256 of the bytes.
func decodeContact(d *codec.Reader) Contact {
	var c Contact
	kb := d.Take(keySize)
	if d.Err() != nil {
		return c
	}
	if kb[0] != 2 && kb[0] != 3 {
		d.Fail("contact: key")
		return c
	}
	copy(c.raw[:], kb)
	c.ID = ID(sha256.Sum256(kb))
	n := int(d.U8())
	if n > MaxAddrs {
		d.Fail("contact: %d addrs", n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		l := int(d.U16())
		if l > MaxAddrLen {
			d.Fail("contact: addr of %d bytes", l)
			break
		}
		ab := d.Take(l)
		if d.Err() != nil {
			break
		}
		a, err := ma.NewMultiaddrBytes(bytes.Clone(ab))
		if err != nil || !bytes.Equal(a.Bytes(), ab) {
			d.Fail("contact: multiaddr")
			break
		}
		c.Addrs = append(c.Addrs, a)
	}
	return c
}
