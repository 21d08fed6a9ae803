package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

// Hop is a relay on a path: its identity (HASH160) and the price it
// quoted (satoshis per MiB; known to the dialler only).
type Hop struct {
	Node  addr.NodeID
	Price uint64
}

// Meter counts the bytes of a dialler's own connection on a priced path:
// every byte of every record, both directions. Add must never block.
type Meter interface {
	Add(n int64)
}

// PathInfo describes a path: what its creator knows of it.
type PathInfo struct {
	// ID and Num name the path's circuit: the connection ID of the
	// request it answers and the path number the target gave it.
	ID  addr.ConnID
	Num uint32
	// Hops are the relays, dialler side first.
	Hops []Hop
	// Peer is the node at the other end of the path's stream: the first
	// relay, the other end's node on a direct path, or this node for a
	// same-node pipe.
	Peer addr.NodeID
	// Local marks a same-node pipe: nothing can replace it.
	Local bool
	// Direct lets this end offer (dialler) or accept (target) relying on
	// the peer link's encryption on this path (see "Direct paths" in
	// record.go). Only the first path of a connection without relays may.
	Direct bool
	// Meter, if set, counts the path's bytes (see Meter).
	Meter Meter
}

// Path is one path a session runs over: a stream through relays and its
// record keys. A path is used once: its keys are never used for another
// stream, so record nonces never repeat. The creator makes it with
// NewPath and hands it to one session (Start, Adopt or a Finder).
type Path struct {
	info   PathInfo
	stream io.ReadWriteCloser
	dialer bool

	// The loop owns the sealer and the fields below it; the reader owns
	// the opener and direct.
	seal      *sealer
	switchDue byte // a direct or plain record the sender owes
	inflight  int  // batches handed to the writer, not yet written
	lost      bool // the loop has handled its failure
	out       chan *[]byte

	open   *opener
	direct bool // offered or accepted already

	rekeyDue *rekeyOut                // loop: a rekey record to send, then switch the sealer
	rk       atomic.Pointer[RekeyKey] // dialler: the ephemeral of its offer on this path
	openNext *[32]byte                // reader (target): the opener's key after the marker

	failOnce sync.Once
	failed   chan struct{}
}

// NewPath makes a path over stream with the record keys of (master, the
// path number); dialer says which direction this end sends.
func NewPath(stream io.ReadWriteCloser, info PathInfo, master [32]byte, dialer bool) *Path {
	d2t, t2d := pathKeys(master, info.Num)
	p := &Path{info: info, stream: stream, dialer: dialer,
		out: make(chan *[]byte, maxInflight), failed: make(chan struct{})}
	if dialer {
		p.seal, p.open = newSealer(d2t), newOpener(t2d)
	} else {
		p.seal, p.open = newSealer(t2d), newOpener(d2t)
	}
	if dialer && info.Direct {
		p.switchDue = recDirect // the offer follows the hello
	}
	return p
}

// Info returns what the path's creator said of it.
func (p *Path) Info() PathInfo { return p.info }

// SetHops records the path's relays, which the target learns from the
// dialler's first record. Only before the path is given to a session.
func (p *Path) SetHops(hops []Hop) { p.info.Hops = hops }

// AllowDirect sets PathInfo.Direct. Only before the path is given to a
// session.
func (p *Path) AllowDirect(ok bool) { p.info.Direct = ok }

// Close closes the path's stream. Idempotent.
func (p *Path) Close() error {
	p.failOnce.Do(func() {
		close(p.failed)
		p.stream.Close()
	})
	return nil
}

func (p *Path) isFailed() bool {
	select {
	case <-p.failed:
		return true
	default:
		return false
	}
}

// readRecord reads and opens the next record.
func (p *Path) readRecord() (byte, []byte, *[]byte, error) {
	var hdr [recordHeaderSize]byte
	if _, err := io.ReadFull(p.stream, hdr[:]); err != nil {
		return 0, nil, nil, err
	}
	typ, n, err := p.open.header(hdr)
	if err != nil {
		return 0, nil, nil, err
	}
	buf := bufpool.Get(n)
	if _, err := io.ReadFull(p.stream, *buf); err != nil {
		bufpool.Put(buf)
		return 0, nil, nil, err
	}
	plain, err := p.open.open(hdr, *buf)
	if err != nil {
		bufpool.Put(buf)
		return 0, nil, nil, err
	}
	if p.info.Meter != nil {
		p.info.Meter.Add(int64(recordHeaderSize + n))
	}
	return typ, plain, buf, nil
}

// First is a path's first record at the target: a hello (a new
// connection) or a resume (an existing one moving onto this path).
type First struct {
	Hello  []byte  // the hello's body, or nil
	Resume *Resume // or the resume
}

// Resume is a dialler's resume record: it moves the connection ID onto
// the path it arrives on.
type Resume struct {
	ID     addr.ConnID // the connection to resume (its first path's ID)
	Proof  [32]byte    // HMAC-SHA256(master, "foxtrot/resume" || ID || path ID || path number)
	Offset uint64      // what the dialler has received
	Hops   []Hop       // the new path's relays, dialler side first
	Hello  []byte      // the dialler's hello, until it heard from the target; else nil
}

