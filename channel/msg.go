package channel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// MsgVersion is the version byte every message starts with. A decoder
// refuses other versions with ErrMsgVersion.
const MsgVersion = 1

// MsgType is the second byte of every message.
type MsgType uint8

// Message types.
const (
	TypeOpen        MsgType = 1
	TypeAccept      MsgType = 2
	TypeFundingSigs MsgType = 3
	TypeUpdate      MsgType = 4
	TypeAck         MsgType = 5
	TypeClose       MsgType = 6
	TypeReject      MsgType = 7
)

// Decoder limits.
const (
	maxScriptLen   = 100  // payout, change and funding input pkScripts
	maxInputs      = 64   // funding inputs per side
	maxWitnessLen  = 32   // items in one input's witness
	maxWitnessItem = 4000 // bytes in one witness item
	maxSigLenWire  = 73   // a DER signature without sighash byte
)

// ID names a channel: the SHA-256 of its Open message. The opener's random
// nonce makes it unique.
type ID [32]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// A Message is one of the messages two sides of a channel exchange. The
// routing layer carries them as opaque bytes; Decode turns bytes back into
// a Message, for example to find the channel a message is for.
type Message interface {
	// ChannelID is the channel the message belongs to.
	ChannelID() ID
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// MsgOpen proposes a channel. Sent by the opener.
type MsgOpen struct {
	Nonce  [32]byte
	Params Params
	Key    *btcec.PublicKey // the opener's funding key
	Payout []byte           // the opener's payout pkScript
	Amount btcutil.Amount   // the opener's contribution
	Inputs []FundingInput   // the opener's funding inputs (Signer unused)
	Change *wire.TxOut      // the opener's change, or nil
}

// MsgAccept accepts a channel and countersigns the refund (version 0)
// before anyone signs the funding transaction. Sent by the acceptor.
type MsgAccept struct {
	Channel   ID
	Key       *btcec.PublicKey
	Payout    []byte
	Amount    btcutil.Amount
	Inputs    []FundingInput
	Change    *wire.TxOut
	RefundSig []byte // DER, SIGHASH_ALL implied
}

// InputWitness is the witness of one funding input.
type InputWitness struct {
	OutPoint wire.OutPoint
	Witness  wire.TxWitness
}

// MsgFundingSigs carries one side's witnesses for its funding inputs. The
// opener's also carries its refund signature, so the acceptor holds the
// complete refund before it signs its own inputs.
type MsgFundingSigs struct {
	Channel   ID
	RefundSig []byte // opener only; empty from the acceptor
	Witnesses []InputWitness
}

// MsgUpdate proposes the next state: the ops applied to the newest state,
// and the proposer's signature on the resulting transaction.
type MsgUpdate struct {
	Channel ID
	Version uint32
	Ops     []Op
	Sig     []byte
}

// MsgAck countersigns the state of MsgUpdate with the same version.
type MsgAck struct {
	Channel ID
	Version uint32
	Sig     []byte
}

// MsgClose proposes (or countersigns) a cooperative close of the newest
// state at FeeRate.
type MsgClose struct {
	Channel ID
	FeeRate FeeRate
	Sig     []byte
}

// MsgReject refuses a proposal: an update of Version, or a close
// (Version CloseVersion). Code names the reason (see Reason).
type MsgReject struct {
	Channel ID
	Version uint32
	Code    uint16
}

// CloseVersion is the Version of a MsgReject that refuses a close.
const CloseVersion = ^uint32(0)

// Reason returns the sentinel error that Code stands for.
func (m *MsgReject) Reason() error { return rejectReason(m.Code) }

func (m *MsgOpen) ChannelID() ID {
	b, err := m.MarshalBinary()
	if err != nil {
		return ID{}
	}
	return sha256.Sum256(b)
}
func (m *MsgAccept) ChannelID() ID      { return m.Channel }
func (m *MsgFundingSigs) ChannelID() ID { return m.Channel }
func (m *MsgUpdate) ChannelID() ID      { return m.Channel }
func (m *MsgAck) ChannelID() ID         { return m.Channel }
func (m *MsgClose) ChannelID() ID       { return m.Channel }
func (m *MsgReject) ChannelID() ID      { return m.Channel }

func header(t MsgType) *writer {
	w := &writer{b: make([]byte, 0, 128)}
	w.u8(MsgVersion)
	w.u8(uint8(t))
	return w
}

func readHeader(b []byte, t MsgType) (*reader, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: short message", ErrMalformed)
	}
	if b[0] != MsgVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMsgVersion, b[0])
	}
	if MsgType(b[1]) != t {
		return nil, fmt.Errorf("%w: type %d, want %d", ErrMalformed, b[1], t)
	}
	return newReader(b[2:]), nil
}

