package channel

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
)

// Phase is where a channel is in its life.
//
//	opener                                 acceptor
//	  Open() ── MsgOpen ─────────────────▶ Accept()         [acceptor signs refund]
//	PhaseOpening                           PhaseFunding
//	  ◀──────────────────── MsgAccept ───  (refund sig)
//	[opener checks refund sig, signs refund and its funding inputs]
//	PhaseFunding ── MsgFundingSigs ─────▶  (refund sig, opener witnesses)
//	                                       [acceptor checks, signs its inputs]
//	  ◀─────────────── MsgFundingSigs ───  PhaseOpen        (funding tx complete)
//	PhaseOpen
//	  │ Propose ─ MsgUpdate ─▶ Receive ─ MsgAck ─▶ Receive   (version v → v+1)
//	  │ Close ── MsgClose ──▶ Receive ─ MsgClose ─▶ Receive
//	  ▼                       ▼
//	PhaseClosing ─────────▶ PhaseClosed ◀── ForceClose (newest state, any phase
//	                                         after the refund is signed by both)
type Phase uint8

// Phases.
const (
	// PhaseOpening: the opener sent MsgOpen and waits for MsgAccept.
	PhaseOpening Phase = iota + 1
	// PhaseFunding: the refund is being countersigned and the funding
	// witnesses exchanged.
	PhaseFunding
	// PhaseOpen: the funding transaction is complete; states can be made.
	PhaseOpen
	// PhaseClosing: we proposed a cooperative close and wait for the
	// countersignature. No more states are made.
	PhaseClosing
	// PhaseClosed: the cooperative close is signed by both, or ForceClose
	// was called.
	PhaseClosed
)