// ReadFirst reads the path's first record (the target's side) within
// timeout: anything but a hello or a resume is ErrProtocol.
func (p *Path) ReadFirst(timeout time.Duration) (First, error) {
	t := time.AfterFunc(timeout, func() { p.Close() })
	typ, b, buf, err := p.readRecord()
	if !t.Stop() {
		return First{}, fmt.Errorf("%w: nothing within %v", ErrProtocol, timeout)
	}
	if err != nil {
		return First{}, err
	}
	defer bufpool.Put(buf)
	switch typ {
	case recHello:
		return First{Hello: append([]byte(nil), b...)}, nil
	case recResume:
		r := &Resume{Offset: binary.BigEndian.Uint64(b[52:60])}
		copy(r.ID[:], b)
		copy(r.Proof[:], b[20:52])
		r.Hops = make([]Hop, b[resumeMin-1])
		for i := range r.Hops {
			copy(r.Hops[i].Node[:], b[resumeMin+20*i:])
		}
		if rest := b[resumeMin+20*len(r.Hops):]; len(rest) > 0 {
			r.Hello = append([]byte(nil), rest...)
		}
		return First{Resume: r}, nil
	}
	return First{}, fmt.Errorf("%w: record type %d first", ErrProtocol, typ)
}

// Check checks the resume's proof against the connection's first secret
// and the path it arrived on.
func (r *Resume) Check(master [32]byte, p *Path) error {
	want := resumeProof(master, r.ID, p.info.ID, p.info.Num)
	if !hmac.Equal(r.Proof[:], want[:]) {
		return fmt.Errorf("%w: resume proof does not match", ErrProtocol)
	}
	return nil
}

// SendResume writes a resume record on the path (a dialler's first
// record on it). A Session does this itself when it moves; this is for
// whatever else speaks the protocol.
func (p *Path) SendResume(r *Resume) error {
	_, err := p.stream.Write(p.seal.seal(nil, recResume, resumeBody(r), nil))
	return err
}

func resumeBody(r *Resume) []byte {
	body := make([]byte, 0, resumeMin+20*len(r.Hops)+len(r.Hello))
	body = append(body, r.ID[:]...)
	body = append(body, r.Proof[:]...)
	body = binary.BigEndian.AppendUint64(body, r.Offset)
	body = append(body, byte(len(r.Hops)))
	for _, h := range r.Hops {
		body = append(body, h.Node[:]...)
	}
	return append(body, r.Hello...)
}

// resumeProof binds a resume to the session's secret and the new path.
func resumeProof(master [32]byte, id, pathID addr.ConnID, num uint32) [32]byte {
	m := hmac.New(sha256.New, master[:])
	m.Write([]byte("foxtrot/resume"))
	m.Write(id[:])
	m.Write(pathID[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], num)
	m.Write(n[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// onDirect handles the other end's direct record: the dialler's offer at
// the target, the target's acceptance at the dialler. Each names the
// sender's node and the node its stream goes to first; on a direct path
// they are exactly our stream's peer and this node. It returns the
// record this end must send in turn (direct, plain, or 0 for none). The
// reader owns the opener.
func (p *Path) onDirect(b []byte, self addr.NodeID, c *Counters) (byte, error) {
	var from, to addr.NodeID
	copy(from[:], b[:20])
	copy(to[:], b[20:])
	match := from == p.info.Peer && to == self
	if p.dialer {
		if !p.info.Direct || p.direct || !match {
			return 0, fmt.Errorf("%w: direct answer from %s to %s on a path to %s", ErrProtocol,
				from.String(), to.String(), p.info.Peer.String())
		}
		p.direct = true
		p.open.plain()
		c.DirectPaths.Add(1)
		return recPlain, nil
	}
	// The target accepts an offer once, on the path its hello came over,
	// when it names what it sees; otherwise the path simply stays sealed.
	if !p.info.Direct || p.direct || !match {
		return 0, nil
	}
	p.direct = true
	return recDirect, nil
}

// onPlain handles the dialler's plain record at the target.
func (p *Path) onPlain(c *Counters) error {
	if p.dialer || !p.direct || p.open.aead == nil {
		return fmt.Errorf("%w: unexpected plain record", ErrProtocol)
	}
	p.open.plain()
	c.DirectPaths.Add(1)
	return nil
}

// readLoop reads records from p and hands them to the session's loop
// until the stream fails or the session is over. Direct and plain
// records it handles itself: the opener must switch before the next
// record is read.
func (s *Session) readLoop(p *Path) {
	defer s.wg.Done()
	for {
		typ, body, buf, err := p.readRecord()
		if err == nil {
			switch typ {
			case recRekey:
				err = s.onRekey(p, body)
				bufpool.Put(buf)
				if err == nil {
					continue
				}
			case recDirect, recPlain:
				var sw byte
				if typ == recDirect {
					sw, err = p.onDirect(body, s.cfg.Self, s.cfg.Stats)
				} else {
					err = p.onPlain(s.cfg.Stats)
				}
				bufpool.Put(buf)
				if err == nil {
					if !s.post(event{p: p, typ: evSwitch, sw: sw}) {
						return
					}
					continue
				}
			default:
				if !s.post(event{p: p, typ: evRecord, rec: typ, body: body, buf: buf}) {
					bufpool.Put(buf)
					return
				}
				continue
			}
		}
		s.post(event{p: p, typ: evPathError, err: err})
		return
	}
}

// writeLoop writes the sealed batches the loop hands it.
func (s *Session) writeLoop(p *Path) {
	defer s.wg.Done()
	for {
		select {
		case b := <-p.out:
			_, err := p.stream.Write(*b)
			if err == nil && p.info.Meter != nil {
				p.info.Meter.Add(int64(len(*b)))
			}
			bufpool.Put(b)
			if !s.post(event{p: p, typ: evWritten, err: err}) || err != nil {
				return
			}
		case <-p.failed:
			return
		}
	}
}