func writeParams(w *writer, p Params) {
	w.u32(p.OpenHeight)
	w.u32(p.Lifetime)
	w.u32(p.LockStep)
	w.u64(uint64(p.FeeRate))
	w.u64(uint64(p.FeeRateStep))
	w.amount(p.DustLimit)
	w.u16(p.MaxHTLCs)
	w.u32(p.HTLCMargin)
}

func readParams(r *reader) Params {
	p := Params{
		OpenHeight:  r.U32(),
		Lifetime:    r.U32(),
		LockStep:    r.U32(),
		FeeRate:     readRate(r),
		FeeRateStep: readRate(r),
		DustLimit:   r.amount(),
		MaxHTLCs:    r.U16(),
		HTLCMargin:  r.U32(),
	}
	return p
}

func readRate(r *reader) FeeRate {
	v := r.U64()
	if v > 1<<40 {
		r.Fail("fee rate %d out of range", v)
		return 0
	}
	return FeeRate(v)
}

func writeFunds(w *writer, ins []FundingInput, change *wire.TxOut) error {
	if len(ins) > maxInputs {
		return fmt.Errorf("%w: %d inputs", ErrMalformed, len(ins))
	}
	w.u8(uint8(len(ins)))
	for _, in := range ins {
		if len(in.PrevOut.PkScript) > maxScriptLen {
			return fmt.Errorf("%w: input script too long", ErrMalformed)
		}
		w.outpoint(in.OutPoint)
		w.amount(btcutil.Amount(in.PrevOut.Value))
		w.bytes(in.PrevOut.PkScript)
	}
	w.bool(change != nil)
	if change != nil {
		if len(change.PkScript) > maxScriptLen {
			return fmt.Errorf("%w: change script too long", ErrMalformed)
		}
		w.amount(btcutil.Amount(change.Value))
		w.bytes(change.PkScript)
	}
	return nil
}

func readFunds(r *reader) ([]FundingInput, *wire.TxOut) {
	n := r.count(maxInputs)
	var ins []FundingInput
	for i := 0; i < n && r.Err() == nil; i++ {
		op := r.outpoint()
		v := r.amount()
		s := r.bytes(maxScriptLen)
		ins = append(ins, FundingInput{OutPoint: op, PrevOut: wire.TxOut{Value: int64(v), PkScript: s}})
	}
	var change *wire.TxOut
	if r.bool() {
		v := r.amount()
		change = &wire.TxOut{Value: int64(v), PkScript: r.bytes(maxScriptLen)}
	}
	return ins, change
}

func writeSig(w *writer, sig []byte) error {
	if len(sig) > maxSigLenWire {
		return fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(sig))
	}
	w.bytes(sig)
	return nil
}

