package channel

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
)

// snapshotMagic starts every snapshot; its last byte is the format version.
var snapshotMagic = []byte{'F', 'X', 'C', 1}

// Snapshot limits (a snapshot is our own data, but a corrupt or hostile
// file must not make Resume panic or allocate without bound).
const (
	maxFundTx = 1 << 20
	maxHist   = 1 << 22
)

// MarshalBinary encodes the channel's whole state except its private key
// and its funding input signers: the snapshot a Store keeps.
func (c *Channel) MarshalBinary() ([]byte, error) {
	w := &writer{b: make([]byte, 0, 1024)}
	w.raw(snapshotMagic)
	w.u8(uint8(c.role))
	w.u8(uint8(c.phase))
	w.raw(c.id[:])
	writeParams(w, c.t.p)
	for r := range 2 {
		w.bool(c.t.keys[r] != nil)
		if c.t.keys[r] != nil {
			w.key(c.t.keys[r])
		}
		w.bytes(c.t.payout[r])
		w.amount(c.f[r].amount)
		if err := writeFunds(w, c.f[r].inputs, c.f[r].change); err != nil {
			return nil, err
		}
	}
	w.bool(c.fundTx != nil)
	if c.fundTx != nil {
		var buf bytes.Buffer
		if err := c.fundTx.Serialize(&buf); err != nil {
			return nil, err
		}
		w.u32(uint32(buf.Len()))
		w.raw(buf.Bytes())
	}
	writeState(w, &c.cur)
	w.u32(c.signedMax)
	w.u32(c.peerMax)
	w.bytes(c.curSig[0])
	w.bytes(c.curSig[1])
	w.bool(c.pend != nil)
	if c.pend != nil {
		writeState(w, &c.pend.st)
		if err := writeOps(w, c.pend.ops); err != nil {
			return nil, err
		}
		w.bytes(c.pend.sig)
	}
	w.bool(c.cls != nil)
	if c.cls != nil {
		w.u64(uint64(c.cls.rate))
		w.bytes(c.cls.sig[0])
		w.bytes(c.cls.sig[1])
	}
	w.u32(uint32(len(c.hist)))
	for _, h := range c.hist {
		writeHTLC(w, h)
	}
	w.u32(uint32(len(c.preimages)))
	for _, p := range c.preimages {
		w.raw(p.hash[:])
		w.raw(p.pre[:])
	}
	return w.b, nil
}

func writeHTLC(w *writer, h htlc) {
	w.u64(h.ID)
	w.u8(uint8(h.Offerer))
	w.amount(h.Amount)
	w.raw(h.Hash[:])
	w.u32(h.Expiry)
}

func readHTLC(r *reader) htlc {
	h := htlc{ID: r.U64()}
	switch o := r.U8(); o {
	case 0, 1:
		h.Offerer = Role(o)
	default:
		r.Fail("bad role")
	}
	h.Amount = r.amount()
	h.Hash = r.fixed32()
	h.Expiry = r.U32()
	return h
}

func writeState(w *writer, s *state) {
	w.u32(s.Version)
	w.amount(s.Balance[0])
	w.amount(s.Balance[1])
	w.bool(s.AcceptorOut)
	w.u8(uint8(len(s.Slots)))
	for _, sl := range s.Slots {
		w.bool(sl.live)
		if sl.live {
			writeHTLC(w, sl.h)
		}
	}
	w.u64(s.NextHTLC)
}

func readState(r *reader) state {
	s := state{Version: r.U32()}
	s.Balance[0] = r.amount()
	s.Balance[1] = r.amount()
	s.AcceptorOut = r.bool()
	n := r.count(MaxHTLCLimit)
	for i := 0; i < n && r.Err() == nil; i++ {
		var sl slot
		if sl.live = r.bool(); sl.live {
			sl.h = readHTLC(r)
		}
		s.Slots = append(s.Slots, sl)
	}
	s.NextHTLC = r.U64()
	return s
}

// Resume restores a channel from a snapshot made by MarshalBinary, with
// its private key (which must be the one the snapshot names). Funding input
// signers are not restored: a channel interrupted before the refund was
// countersigned cannot finish opening (it lost nothing; open a new one).
func Resume(cfg Config, key *btcec.PrivateKey, snapshot []byte) (*Channel, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("%w: key is required", ErrConfig)
	}
	c, err := decodeSnapshot(snapshot)
	if err != nil {
		return nil, err
	}
	if !c.t.keys[c.role].IsEqual(key.PubKey()) {
		return nil, fmt.Errorf("%w: key does not match the snapshot", ErrConfig)
	}
	c.cfg, c.key = cfg, key
	return c, nil
}