func (p Phase) String() string {
	switch p {
	case PhaseOpening:
		return "opening"
	case PhaseFunding:
		return "funding"
	case PhaseOpen:
		return "open"
	case PhaseClosing:
		return "closing"
	case PhaseClosed:
		return "closed"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Update describes a state that became the newest on this side.
type Update struct {
	Version uint32
	// Ops are the changes, as the proposer stated them: a Pay moves money
	// from the proposer, an AddHTLC is offered by the proposer, a
	// SettleHTLC or FailHTLC resolves an HTLC the other side offered.
	Ops []Op
	// Remote is true when the peer proposed the update.
	Remote bool
}

// Result is what Receive made of a message.
type Result struct {
	// Reply, if not nil, is the message to send back to the peer.
	Reply []byte
	// Update is set when a new state became the newest.
	Update *Update
	// Dropped holds the ops of our own proposal when it was dropped: it
	// lost a tie with the peer's proposal, was refused by the peer (see
	// Refused), or gave way to a cooperative close. Propose them again if
	// they are still wanted.
	Dropped []Op
	// Refused is the reason the peer gave for refusing our proposal.
	Refused error
	// Funding is set when the funding transaction became complete: it is
	// ready to broadcast (both sides may).
	Funding *wire.MsgTx
	// Close is set when the cooperative close became complete: it is
	// final and ready to broadcast.
	Close *wire.MsgTx
}

type pending struct {
	st  state
	ops []Op
	sig []byte
}

type closing struct {
	rate FeeRate
	sig  [2][]byte
}

type preimage struct{ hash, pre [32]byte }

// Channel is one side of a payment channel. It is a pure state machine: it
// does no I/O other than calling the Store it is configured with, and
// starts no goroutines. Messages to the peer are returned as bytes and
// messages from the peer are handed to Receive; carrying them is the
// caller's business.
//
// A Channel is not safe for concurrent use; its owner serialises calls.
type Channel struct {
	cfg   Config
	key   *btcec.PrivateKey
	role  Role
	id    ID
	phase Phase

	t      terms
	f      [2]funds
	fundTx *wire.MsgTx

	cur    state
	curSig [2][]byte
	pend   *pending
	cls    *closing

	// signedMax is the highest version we ever signed a state at, and
	// peerMax the highest the peer proposed. A new state always takes a
	// version above both: we never sign two different states of the
	// same version, so a proposal that was refused or lost a tie, whose
	// signature the peer still holds, is outranked by the next state.
	signedMax, peerMax uint32

	// hist lists every HTLC the channel has carried, to recognise HTLC
	// outputs of whatever state ends up on chain; preimages lists the
	// preimages learned. Both only grow.
	hist      []htlc
	preimages []preimage
}

// Open starts a channel as the opener and returns it with the MsgOpen to
// send. cfg supplies the proposed Params; c must fund at least the
// opener's reserve (see Reserve) and every input needs a Signer.
func Open(cfg Config, c Contribution) (*Channel, []byte, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	pub, payout, f, err := contribution(c, cfg.DustLimit)
	if err != nil {
		return nil, nil, err
	}
	if f.amount <= 0 {
		return nil, nil, fmt.Errorf("%w: the opener must put money in", ErrFunding)
	}
	p := cfg.params(cfg.Height())
	if err := p.validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	m := &MsgOpen{Params: p, Key: pub, Payout: payout, Amount: f.amount, Inputs: f.inputs, Change: f.change}
	if _, err := io.ReadFull(cfg.Rand, m.Nonce[:]); err != nil {
		return nil, nil, fmt.Errorf("channel: nonce: %w", err)
	}
	b, err := marshal(m)
	if err != nil {
		return nil, nil, err
	}
	ch := &Channel{cfg: cfg, key: c.Key, role: Opener, id: sha256.Sum256(b), phase: PhaseOpening}
	ch.t.p = p
	ch.t.keys[Opener] = pub
	ch.t.payout[Opener] = payout
	ch.f[Opener] = f
	if err := ch.save(); err != nil {
		return nil, nil, err
	}
	return ch, b, nil
}

// Accept answers a MsgOpen as the acceptor: it checks the proposed terms
// against cfg, builds the funding transaction and the refund, signs the
// refund, and returns the channel with the MsgAccept to send. The acceptor
// may contribute nothing (c.Amount 0, no inputs).
func Accept(cfg Config, open []byte, c Contribution) (*Channel, []byte, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	var m MsgOpen
	if err := m.UnmarshalBinary(open); err != nil {
		return nil, nil, err
	}
	if err := cfg.checkPolicy(m.Params); err != nil {
		return nil, nil, err
	}
	if err := checkPayoutScript(m.Payout); err != nil {
		return nil, nil, err
	}
	of := funds{amount: m.Amount, inputs: m.Inputs, change: m.Change}
	if err := of.check(m.Params.DustLimit); err != nil {
		return nil, nil, err
	}
	if of.amount <= 0 {
		return nil, nil, fmt.Errorf("%w: the opener puts no money in", ErrFunding)
	}
	pub, payout, f, err := contribution(c, m.Params.DustLimit)
	if err != nil {
		return nil, nil, err
	}
	ch := &Channel{cfg: cfg, key: c.Key, role: Acceptor, id: sha256.Sum256(open), phase: PhaseFunding}
	ch.t.p = m.Params
	if err := ch.setup([2]*btcec.PublicKey{m.Key, pub}, [2][]byte{m.Payout, payout}, [2]funds{of, f}); err != nil {
		return nil, nil, err
	}
	refund, err := ch.t.buildState(&ch.cur)
	if err != nil {
		return nil, nil, err
	}
	sig, err := sign(c.Key, refund, 0, ch.t.fundWS, int64(ch.t.fundVal), ch.t.fetcher())
	if err != nil {
		return nil, nil, err
	}
	ch.curSig[Acceptor] = sig
	reply, err := marshal(&MsgAccept{Channel: ch.id, Key: pub, Payout: payout, Amount: f.amount,
		Inputs: f.inputs, Change: f.change, RefundSig: sig})
	if err != nil {
		return nil, nil, err
	}
	if err := ch.save(); err != nil {
		return nil, nil, err
	}
	return ch, reply, nil
}

func contribution(c Contribution, dust btcutil.Amount) (*btcec.PublicKey, []byte, funds, error) {
	if c.Key == nil {
		return nil, nil, funds{}, fmt.Errorf("%w: Contribution.Key is required", ErrConfig)
	}
	pub := c.Key.PubKey()
	payout := c.Payout
	if payout == nil {
		payout = P2WPKH(pub)
	}
	if err := checkPayoutScript(payout); err != nil {
		return nil, nil, funds{}, err
	}
	f := funds{amount: c.Amount, inputs: c.Inputs, change: c.Change}
	if err := f.check(dust); err != nil {
		return nil, nil, funds{}, err
	}
	for _, in := range f.inputs {
		if in.Signer == nil {
			return nil, nil, funds{}, fmt.Errorf("%w: input %v", ErrNoSigner, in.OutPoint)
		}
	}
	return pub, payout, f, nil
}

// setup fixes the terms once both sides are known and builds the funding
// transaction and the refund state.
func (c *Channel) setup(keys [2]*btcec.PublicKey, payout [2][]byte, f [2]funds) error {
	if keys[0].IsEqual(keys[1]) {
		return fmt.Errorf("%w: both sides use the same key", ErrParams)
	}
	if a := f[Acceptor].amount; a > 0 && a < c.t.p.DustLimit {
		return fmt.Errorf("%w: acceptor contribution %d below dust", ErrFunding, a)
	}
	t := terms{p: c.t.p, keys: keys, payout: payout}
	t.fundWS = fundingScript(keys[0], keys[1])
	t.fundPk = p2wsh(t.fundWS)
	tx, idx, err := buildFunding(f, t.fundPk)
	if err != nil {
		return err
	}
	if fee := fundingFee(f); fee <= 0 {
		return fmt.Errorf("%w: funding pays fee %d", ErrFunding, fee)
	}
	t.fundOut = wire.OutPoint{Hash: tx.TxHash(), Index: idx}
	t.fundVal = f[0].amount + f[1].amount
	t.computeReserve()
	st := state{Balance: [2]btcutil.Amount{f[0].amount, f[1].amount}}
	st.AcceptorOut = st.Balance[Acceptor] >= t.p.DustLimit
	if err := t.check(&st); err != nil {
		return err
	}
	c.t, c.f, c.fundTx, c.cur = t, f, tx, st
	return nil
}

// Receive handles a message from the peer. When it refuses a message it
// returns an error, and, when the peer is owed an answer, a MsgReject in
// Result.Reply to send all the same.
func (c *Channel) Receive(b []byte) (Result, error) {
	m, err := Decode(b)
	if err != nil {
		return Result{}, err
	}
	if m.ChannelID() != c.id {
		return Result{}, fmt.Errorf("%w: %v", ErrWrongChannel, m.ChannelID())
	}
	switch m := m.(type) {
	case *MsgAccept:
		return c.onAccept(m)
	case *MsgFundingSigs:
		return c.onFundingSigs(m)
	case *MsgUpdate:
		return c.onUpdate(m)
	case *MsgAck:
		return c.onAck(m)
	case *MsgClose:
		return c.onClose(m)
	case *MsgReject:
		return c.onReject(m)
	}
	return Result{}, fmt.Errorf("%w: %T", ErrUnexpected, m)
}

// transact runs fn and saves the channel; if either fails, the channel is
// left as it was.
func (c *Channel) transact(fn func() error) error {
	backup := *c
	backup.cur = c.cur.clone()
	if err := fn(); err != nil {
		*c = backup
		return err
	}
	if err := c.save(); err != nil {
		*c = backup
		return err
	}
	return nil
}

func (c *Channel) save() error {
	if c.cfg.Store == nil {
		return nil
	}
	b, err := c.MarshalBinary()
	if err != nil {
		return err
	}
	if err := c.cfg.Store.Save(c.id, b); err != nil {
		return fmt.Errorf("channel: save: %w", err)
	}
	return nil
}

func (c *Channel) onAccept(m *MsgAccept) (Result, error) {
	if c.role != Opener || c.phase != PhaseOpening {
		return Result{}, fmt.Errorf("%w: accept in phase %v", ErrUnexpected, c.phase)
	}
	if err := checkPayoutScript(m.Payout); err != nil {
		return Result{}, err
	}
	af := funds{amount: m.Amount, inputs: m.Inputs, change: m.Change}
	if err := af.check(c.t.p.DustLimit); err != nil {
		return Result{}, err
	}
	var reply []byte
	err := c.transact(func() error {
		keys := [2]*btcec.PublicKey{c.t.keys[Opener], m.Key}
		payout := [2][]byte{c.t.payout[Opener], m.Payout}
		if err := c.setup(keys, payout, [2]funds{c.f[Opener], af}); err != nil {
			return err
		}
		refund, err := c.t.buildState(&c.cur)
		if err != nil {
			return err
		}
		fetch := c.t.fetcher()
		if err := verify(m.Key, m.RefundSig, refund, 0, c.t.fundWS, int64(c.t.fundVal), fetch); err != nil {
			return fmt.Errorf("refund: %w", err)
		}
		sig, err := sign(c.key, refund, 0, c.t.fundWS, int64(c.t.fundVal), fetch)
		if err != nil {
			return err
		}
		c.curSig = [2][]byte{sig, m.RefundSig}
		if _, err := c.signedState(); err != nil {
			return err
		}
		// Only now, holding the refund signed by both, sign the funding.
		ws, err := c.signFunding()
		if err != nil {
			return err
		}
		c.phase = PhaseFunding
		reply, err = marshal(&MsgFundingSigs{Channel: c.id, RefundSig: sig, Witnesses: ws})
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Reply: reply}, nil
}

// signFunding signs our funding inputs in a copy of the funding
// transaction, which replaces c.fundTx.
func (c *Channel) signFunding() ([]InputWitness, error) {
	tx := c.fundTx.Copy()
	fetch := fundingFetcher(c.f)
	var out []InputWitness
	for _, in := range c.f[c.role].inputs {
		if in.Signer == nil {
			return nil, fmt.Errorf("%w: input %v", ErrNoSigner, in.OutPoint)
		}
		idx := inputIndex(tx, in.OutPoint)
		w, err := in.Signer.SignInput(tx, idx, fetch)
		if err != nil {
			return nil, fmt.Errorf("%w: signing input %v: %w", ErrFunding, in.OutPoint, err)
		}
		tx.TxIn[idx].Witness = w
		out = append(out, InputWitness{OutPoint: in.OutPoint, Witness: w})
	}
	c.fundTx = tx
	return out, nil
}

func inputIndex(tx *wire.MsgTx, op wire.OutPoint) int {
	for i, in := range tx.TxIn {
		if in.PreviousOutPoint == op {
			return i
		}
	}
	return -1
}

func (c *Channel) onFundingSigs(m *MsgFundingSigs) (Result, error) {
	if c.phase != PhaseFunding {
		return Result{}, fmt.Errorf("%w: funding signatures in phase %v", ErrUnexpected, c.phase)
	}
	remote := c.role.other()
	var reply []byte
	err := c.transact(func() error {
		tx := c.fundTx.Copy()
		want := map[wire.OutPoint]bool{}
		for _, in := range c.f[remote].inputs {
			want[in.OutPoint] = true
		}
		if len(m.Witnesses) != len(want) {
			return fmt.Errorf("%w: %d witnesses for %d inputs", ErrFunding, len(m.Witnesses), len(want))
		}
		for _, iw := range m.Witnesses {
			if !want[iw.OutPoint] {
				return fmt.Errorf("%w: witness for %v, not a peer input", ErrFunding, iw.OutPoint)
			}
			delete(want, iw.OutPoint)
			tx.TxIn[inputIndex(tx, iw.OutPoint)].Witness = iw.Witness
		}
		c.fundTx = tx
		var ours []InputWitness
		if c.role == Acceptor {
			refund, err := c.t.buildState(&c.cur)
			if err != nil {
				return err
			}
			if err := verify(c.t.keys[Opener], m.RefundSig, refund, 0, c.t.fundWS, int64(c.t.fundVal), c.t.fetcher()); err != nil {
				return fmt.Errorf("refund: %w", err)
			}
			c.curSig[Opener] = m.RefundSig
			if _, err := c.signedState(); err != nil {
				return err
			}
			// The refund is complete: now sign our funding inputs.
			if ours, err = c.signFunding(); err != nil {
				return err
			}
		} else if len(m.RefundSig) != 0 {
			return fmt.Errorf("%w: refund signature from the acceptor twice", ErrUnexpected)
		}
		if err := checkScripts(c.fundTx, fundingFetcher(c.f)); err != nil {
			return fmt.Errorf("%w: %w", ErrFunding, err)
		}
		if fee, min := fundingFee(c.f), MinRelayFeeRate.Fee(vsize(c.fundTx)); fee < min {
			return fmt.Errorf("%w: fee %d below the relay minimum %d", ErrFunding, fee, min)
		}
		c.phase = PhaseOpen
		if c.role == Acceptor {
			var err error
			reply, err = marshal(&MsgFundingSigs{Channel: c.id, Witnesses: ours})
			return err
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Reply: reply, Funding: c.fundTx.Copy()}, nil
}

// Propose makes the next state: ops applied to the newest state, signed by
// us. It returns the update (with HTLC IDs assigned) and the MsgUpdate to
// send. The state becomes the newest when the peer's MsgAck arrives; until
// then no other proposal can be made.
func (c *Channel) Propose(ops ...Op) (Update, []byte, error) {
	if c.phase != PhaseOpen {
		return Update{}, nil, fmt.Errorf("%w: propose in phase %v", ErrPhase, c.phase)
	}
	if c.pend != nil {
		return Update{}, nil, ErrPending
	}
	next, ops, err := c.t.apply(&c.cur, c.role, ops, c.nextVersion(), c.cfg.Height(), true)
	if err != nil {
		return Update{}, nil, err
	}
	tx, err := c.t.buildState(&next)
	if err != nil {
		return Update{}, nil, err
	}
	sig, err := sign(c.key, tx, 0, c.t.fundWS, int64(c.t.fundVal), c.t.fetcher())
	if err != nil {
		return Update{}, nil, err
	}
	msg, err := marshal(&MsgUpdate{Channel: c.id, Version: next.Version, Ops: ops, Sig: sig})
	if err != nil {
		return Update{}, nil, err
	}
	// Saved before the message leaves: a restart must never sign another
	// state with the same version.
	if err := c.transact(func() error {
		c.pend = &pending{st: next, ops: ops, sig: sig}
		c.signedMax = next.Version
		return nil
	}); err != nil {
		return Update{}, nil, err
	}
	return Update{Version: next.Version, Ops: ops}, msg, nil
}

// nextVersion is the version of the next state: above the newest, and
// above any version either side has signed a state at.
func (c *Channel) nextVersion() uint32 {
	return max(c.cur.Version, c.signedMax, c.peerMax) + 1
}

// Pay proposes a state paying amount to the peer: one metered chunk.
func (c *Channel) Pay(amount btcutil.Amount) ([]byte, error) {
	_, msg, err := c.Propose(Pay{Amount: amount})
	return msg, err
}

func (c *Channel) reject(version uint32, err error) []byte {
	b, _ := marshal(&MsgReject{Channel: c.id, Version: version, Code: rejectCode(err)})
	return b
}

func (c *Channel) onUpdate(m *MsgUpdate) (Result, error) {
	if c.phase != PhaseOpen {
		err := fmt.Errorf("%w: update in phase %v", ErrPhase, c.phase)
		return Result{Reply: c.reject(m.Version, err)}, err
	}
	remote := c.role.other()
	fetch := c.t.fetcher()
	if m.Version == c.cur.Version && m.Version > 0 {
		// A retransmission of the update we already countersigned.
		tx, err := c.t.buildState(&c.cur)
		if err == nil && verify(c.t.keys[remote], m.Sig, tx, 0, c.t.fundWS, int64(c.t.fundVal), fetch) == nil {
			reply, err := marshal(&MsgAck{Channel: c.id, Version: c.cur.Version, Sig: c.curSig[c.role]})
			return Result{Reply: reply}, err
		}
	}
	if m.Version <= c.cur.Version || m.Version > c.nextVersion() {
		err := fmt.Errorf("%w: got %d, newest is %d, next is %d", ErrVersion, m.Version, c.cur.Version, c.nextVersion())
		return Result{Reply: c.reject(m.Version, err)}, err
	}
	if m.Version <= c.signedMax {
		// We signed another state of this version: our own proposal,
		// which crossed this one. Neither is countersigned; both sides
		// drop theirs when the refusals arrive, and the next proposal
		// takes a higher version.
		return c.refuse(m.Version, fmt.Errorf("%w: we signed version %d too", ErrConflict, m.Version))
	}
	var dropped []Op
	if c.pend != nil {
		// The peer proposes above our pending proposal: ours can no
		// longer become the newest.
		dropped = c.pend.ops
	}
	next, _, err := c.t.apply(&c.cur, remote, m.Ops, m.Version, c.cfg.Height(), false)
	if err != nil {
		return c.refuse(m.Version, err)
	}
	tx, err := c.t.buildState(&next)
	if err != nil {
		return c.refuse(m.Version, err)
	}
	sig, err := sign(c.key, tx, 0, c.t.fundWS, int64(c.t.fundVal), fetch)
	if err != nil {
		return Result{}, err
	}
	var sigs [2][]byte
	sigs[c.role], sigs[remote] = sig, m.Sig
	if err := c.checkState(tx, sigs); err != nil {
		return c.refuse(m.Version, err)
	}
	reply, err := marshal(&MsgAck{Channel: c.id, Version: next.Version, Sig: sig})
	if err != nil {
		return Result{}, err
	}
	if err := c.transact(func() error {
		c.commit(next, sigs, m.Ops, remote)
		c.pend = nil
		c.signedMax, c.peerMax = next.Version, max(c.peerMax, next.Version)
		return nil
	}); err != nil {
		return Result{}, err
	}
	return Result{Reply: reply, Update: &Update{Version: next.Version, Ops: m.Ops, Remote: true}, Dropped: dropped}, nil
}

// refuse answers a proposal of version v, within bounds, with a Reject,
// and remembers that the peer signed a state of version v: our next
// proposal goes above it.
func (c *Channel) refuse(v uint32, why error) (Result, error) {
	if err := c.transact(func() error { c.peerMax = max(c.peerMax, v); return nil }); err != nil {
		return Result{}, err
	}
	return Result{Reply: c.reject(v, why)}, why
}

// checkState runs the script engine over tx (spending the funding output)
// signed with sigs: both signatures are verified there. If it fails, the
// peer's signature is checked on its own so that a bad one is reported as
// ErrBadSignature.
func (c *Channel) checkState(tx *wire.MsgTx, sigs [2][]byte) error {
	if n := len(sigs[c.role.other()]); n != derSigLen {
		// The engine would take any low-S DER signature; a longer one
		// would make the state larger than both sides computed its fee on.
		return fmt.Errorf("%w: %d bytes, not a %d-byte ground signature", ErrBadSignature, n, derSigLen)
	}
	t := tx.Copy()
	t.TxIn[0].Witness = multisigWitness(c.t.fundWS, c.t.keys[0], sigs[0], c.t.keys[1], sigs[1])
	err := checkScripts(t, c.t.fetcher())
	if err == nil {
		return nil
	}
	remote := c.role.other()
	if verr := verify(c.t.keys[remote], sigs[remote], tx, 0, c.t.fundWS, int64(c.t.fundVal), c.t.fetcher()); verr != nil {
		return verr
	}
	return err
}

// commit makes st the newest state and records what its ops teach.
func (c *Channel) commit(st state, sigs [2][]byte, ops []Op, proposer Role) {
	c.cur, c.curSig = st, sigs
	for _, op := range ops {
		switch o := op.(type) {
		case AddHTLC:
			c.hist = append(c.hist, htlc{ID: o.ID, Offerer: proposer, Amount: o.Amount, Hash: o.Hash, Expiry: o.Expiry})
		case SettleHTLC:
			c.preimages = append(c.preimages, preimage{hash: sha256.Sum256(o.Preimage[:]), pre: o.Preimage})
		}
	}
}

func (c *Channel) onAck(m *MsgAck) (Result, error) {
	if c.pend == nil || m.Version != c.pend.st.Version {
		if m.Version <= c.cur.Version {
			return Result{}, nil // a duplicate
		}
		return Result{}, fmt.Errorf("%w: ack of %d, nothing pending", ErrVersion, m.Version)
	}
	p := c.pend
	tx, err := c.t.buildState(&p.st)
	if err != nil {
		return Result{}, err
	}
	remote := c.role.other()
	var sigs [2][]byte
	sigs[c.role], sigs[remote] = p.sig, m.Sig
	if err := c.checkState(tx, sigs); err != nil {
		return Result{}, err
	}
	if err := c.transact(func() error {
		c.commit(p.st, sigs, p.ops, c.role)
		c.pend = nil
		return nil
	}); err != nil {
		return Result{}, err
	}
	return Result{Update: &Update{Version: p.st.Version, Ops: p.ops}}, nil
}

func (c *Channel) onReject(m *MsgReject) (Result, error) {
	switch {
	case c.pend != nil && m.Version == c.pend.st.Version:
		dropped := c.pend.ops
		if err := c.transact(func() error { c.pend = nil; return nil }); err != nil {
			return Result{}, err
		}
		return Result{Dropped: dropped, Refused: m.Reason()}, nil
	case c.phase == PhaseClosing && m.Version == CloseVersion:
		// The peer holds our signature on a close of the newest state, so
		// we make no further state: propose another close, or ForceClose.
		return Result{Refused: m.Reason()}, nil
	}
	return Result{}, nil // stale: about something already settled
}

// Close proposes a cooperative close of the newest state at fee rate r (the
// opener pays the fee). It needs an open channel with no HTLCs and no
// proposal pending. The returned MsgClose carries our signature; the
// channel is closed when the peer's MsgClose arrives (Result.Close).
//
// Once we have signed a close, the channel makes no further state (the
// peer could complete that close at any time): if the peer refuses it,
// propose a close at another rate or ForceClose.
func (c *Channel) Close(r FeeRate) ([]byte, error) {
	if c.phase != PhaseOpen && c.phase != PhaseClosing {
		return nil, fmt.Errorf("%w: close in phase %v", ErrPhase, c.phase)
	}
	if c.pend != nil {
		return nil, ErrPending
	}
	if err := c.checkRate(r); err != nil {
		return nil, err
	}
	tx, err := c.t.buildClose(&c.cur, r)
	if err != nil {
		return nil, err
	}
	sig, err := sign(c.key, tx, 0, c.t.fundWS, int64(c.t.fundVal), c.t.fetcher())
	if err != nil {
		return nil, err
	}
	msg, err := marshal(&MsgClose{Channel: c.id, FeeRate: r, Sig: sig})
	if err != nil {
		return nil, err
	}
	if err := c.transact(func() error {
		c.cls = &closing{rate: r}
		c.cls.sig[c.role] = sig
		c.phase = PhaseClosing
		return nil
	}); err != nil {
		return nil, err
	}
	return msg, nil
}

func (c *Channel) checkRate(r FeeRate) error {
	if r < MinRelayFeeRate || r > c.cfg.MaxFeeRate {
		return fmt.Errorf("%w: %d sat/kvB, allowed %d to %d", ErrFeeRate, r, MinRelayFeeRate, c.cfg.MaxFeeRate)
	}
	return nil
}

func (c *Channel) onClose(m *MsgClose) (Result, error) {
	remote := c.role.other()
	switch {
	case c.phase == PhaseClosed && c.cls != nil && c.cls.rate == m.FeeRate:
		// A retransmission: answer with our signature again.
		reply, err := marshal(&MsgClose{Channel: c.id, FeeRate: c.cls.rate, Sig: c.cls.sig[c.role]})
		return Result{Reply: reply}, err
	case c.phase == PhaseClosing && c.cls.rate != m.FeeRate && c.role == Opener:
		// Both proposed, at different rates: the opener's rate wins and
		// the acceptor will countersign it.
		return Result{}, nil
	case c.phase != PhaseOpen && c.phase != PhaseClosing:
		err := fmt.Errorf("%w: close in phase %v", ErrPhase, c.phase)
		return Result{Reply: c.reject(CloseVersion, err)}, err
	}
	if err := c.checkRate(m.FeeRate); err != nil {
		return Result{Reply: c.reject(CloseVersion, err)}, err
	}
	tx, err := c.t.buildClose(&c.cur, m.FeeRate)
	if err != nil {
		return Result{Reply: c.reject(CloseVersion, err)}, err
	}
	fetch := c.t.fetcher()
	var sigs [2][]byte
	sigs[remote] = m.Sig
	answer := c.phase == PhaseOpen || c.cls.rate != m.FeeRate
	if answer {
		if sigs[c.role], err = sign(c.key, tx, 0, c.t.fundWS, int64(c.t.fundVal), fetch); err != nil {
			return Result{}, err
		}
	} else {
		sigs[c.role] = c.cls.sig[c.role]
	}
	if err := c.checkState(tx, sigs); err != nil {
		return Result{Reply: c.reject(CloseVersion, err)}, err
	}
	var res Result
	if answer {
		if res.Reply, err = marshal(&MsgClose{Channel: c.id, FeeRate: m.FeeRate, Sig: sigs[c.role]}); err != nil {
			return Result{}, err
		}
	}
	if c.pend != nil {
		res.Dropped = c.pend.ops
	}
	if err := c.transact(func() error {
		c.cls = &closing{rate: m.FeeRate, sig: sigs}
		c.phase = PhaseClosed
		c.pend = nil
		return nil
	}); err != nil {
		return Result{}, err
	}
	res.Close, _ = c.CloseTx()
	return res, nil
}

// CloseTx returns the cooperative close, signed by both, once the channel
// is closed cooperatively. It has no lock time and is final at once.
func (c *Channel) CloseTx() (*wire.MsgTx, error) {
	if c.cls == nil || c.cls.sig[0] == nil || c.cls.sig[1] == nil {
		return nil, fmt.Errorf("%w: no cooperative close", ErrPhase)
	}
	tx, err := c.t.buildClose(&c.cur, c.cls.rate)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = multisigWitness(c.t.fundWS, c.t.keys[0], c.cls.sig[0], c.t.keys[1], c.cls.sig[1])
	return tx, nil
}

// signedState returns the newest state signed by both, checked with the
// script engine.
func (c *Channel) signedState() (*wire.MsgTx, error) {
	if c.curSig[0] == nil || c.curSig[1] == nil {
		return nil, fmt.Errorf("%w: the refund is not signed by both yet", ErrPhase)
	}
	tx, err := c.t.buildState(&c.cur)
	if err != nil {
		return nil, err
	}
	tx.TxIn[0].Witness = multisigWitness(c.t.fundWS, c.t.keys[0], c.curSig[0], c.t.keys[1], c.curSig[1])
	if err := checkScripts(tx, c.t.fetcher()); err != nil {
		return nil, err
	}
	return tx, nil
}

// NewestState returns the newest state (the refund while no update was
// made), signed by both sides. It is valid on chain once the height reaches
// its nLockTime (Params.LockTime of Version()); broadcast it then, before
// any older state can be, to close unilaterally.
func (c *Channel) NewestState() (*wire.MsgTx, error) {
	if c.phase == PhaseOpening {
		return nil, fmt.Errorf("%w: not funded", ErrPhase)
	}
	return c.signedState()
}

// ForceClose stops the channel, so that it makes no further state, and
// returns the newest state to broadcast once its lock time is reached.
func (c *Channel) ForceClose() (*wire.MsgTx, error) {
	tx, err := c.NewestState()
	if err != nil {
		return nil, err
	}
	if err := c.transact(func() error { c.phase, c.pend = PhaseClosed, nil; return nil }); err != nil {
		return nil, err
	}
	return tx, nil
}

// PendingMessage returns our outstanding proposal (a MsgUpdate or MsgClose
// waiting for its answer), to send again after a reconnect or restart; nil
// if there is none. The peer answers a repeated message idempotently.
func (c *Channel) PendingMessage() []byte {
	var b []byte
	switch {
	case c.pend != nil:
		b, _ = marshal(&MsgUpdate{Channel: c.id, Version: c.pend.st.Version, Ops: c.pend.ops, Sig: c.pend.sig})
	case c.phase == PhaseClosing && c.cls != nil:
		b, _ = marshal(&MsgClose{Channel: c.id, FeeRate: c.cls.rate, Sig: c.cls.sig[c.role]})
	}
	return b
}

// ID returns the channel's ID.
func (c *Channel) ID() ID { return c.id }

// Role returns which side of the channel we are.
func (c *Channel) Role() Role { return c.role }

// Phase returns the channel's phase.
func (c *Channel) Phase() Phase { return c.phase }

// Params returns the channel's terms.
func (c *Channel) Params() Params { return c.t.p }

// Version returns the version of the newest state (0: the refund).
func (c *Channel) Version() uint32 { return c.cur.Version }

// Balance returns our and the peer's balance in the newest state, HTLCs in
// flight excluded.
func (c *Channel) Balance() (local, remote btcutil.Amount) {
	return c.cur.Balance[c.role], c.cur.Balance[c.role.other()]
}

// Spendable is what we can still pay or offer from the newest state.
func (c *Channel) Spendable() btcutil.Amount { return c.t.spendable(&c.cur, c.role) }

// Reserve is the part of the opener's balance it can never spend: its dust
// reserve, one spare output per HTLC slot, and the fee of the largest state
// at the channel's last version. It is known once the channel is accepted.
func (c *Channel) Reserve() btcutil.Amount { return c.t.reserve }

// HTLCs returns the live HTLCs of the newest state.
func (c *Channel) HTLCs() []HTLC {
	var out []HTLC
	for _, sl := range c.cur.Slots {
		if sl.live {
			out = append(out, c.export(sl.h))
		}
	}
	return out
}

func (c *Channel) export(h htlc) HTLC {
	return HTLC{ID: h.ID, Amount: h.Amount, Hash: h.Hash, Expiry: h.Expiry, Incoming: h.Offerer != c.role}
}

// FundingTx returns the funding transaction: unsigned until the phase is
// PhaseOpen, complete from then on.
func (c *Channel) FundingTx() *wire.MsgTx {
	if c.fundTx == nil {
		return nil
	}
	return c.fundTx.Copy()
}

// FundingOutPoint is the 2-of-2 output every state spends.
func (c *Channel) FundingOutPoint() wire.OutPoint { return c.t.fundOut }

// StatesLeft is how many more states can be made at the current height:
// each needs a lock time LockStep earlier than the last, and still in the
// future. When it runs low, close the channel and open a new one.
func (c *Channel) StatesLeft() uint32 {
	if c.t.p.LockStep == 0 {
		return 0
	}
	l, h := c.t.p.LockTime(c.cur.Version), c.cfg.Height()
	if l <= h {
		return 0
	}
	n := (l - h - 1) / c.t.p.LockStep
	if max := c.t.p.MaxVersion() - c.cur.Version; n > max {
		n = max
	}
	return n
}

// MinHTLCExpiry is the earliest CLTV expiry an HTLC added to this channel
// now may have: the next state's lock time plus HTLCMargin. Later states
// lock earlier, so the margin only grows while the HTLC lives.
func (c *Channel) MinHTLCExpiry() uint32 {
	return c.t.p.LockTime(c.cur.Version+1) + c.t.p.HTLCMargin
}

// Preimage returns a preimage of hash learned from a settled HTLC.
func (c *Channel) Preimage(hash [32]byte) ([32]byte, bool) {
	for _, p := range c.preimages {
		if p.hash == hash {
			return p.pre, true
		}
	}
	return [32]byte{}, false
}
