package channel

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Role tells the two ends of a channel apart. Transactions are described in
// terms of roles, not of "local" and "remote", so that both sides build
// byte-identical transactions.
type Role uint8

const (
	// Opener proposed the channel, and pays the fees of its transactions.
	Opener Role = 0
	// Acceptor accepted it.
	Acceptor Role = 1
)

func (r Role) other() Role { return 1 - r }

func (r Role) String() string {
	if r == Opener {
		return "opener"
	}
	return "acceptor"
}

// An Op is one change a state update makes: Pay, AddHTLC, SettleHTLC or
// FailHTLC. An update carries one or more ops and is proposed by one side.
type Op interface{ isOp() }

// Pay moves Amount from the proposer to the other side.
type Pay struct{ Amount btcutil.Amount }

// AddHTLC moves Amount from the proposer into a hash-locked output that pays
// the other side against the preimage of Hash, or the proposer back once the
// chain reaches Expiry. ID is assigned by Propose.
type AddHTLC struct {
	ID     uint64
	Amount btcutil.Amount
	Hash   [32]byte
	Expiry uint32
}

// SettleHTLC resolves an HTLC offered by the other side in the proposer's
// favour, revealing its preimage.
type SettleHTLC struct {
	ID       uint64
	Preimage [32]byte
}

// FailHTLC resolves an HTLC offered by the other side back to it: the
// receiver gives up the payment.
type FailHTLC struct{ ID uint64 }

func (Pay) isOp()        {}
func (AddHTLC) isOp()    {}
func (SettleHTLC) isOp() {}
func (FailHTLC) isOp()   {}

// maxOps bounds the ops of one update.
const maxOps = 64

// HTLC is a live hash-locked payment, seen from one side.
type HTLC struct {
	ID     uint64
	Amount btcutil.Amount
	Hash   [32]byte
	Expiry uint32
	// Incoming is true when the peer offered the HTLC, so that we are paid
	// on the preimage; false when we offered it.
	Incoming bool
}

type htlc struct {
	ID      uint64
	Offerer Role
	Amount  btcutil.Amount
	Hash    [32]byte
	Expiry  uint32
}

// A slot is one output position after the payout outputs: either a live
// HTLC or a spare. A spare is what an HTLC output turns into when the HTLC
// is resolved: an output of the dust limit, of the same size, paid to the
// opener. The next HTLC takes its place. Outputs thus never disappear, so a
// state is never smaller than an older one, and a higher fee rate per
// version also means a higher absolute fee.
type slot struct {
	live bool
	h    htlc
}

// state is one version of the channel, identical on both sides.
type state struct {
	Version uint32
	// Balance is each role's off-chain balance, HTLCs in flight excluded.
	Balance [2]btcutil.Amount
	// AcceptorOut records that the acceptor's payout output exists. It
	// appears once the acceptor's balance reaches the dust limit and stays
	// (the acceptor keeps the dust limit as reserve). Until then the
	// acceptor's balance is a credit that the opener's output carries on
	// chain.
	AcceptorOut bool
	Slots       []slot
	NextHTLC    uint64
}

func (s *state) clone() state {
	n := *s
	n.Slots = append([]slot(nil), s.Slots...)
	return n
}

func (s *state) spares() int {
	n := 0
	for _, sl := range s.Slots {
		if !sl.live {
			n++
		}
	}
	return n
}

func (s *state) live() int { return len(s.Slots) - s.spares() }

func (s *state) find(id uint64) int {
	for i, sl := range s.Slots {
		if sl.live && sl.h.ID == id {
			return i
		}
	}
	return -1
}

// terms is everything both sides share once the channel is accepted: from
// it and a state, each side builds the same transaction.
type terms struct {
	p       Params
	keys    [2]*btcec.PublicKey
	payout  [2][]byte
	fundOut wire.OutPoint
	fundVal btcutil.Amount
	fundWS  []byte
	fundPk  []byte
	// reserve is what the opener may never spend: its own dust reserve, a
	// spare for every HTLC slot, and the fee of the largest possible state
	// at the channel's last version. Every state is therefore affordable,
	// and resolving an HTLC can never fail for lack of funds.
	reserve btcutil.Amount
}

func (t *terms) fetcher() txscript.PrevOutputFetcher {
	return txscript.NewCannedPrevOutputFetcher(t.fundPk, int64(t.fundVal))
}

// computeReserve fills t.reserve; it needs keys and payouts.
func (t *terms) computeReserve() {
	s := state{AcceptorOut: true, Slots: make([]slot, t.p.MaxHTLCs)}
	tx := t.shape(&s)
	maxFee := t.p.StateFeeRate(t.p.MaxVersion()).Fee(nominalVSize(tx, t.fundWS))
	t.reserve = t.p.DustLimit*btcutil.Amount(1+int(t.p.MaxHTLCs)) + maxFee
}