// Load resumes channel id from the Store in cfg.
func Load(cfg Config, key *btcec.PrivateKey, id ID) (*Channel, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: no Store", ErrConfig)
	}
	b, err := cfg.Store.Load(id)
	if err != nil {
		return nil, err
	}
	c, err := Resume(cfg, key, b)
	if err != nil {
		return nil, err
	}
	if c.id != id {
		return nil, fmt.Errorf("%w: snapshot of %v stored as %v", ErrCorrupt, c.id, id)
	}
	return c, nil
}

// decodeSnapshot parses a snapshot without key or config; it never panics.
func decodeSnapshot(b []byte) (*Channel, error) {
	if !bytes.HasPrefix(b, snapshotMagic) {
		return nil, fmt.Errorf("%w: not a channel snapshot", ErrMalformed)
	}
	r := newReader(b[len(snapshotMagic):])
	c := &Channel{}
	switch role := r.U8(); role {
	case 0, 1:
		c.role = Role(role)
	default:
		r.Fail("bad role")
	}
	c.phase = Phase(r.U8())
	if c.phase < PhaseOpening || c.phase > PhaseClosed {
		r.Fail("bad phase")
	}
	c.id = r.fixed32()
	c.t.p = readParams(r)
	for i := range 2 {
		if r.bool() {
			c.t.keys[i] = r.key()
		}
		c.t.payout[i] = r.bytes(maxScriptLen)
		c.f[i].amount = r.amount()
		c.f[i].inputs, c.f[i].change = readFunds(r)
	}
	if r.bool() {
		n := r.U32()
		if n > maxFundTx {
			r.Fail("funding tx of %d bytes", n)
		}
		raw := r.Take(int(n))
		if r.Err() == nil {
			c.fundTx = new(wire.MsgTx)
			if err := c.fundTx.Deserialize(bytes.NewReader(raw)); err != nil {
				r.Fail("funding tx: %v", err)
			}
		}
	}
	c.cur = readState(r)
	c.signedMax = r.U32()
	c.peerMax = r.U32()
	c.curSig[0] = nilIfEmpty(r.bytes(maxSigLenWire))
	c.curSig[1] = nilIfEmpty(r.bytes(maxSigLenWire))
	if r.bool() {
		p := &pending{st: readState(r)}
		p.ops = readOps(r)
		p.sig = r.bytes(maxSigLenWire)
		c.pend = p
	}
	if r.bool() {
		c.cls = &closing{rate: readRate(r)}
		c.cls.sig[0] = nilIfEmpty(r.bytes(maxSigLenWire))
		c.cls.sig[1] = nilIfEmpty(r.bytes(maxSigLenWire))
	}
	nh := r.U32()
	if int64(nh)*53 > int64(r.Len()) || nh > maxHist {
		r.Fail("history of %d", nh)
		nh = 0
	}
	for i := uint32(0); i < nh && r.Err() == nil; i++ {
		c.hist = append(c.hist, readHTLC(r))
	}
	np := r.U32()
	if int64(np)*64 > int64(r.Len()) {
		r.Fail("preimages of %d", np)
		np = 0
	}
	for i := uint32(0); i < np && r.Err() == nil; i++ {
		c.preimages = append(c.preimages, preimage{hash: r.fixed32(), pre: r.fixed32()})
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if err := c.rebuild(); err != nil {
		return nil, err
	}
	return c, nil
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// rebuild recomputes the derived terms and checks the snapshot's
// consistency.
func (c *Channel) rebuild() error {
	if c.t.keys[c.role] == nil {
		return fmt.Errorf("%w: snapshot without our key", ErrMalformed)
	}
	if err := c.t.p.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.phase == PhaseOpening {
		return nil
	}
	if c.t.keys[c.role.other()] == nil || c.fundTx == nil {
		return fmt.Errorf("%w: snapshot without funding", ErrMalformed)
	}
	ws := fundingScript(c.t.keys[0], c.t.keys[1])
	tx, idx, err := buildFunding(c.f, p2wsh(ws))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if tx.TxHash() != c.fundTx.TxHash() {
		return fmt.Errorf("%w: funding transaction does not match its inputs", ErrMalformed)
	}
	c.t.fundWS, c.t.fundPk = ws, p2wsh(ws)
	c.t.fundOut = wire.OutPoint{Hash: tx.TxHash(), Index: idx}
	c.t.fundVal = c.f[0].amount + c.f[1].amount
	c.t.computeReserve()
	if err := c.t.check(&c.cur); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.pend != nil {
		if err := c.t.check(&c.pend.st); err != nil || c.pend.st.Version <= c.cur.Version || c.pend.st.Version != c.signedMax {
			return fmt.Errorf("%w: pending state inconsistent", ErrMalformed)
		}
	}
	return nil
}