func checkSide(key *btcec.PublicKey, payout []byte) error {
	if key == nil {
		return fmt.Errorf("%w: missing key", ErrMalformed)
	}
	if len(payout) > maxScriptLen {
		return fmt.Errorf("%w: payout script too long", ErrMalformed)
	}
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgOpen) MarshalBinary() ([]byte, error) {
	if err := checkSide(m.Key, m.Payout); err != nil {
		return nil, err
	}
	w := header(TypeOpen)
	w.raw(m.Nonce[:])
	writeParams(w, m.Params)
	w.key(m.Key)
	w.bytes(m.Payout)
	w.amount(m.Amount)
	if err := writeFunds(w, m.Inputs, m.Change); err != nil {
		return nil, err
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgOpen) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeOpen)
	if err != nil {
		return err
	}
	var n MsgOpen
	n.Nonce = r.fixed32()
	n.Params = readParams(r)
	n.Key = r.key()
	n.Payout = r.bytes(maxScriptLen)
	n.Amount = r.amount()
	n.Inputs, n.Change = readFunds(r)
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgAccept) MarshalBinary() ([]byte, error) {
	if err := checkSide(m.Key, m.Payout); err != nil {
		return nil, err
	}
	w := header(TypeAccept)
	w.raw(m.Channel[:])
	w.key(m.Key)
	w.bytes(m.Payout)
	w.amount(m.Amount)
	if err := writeFunds(w, m.Inputs, m.Change); err != nil {
		return nil, err
	}
	if err := writeSig(w, m.RefundSig); err != nil {
		return nil, err
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgAccept) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeAccept)
	if err != nil {
		return err
	}
	var n MsgAccept
	n.Channel = r.fixed32()
	n.Key = r.key()
	n.Payout = r.bytes(maxScriptLen)
	n.Amount = r.amount()
	n.Inputs, n.Change = readFunds(r)
	n.RefundSig = r.bytes(maxSigLenWire)
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgFundingSigs) MarshalBinary() ([]byte, error) {
	w := header(TypeFundingSigs)
	w.raw(m.Channel[:])
	if err := writeSig(w, m.RefundSig); err != nil {
		return nil, err
	}
	if len(m.Witnesses) > maxInputs {
		return nil, fmt.Errorf("%w: %d witnesses", ErrMalformed, len(m.Witnesses))
	}
	w.u8(uint8(len(m.Witnesses)))
	for _, iw := range m.Witnesses {
		w.outpoint(iw.OutPoint)
		if len(iw.Witness) > maxWitnessLen {
			return nil, fmt.Errorf("%w: witness of %d items", ErrMalformed, len(iw.Witness))
		}
		w.u8(uint8(len(iw.Witness)))
		for _, item := range iw.Witness {
			if len(item) > maxWitnessItem {
				return nil, fmt.Errorf("%w: witness item of %d bytes", ErrMalformed, len(item))
			}
			w.bytes(item)
		}
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgFundingSigs) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeFundingSigs)
	if err != nil {
		return err
	}
	var n MsgFundingSigs
	n.Channel = r.fixed32()
	n.RefundSig = r.bytes(maxSigLenWire)
	cnt := r.count(maxInputs)
	for i := 0; i < cnt && r.Err() == nil; i++ {
		iw := InputWitness{OutPoint: r.outpoint()}
		items := r.count(maxWitnessLen)
		for j := 0; j < items && r.Err() == nil; j++ {
			iw.Witness = append(iw.Witness, r.bytes(maxWitnessItem))
		}
		n.Witnesses = append(n.Witnesses, iw)
	}
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// Op kinds on the wire.
const (
	opPay    = 1
	opAdd    = 2
	opSettle = 3
	opFail   = 4
)

func writeOps(w *writer, ops []Op) error {
	if len(ops) == 0 || len(ops) > maxOps {
		return fmt.Errorf("%w: %d ops", ErrMalformed, len(ops))
	}
	w.u8(uint8(len(ops)))
	for _, op := range ops {
		switch o := op.(type) {
		case Pay:
			w.u8(opPay)
			w.amount(o.Amount)
		case AddHTLC:
			w.u8(opAdd)
			w.u64(o.ID)
			w.amount(o.Amount)
			w.raw(o.Hash[:])
			w.u32(o.Expiry)
		case SettleHTLC:
			w.u8(opSettle)
			w.u64(o.ID)
			w.raw(o.Preimage[:])
		case FailHTLC:
			w.u8(opFail)
			w.u64(o.ID)
		default:
			return fmt.Errorf("%w: unknown op %T", ErrMalformed, op)
		}
	}
	return nil
}