// shape builds the outputs of s with the opener's payout still at zero.
func (t *terms) shape(s *state) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.LockTime = t.p.LockTime(s.Version)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: t.fundOut, Sequence: t.p.Sequence(s.Version)})
	tx.AddTxOut(wire.NewTxOut(0, t.payout[Opener]))
	if s.AcceptorOut {
		tx.AddTxOut(wire.NewTxOut(int64(s.Balance[Acceptor]), t.payout[Acceptor]))
	}
	for _, sl := range s.Slots {
		if sl.live {
			tx.AddTxOut(wire.NewTxOut(int64(sl.h.Amount), p2wsh(t.htlcScript(sl.h))))
		} else {
			tx.AddTxOut(wire.NewTxOut(int64(t.p.DustLimit), p2wsh(spareScript(t.keys[Opener]))))
		}
	}
	return tx
}

func (t *terms) htlcScript(h htlc) []byte {
	return htlcScript(t.keys[h.Offerer.other()], t.keys[h.Offerer], h.Hash, h.Expiry)
}

// stateFee is the fee of s: its nominal fee rate times its nominal size.
func (t *terms) stateFee(s *state, tx *wire.MsgTx) btcutil.Amount {
	return t.p.StateFeeRate(s.Version).Fee(nominalVSize(tx, t.fundWS))
}

// buildState returns the unsigned transaction of s.
func (t *terms) buildState(s *state) (*wire.MsgTx, error) {
	tx := t.shape(s)
	fee := t.stateFee(s, tx)
	o := s.Balance[Opener] - fee - t.p.DustLimit*btcutil.Amount(s.spares())
	if !s.AcceptorOut {
		o += s.Balance[Acceptor]
	}
	if o < t.p.DustLimit {
		return nil, fmt.Errorf("%w: opener output %d below dust after fee %d", ErrInsufficientFunds, o, fee)
	}
	tx.TxOut[0].Value = int64(o)
	return tx, nil
}

// outputIndex is the output index of slot i in the transaction of s.
func (s *state) outputIndex(i int) uint32 {
	if s.AcceptorOut {
		return uint32(i) + 2
	}
	return uint32(i) + 1
}

// spendable is what role r may still pay out of s.
func (t *terms) spendable(s *state, r Role) btcutil.Amount {
	if r == Opener {
		if a := s.Balance[Opener] - t.reserve; a > 0 {
			return a
		}
		return 0
	}
	if s.AcceptorOut {
		if a := s.Balance[Acceptor] - t.p.DustLimit; a > 0 {
			return a
		}
		return 0
	}
	return s.Balance[Acceptor]
}