func readOps(r *reader) []Op {
	n := r.count(maxOps)
	if n == 0 {
		r.Fail("no ops")
	}
	var ops []Op
	for i := 0; i < n && r.Err() == nil; i++ {
		switch r.U8() {
		case opPay:
			ops = append(ops, Pay{Amount: r.amount()})
		case opAdd:
			ops = append(ops, AddHTLC{ID: r.U64(), Amount: r.amount(), Hash: r.fixed32(), Expiry: r.U32()})
		case opSettle:
			ops = append(ops, SettleHTLC{ID: r.U64(), Preimage: r.fixed32()})
		case opFail:
			ops = append(ops, FailHTLC{ID: r.U64()})
		default:
			r.Fail("unknown op kind")
		}
	}
	return ops
}

// MarshalBinary encodes the message.
func (m *MsgUpdate) MarshalBinary() ([]byte, error) {
	w := header(TypeUpdate)
	w.raw(m.Channel[:])
	w.u32(m.Version)
	if err := writeOps(w, m.Ops); err != nil {
		return nil, err
	}
	if err := writeSig(w, m.Sig); err != nil {
		return nil, err
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgUpdate) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeUpdate)
	if err != nil {
		return err
	}
	var n MsgUpdate
	n.Channel = r.fixed32()
	n.Version = r.U32()
	n.Ops = readOps(r)
	n.Sig = r.bytes(maxSigLenWire)
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgAck) MarshalBinary() ([]byte, error) {
	w := header(TypeAck)
	w.raw(m.Channel[:])
	w.u32(m.Version)
	if err := writeSig(w, m.Sig); err != nil {
		return nil, err
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgAck) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeAck)
	if err != nil {
		return err
	}
	var n MsgAck
	n.Channel = r.fixed32()
	n.Version = r.U32()
	n.Sig = r.bytes(maxSigLenWire)
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgClose) MarshalBinary() ([]byte, error) {
	w := header(TypeClose)
	w.raw(m.Channel[:])
	w.u64(uint64(m.FeeRate))
	if err := writeSig(w, m.Sig); err != nil {
		return nil, err
	}
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgClose) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeClose)
	if err != nil {
		return err
	}
	var n MsgClose
	n.Channel = r.fixed32()
	n.FeeRate = readRate(r)
	n.Sig = r.bytes(maxSigLenWire)
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// MarshalBinary encodes the message.
func (m *MsgReject) MarshalBinary() ([]byte, error) {
	w := header(TypeReject)
	w.raw(m.Channel[:])
	w.u32(m.Version)
	w.u16(m.Code)
	return w.b, nil
}

// UnmarshalBinary decodes the message; it never panics.
func (m *MsgReject) UnmarshalBinary(b []byte) error {
	r, err := readHeader(b, TypeReject)
	if err != nil {
		return err
	}
	var n MsgReject
	n.Channel = r.fixed32()
	n.Version = r.U32()
	n.Code = r.U16()
	if err := r.done(); err != nil {
		return err
	}
	*m = n
	return nil
}

// Decode decodes any message. It never panics; malformed input yields an
// error wrapping ErrMalformed or ErrMsgVersion.
func Decode(b []byte) (Message, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: short message", ErrMalformed)
	}
	if b[0] != MsgVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMsgVersion, b[0])
	}
	var m Message
	switch MsgType(b[1]) {
	case TypeOpen:
		m = new(MsgOpen)
	case TypeAccept:
		m = new(MsgAccept)
	case TypeFundingSigs:
		m = new(MsgFundingSigs)
	case TypeUpdate:
		m = new(MsgUpdate)
	case TypeAck:
		m = new(MsgAck)
	case TypeClose:
		m = new(MsgClose)
	case TypeReject:
		m = new(MsgReject)
	default:
		return nil, fmt.Errorf("%w: unknown type %d", ErrMalformed, b[1])
	}
	if err := m.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return m, nil
}

func marshal(m Message) ([]byte, error) {
	b, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", m, err)
	}
	return b, nil
}