// apply returns the state of version v (above s.Version; versions may be
// skipped) that follows s when proposer applies ops at chain height h. With
// assign set it numbers new HTLCs (the proposer's side) and returns the ops
// as numbered; otherwise it requires the numbering to match.
func (t *terms) apply(s *state, proposer Role, ops []Op, v, h uint32, assign bool) (state, []Op, error) {
	if len(ops) == 0 || len(ops) > maxOps {
		return state{}, nil, fmt.Errorf("%w: %d ops in one update", ErrMalformed, len(ops))
	}
	if v <= s.Version {
		return state{}, nil, fmt.Errorf("%w: version %d after %d", ErrVersion, v, s.Version)
	}
	n := s.clone()
	n.Version = v
	if n.Version > t.p.MaxVersion() || t.p.LockTime(n.Version) <= h {
		return state{}, nil, fmt.Errorf("%w: version %d would lock at %d, height is %d", ErrExhausted, n.Version, t.p.LockTime(n.Version), h)
	}
	other := proposer.other()
	out := make([]Op, 0, len(ops))
	for _, op := range ops {
		switch o := op.(type) {
		case Pay:
			if o.Amount <= 0 || o.Amount > btcutil.MaxSatoshi {
				return state{}, nil, fmt.Errorf("%w: pay %d", ErrAmount, o.Amount)
			}
			if sp := t.spendable(&n, proposer); o.Amount > sp {
				return state{}, nil, fmt.Errorf("%w: pay %d, spendable %d", ErrInsufficientFunds, o.Amount, sp)
			}
			n.Balance[proposer] -= o.Amount
			n.Balance[other] += o.Amount
		case AddHTLC:
			if o.Amount < t.p.DustLimit || o.Amount > btcutil.MaxSatoshi {
				return state{}, nil, fmt.Errorf("%w: HTLC of %d, dust limit %d", ErrAmount, o.Amount, t.p.DustLimit)
			}
			if sp := t.spendable(&n, proposer); o.Amount > sp {
				return state{}, nil, fmt.Errorf("%w: HTLC of %d, spendable %d", ErrInsufficientFunds, o.Amount, sp)
			}
			if min := t.p.LockTime(n.Version) + t.p.HTLCMargin; o.Expiry < min || o.Expiry > maxLockTime {
				return state{}, nil, fmt.Errorf("%w: expiry %d, minimum %d", ErrHTLCExpiry, o.Expiry, min)
			}
			if assign {
				o.ID = n.NextHTLC
			} else if o.ID != n.NextHTLC {
				return state{}, nil, fmt.Errorf("%w: HTLC id %d, expected %d", ErrUnknownHTLC, o.ID, n.NextHTLC)
			}
			sl := slot{live: true, h: htlc{ID: o.ID, Offerer: proposer, Amount: o.Amount, Hash: o.Hash, Expiry: o.Expiry}}
			placed := false
			for i := range n.Slots {
				if !n.Slots[i].live {
					n.Slots[i], placed = sl, true
					break
				}
			}
			if !placed {
				if len(n.Slots) >= int(t.p.MaxHTLCs) {
					return state{}, nil, fmt.Errorf("%w: limit %d", ErrTooManyHTLCs, t.p.MaxHTLCs)
				}
				n.Slots = append(n.Slots, sl)
			}
			n.Balance[proposer] -= o.Amount
			n.NextHTLC++
			op = o
		case SettleHTLC:
			i := n.find(o.ID)
			if i < 0 || n.Slots[i].h.Offerer != other {
				return state{}, nil, fmt.Errorf("%w: settle %d", ErrUnknownHTLC, o.ID)
			}
			if sha256.Sum256(o.Preimage[:]) != n.Slots[i].h.Hash {
				return state{}, nil, fmt.Errorf("%w: HTLC %d", ErrBadPreimage, o.ID)
			}
			n.Balance[proposer] += n.Slots[i].h.Amount
			n.Slots[i] = slot{}
		case FailHTLC:
			i := n.find(o.ID)
			if i < 0 || n.Slots[i].h.Offerer != other {
				return state{}, nil, fmt.Errorf("%w: fail %d", ErrUnknownHTLC, o.ID)
			}
			n.Balance[other] += n.Slots[i].h.Amount
			n.Slots[i] = slot{}
		default:
			return state{}, nil, fmt.Errorf("%w: unknown op %T", ErrMalformed, op)
		}
		out = append(out, op)
	}
	if !n.AcceptorOut && n.Balance[Acceptor] >= t.p.DustLimit {
		n.AcceptorOut = true
	}
	if err := t.check(&n); err != nil {
		return state{}, nil, err
	}
	return n, out, nil
}

// check verifies the invariants every state keeps.
func (t *terms) check(s *state) error {
	total := s.Balance[Opener] + s.Balance[Acceptor]
	for _, sl := range s.Slots {
		if sl.live {
			total += sl.h.Amount
		}
	}
	switch {
	case total != t.fundVal:
		return fmt.Errorf("%w: balances sum to %d, channel holds %d", ErrInsufficientFunds, total, t.fundVal)
	case s.Balance[Opener] < t.reserve:
		return fmt.Errorf("%w: opener balance %d below its reserve %d", ErrInsufficientFunds, s.Balance[Opener], t.reserve)
	case s.Balance[Acceptor] < 0 || (s.AcceptorOut && s.Balance[Acceptor] < t.p.DustLimit):
		return fmt.Errorf("%w: acceptor balance %d below its reserve", ErrInsufficientFunds, s.Balance[Acceptor])
	case len(s.Slots) > int(t.p.MaxHTLCs):
		return fmt.Errorf("%w: %d slots", ErrTooManyHTLCs, len(s.Slots))
	}
	return nil
}

// buildClose returns the unsigned cooperative close of s at fee rate r: no
// lock time, a final sequence, each side's whole balance.
func (t *terms) buildClose(s *state, r FeeRate) (*wire.MsgTx, error) {
	if s.live() > 0 {
		return nil, fmt.Errorf("%w: %d live", ErrHTLCsPending, s.live())
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: t.fundOut, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(wire.NewTxOut(0, t.payout[Opener]))
	o := s.Balance[Opener]
	if s.Balance[Acceptor] >= t.p.DustLimit {
		tx.AddTxOut(wire.NewTxOut(int64(s.Balance[Acceptor]), t.payout[Acceptor]))
	} else {
		o += s.Balance[Acceptor]
	}
	o -= r.Fee(nominalVSize(tx, t.fundWS))
	if o < t.p.DustLimit {
		return nil, fmt.Errorf("%w: close fee leaves the opener %d", ErrFeeRate, o)
	}
	tx.TxOut[0].Value = int64(o)
	return tx, nil
}
