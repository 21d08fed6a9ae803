package channel_test

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/stretchr/testify/require"
)

func stateFee(ch *channel.Channel, tx *wire.MsgTx) btcutil.Amount {
	in := ch.FundingTx().TxOut[ch.FundingOutPoint().Index].Value
	for _, o := range tx.TxOut {
		in -= o.Value
	}
	return btcutil.Amount(in)
}

// vsize is the virtual size btcd's mempool measures.
func vsize(tx *wire.MsgTx) int64 { return mempool.GetTxVirtualSize(btcutil.NewTx(tx)) }

// feeRate is the fee rate btcd's mempool compares (sat/kvB, rounded down).
func feeRate(ch *channel.Channel, tx *wire.MsgTx) int64 {
	return int64(stateFee(ch, tx)) * 1000 / vsize(tx)
}

func TestOpenBuildsFundingAndRefundOnChain(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")

	la, ra := a.Balance()
	require.Equal(t, btcutil.Amount(1_000_000), la)
	require.Equal(t, btcutil.Amount(500_000), ra)
	lb, rb := b.Balance()
	require.Equal(t, la, rb)
	require.Equal(t, ra, lb)
	require.Equal(t, channel.Opener, a.Role())
	require.Equal(t, channel.Acceptor, b.Role())
	require.Equal(t, a.ID(), b.ID())

	// The funding output is a 2-of-2 P2WSH holding both contributions.
	fund := a.FundingTx()
	out := fund.TxOut[a.FundingOutPoint().Index]
	require.Equal(t, int64(1_500_000), out.Value)
	require.Len(t, out.PkScript, 34)
	require.Equal(t, byte(0), out.PkScript[0])
	for _, in := range fund.TxIn {
		require.Empty(t, in.SignatureScript, "segwit inputs only: the txid cannot change")
	}

	// The refund is version 0, pays each side its contribution (the opener
	// less the fee) and is not final until OpenHeight+Lifetime.
	refund, err := a.NewestState()
	require.NoError(t, err)
	requireScriptValid(t, refund, fundingPrevOut(a))
	p := a.Params()
	require.Equal(t, p.RefundLockTime(), refund.LockTime)
	require.Equal(t, uint32(1<<31), refund.TxIn[0].Sequence)
	require.Equal(t, btcutil.Amount(500_000), paidTo(refund, payout("b")))
	require.Equal(t, 1_000_000-stateFee(a, refund), paidTo(refund, payout("a")))

	err = w.chain.Broadcast(w.ctx, refund)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.ErrorIs(t, err, channel.ErrNonFinal)
	w.mineTo(p.RefundLockTime())
	require.NoError(t, w.chain.Broadcast(w.ctx, refund))
}

func TestRefundIsCountersignedBeforeFundingIsSigned(t *testing.T) {
	w := newWorld(t)
	ctrA, ctrB := w.contribution("a", 1_000_000), w.contribution("b", 500_000)
	ca, open, err := channel.Open(w.cfg(), ctrA)
	require.NoError(t, err)
	cb, accept, err := channel.Accept(w.cfg(), open, ctrB)
	require.NoError(t, err)

	// The acceptor has signed the refund, nobody has signed the funding.
	for _, in := range cb.FundingTx().TxIn {
		require.Empty(t, in.Witness)
	}
	_, err = cb.NewestState()
	require.ErrorIs(t, err, channel.ErrPhase, "the acceptor lacks the opener's refund signature")

	// The opener checks the acceptor's refund signature, and only then
	// signs the refund and its own funding input.
	res, err := ca.Receive(accept)
	require.NoError(t, err)
	refund, err := ca.NewestState()
	require.NoError(t, err)
	requireScriptValid(t, refund, fundingPrevOut(ca))
	signed := 0
	for _, in := range ca.FundingTx().TxIn {
		if len(in.Witness) > 0 {
			signed++
		}
	}
	require.Equal(t, 1, signed, "the opener signed its input only")

	// A tampered refund signature from the opener: the acceptor refuses and
	// signs nothing of its own.
	var m channel.MsgFundingSigs
	require.NoError(t, m.UnmarshalBinary(res.Reply))
	m.RefundSig = append([]byte{}, m.RefundSig...)
	m.RefundSig[10] ^= 1
	bad, err := m.MarshalBinary()
	require.NoError(t, err)
	_, err = cb.Receive(bad)
	require.ErrorIs(t, err, channel.ErrBadSignature)
	for _, in := range cb.FundingTx().TxIn {
		require.Empty(t, in.Witness)
	}
	require.Equal(t, channel.PhaseFunding, cb.Phase())

	// The genuine message completes the funding on both sides.
	resB, err := cb.Receive(res.Reply)
	require.NoError(t, err)
	resA, err := ca.Receive(resB.Reply)
	require.NoError(t, err)
	require.Equal(t, resA.Funding.TxHash(), resB.Funding.TxHash())
	prev := map[wire.OutPoint]*wire.TxOut{}
	for _, in := range resA.Funding.TxIn {
		o, ok := w.chain.UTXO(in.PreviousOutPoint)
		require.True(t, ok)
		prev[in.PreviousOutPoint] = o
	}
	requireScriptValid(t, resA.Funding, prev)
	require.NoError(t, w.chain.Broadcast(w.ctx, resA.Funding))
}

func TestFundingFromNonSegwitInputIsRefused(t *testing.T) {
	w := newWorld(t)
	c := w.contribution("a", 1_000_000)
	// A P2PKH output: its signature script would be part of the txid.
	c.Inputs[0].PrevOut.PkScript = append([]byte{0x76, 0xa9, 0x14}, append(make([]byte, 20), 0x88, 0xac)...)
	_, _, err := channel.Open(w.cfg(), c)
	require.ErrorIs(t, err, channel.ErrNotSegwit)
}

func TestManyUpdatesBothWaysAreValidAndEachWinsOverOlderOnes(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	p := a.Params()

	refund, err := a.NewestState()
	require.NoError(t, err)
	states := []*wire.MsgTx{refund}
	wantA, wantB := btcutil.Amount(1_000_000), btcutil.Amount(500_000)
	for i := range 150 {
		if i%3 == 2 {
			amt := btcutil.Amount(700 + i)
			update(t, b, a, channel.Pay{Amount: amt})
			wantA, wantB = wantA+amt, wantB-amt
		} else {
			amt := btcutil.Amount(1000 + i)
			update(t, a, b, channel.Pay{Amount: amt})
			wantA, wantB = wantA-amt, wantB+amt
		}
		sa, err := a.NewestState()
		require.NoError(t, err)
		if i%10 == 0 {
			sb, err := b.NewestState()
			require.NoError(t, err)
			require.Equal(t, sa.WitnessHash(), sb.WitnessHash(), "both sides hold the same signed state")
		}
		requireScriptValid(t, sa, fundingPrevOut(a))
		states = append(states, sa)
	}
	la, ra := a.Balance()
	require.Equal(t, wantA, la)
	require.Equal(t, wantB, ra)
	require.EqualValues(t, 150, a.Version())
	require.EqualValues(t, 150, b.Version())

	newest := states[len(states)-1]
	require.Equal(t, wantB, paidTo(newest, payout("b")))
	require.Equal(t, wantA-stateFee(a, newest), paidTo(newest, payout("a")))

	// Every state beats every older one: earlier lock time, higher
	// sequence with bit 31 set, higher absolute fee and fee rate, as btcd
	// measures them on the signed transactions.
	for v, s := range states {
		require.Equal(t, p.LockTime(uint32(v)), s.LockTime)
		require.Equal(t, 1<<31|uint32(v), s.TxIn[0].Sequence)
		require.Equal(t, int32(2), s.Version)
		if v == 0 {
			continue
		}
		old := states[v-1]
		require.Equal(t, old.LockTime-p.LockStep, s.LockTime)
		require.Greater(t, s.TxIn[0].Sequence, old.TxIn[0].Sequence)
		require.Greater(t, stateFee(a, s), stateFee(a, old))
		require.Greater(t, feeRate(a, s), feeRate(a, old), "fee rate of version %d", v)
		require.GreaterOrEqual(t, feeRate(a, s), int64(p.StateFeeRate(uint32(v))))
	}
}

func TestHTLCSettlesByPreimageAcrossTwoHops(t *testing.T) {
	w := newWorld(t)
	ab, ba := w.pair("a", "b1") // A opens to B
	bc, cb := w.pair("b2", "c") // B opens to C
	pre, hash := preimageOf("payment for C")

	// The payer chooses expiries: decreasing toward the payee by a margin,
	// and each after its channel's next lock time plus HTLCMargin.
	const delta = 40
	exp := channel.PathExpiries([]uint32{ab.MinHTLCExpiry(), bc.MinHTLCExpiry()}, delta)
	require.GreaterOrEqual(t, exp[0], exp[1]+delta)

	// A offers to B; B, seeing an incoming HTLC, offers the same hash to C.
	u := update(t, ab, ba, channel.AddHTLC{Amount: 10_100, Hash: hash, Expiry: exp[0]})
	idAB := u.Ops[0].(channel.AddHTLC).ID
	in := ba.HTLCs()
	require.Len(t, in, 1)
	require.True(t, in[0].Incoming)
	require.Equal(t, hash, in[0].Hash)
	u = update(t, bc, cb, channel.AddHTLC{Amount: 10_000, Hash: hash, Expiry: exp[1]})
	idBC := u.Ops[0].(channel.AddHTLC).ID

	// Every state with the HTLCs is valid under the script engine.
	for _, ch := range []*channel.Channel{ab, bc} {
		s, err := ch.NewestState()
		require.NoError(t, err)
		requireScriptValid(t, s, fundingPrevOut(ch))
	}

	// C settles with the preimage; B learns it and settles upstream.
	_, msg, err := cb.Propose(channel.SettleHTLC{ID: idBC, Preimage: pre})
	require.NoError(t, err)
	res := deliver(t, bc, cb, msg)
	require.Equal(t, channel.SettleHTLC{ID: idBC, Preimage: pre}, res.Update.Ops[0])
	learned, ok := bc.Preimage(hash)
	require.True(t, ok)
	require.Equal(t, pre, learned)
	update(t, ba, ab, channel.SettleHTLC{ID: idAB, Preimage: learned})

	la, _ := ab.Balance()
	require.Equal(t, btcutil.Amount(1_000_000-10_100), la)
	lb1, _ := ba.Balance()
	require.Equal(t, btcutil.Amount(500_000+10_100), lb1)
	lb2, _ := bc.Balance()
	require.Equal(t, btcutil.Amount(1_000_000-10_000), lb2)
	lc, _ := cb.Balance()
	require.Equal(t, btcutil.Amount(500_000+10_000), lc)
	require.Empty(t, ab.HTLCs())
	require.Empty(t, bc.HTLCs())
	p, ok := ab.Preimage(hash)
	require.True(t, ok)
	require.Equal(t, pre, p)
}

func TestHTLCClaimedOnChainWithPreimage(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	pre, hash := preimageOf("claim on chain")
	update(t, a, b, channel.AddHTLC{Amount: 20_000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	update(t, a, b, channel.Pay{Amount: 1_000})

	// A stops answering; B closes with the newest state and claims.
	state, err := b.ForceClose()
	require.NoError(t, err)
	require.Equal(t, channel.PhaseClosed, b.Phase())
	w.mineTo(state.LockTime)
	require.NoError(t, w.chain.Broadcast(w.ctx, state))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())

	outs, err := b.HTLCOutputs(state)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.True(t, outs[0].HTLC.Incoming)
	dest := channel.P2WPKH(key("b sweep").PubKey())
	claim, err := b.ClaimHTLC(outs[0], pre, dest, 2000)
	require.NoError(t, err)
	requireScriptValid(t, claim, outputsOf(state))
	require.NoError(t, w.chain.Broadcast(w.ctx, claim), "valid at once, long before the expiry")

	// A, watching the HTLC output, learns the preimage from B's claim.
	spend, err := w.chain.WatchSpend(w.ctx, outs[0].OutPoint, 0)
	require.NoError(t, err)
	got, ok := channel.ExtractPreimage(spend, hash)
	require.True(t, ok)
	require.Equal(t, pre, got)

	// The wrong preimage cannot even be built into a claim.
	_, err = b.ClaimHTLC(outs[0], [32]byte{1}, dest, 2000)
	require.ErrorIs(t, err, channel.ErrBadPreimage)
}

func TestHTLCTimesOutBackToOfferer(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, hash := preimageOf("never revealed")
	u := update(t, a, b, channel.AddHTLC{Amount: 30_000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	expiry := u.Ops[0].(channel.AddHTLC).Expiry

	state, err := a.ForceClose()
	require.NoError(t, err)
	w.mineTo(state.LockTime)
	require.NoError(t, w.chain.Broadcast(w.ctx, state))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())
	require.Less(t, w.height(), expiry)

	outs, err := a.HTLCOutputs(state)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	require.False(t, outs[0].HTLC.Incoming)
	dest := channel.P2WPKH(key("a sweep").PubKey())
	timeout, err := a.TimeoutHTLC(outs[0], dest, 2000)
	require.NoError(t, err)
	require.Equal(t, expiry, timeout.LockTime)
	requireScriptValid(t, timeout, outputsOf(state))

	err = w.chain.Broadcast(w.ctx, timeout)
	require.ErrorIs(t, err, channel.ErrNonFinal, "the timeout is not valid before the expiry")
	w.mineTo(expiry)
	require.NoError(t, w.chain.Broadcast(w.ctx, timeout))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())
	out, ok := w.chain.UTXO(wire.OutPoint{Hash: timeout.TxHash(), Index: 0})
	require.True(t, ok)
	require.Greater(t, out.Value, int64(29_000))

	// The receiver can no longer claim it: the output is spent.
	_, err = b.ClaimHTLC(outs[0], [32]byte{}, dest, 2000)
	require.Error(t, err)
}

func TestCooperativeCloseIsFinalAtOnce(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	for range 10 {
		update(t, a, b, channel.Pay{Amount: 5_000})
	}
	update(t, b, a, channel.Pay{Amount: 1_234})

	msg, err := b.Close(3000)
	require.NoError(t, err)
	require.Equal(t, channel.PhaseClosing, b.Phase())
	_, err = b.Pay(1)
	require.ErrorIs(t, err, channel.ErrPhase, "no state after a close is proposed")
	resA, err := a.Receive(msg)
	require.NoError(t, err)
	require.NotNil(t, resA.Close)
	resB, err := b.Receive(resA.Reply)
	require.NoError(t, err)
	require.NotNil(t, resB.Close)
	require.Equal(t, resA.Close.WitnessHash(), resB.Close.WitnessHash())
	require.Equal(t, channel.PhaseClosed, a.Phase())

	tx := resA.Close
	require.Zero(t, tx.LockTime)
	require.Equal(t, wire.MaxTxInSequenceNum, tx.TxIn[0].Sequence)
	requireScriptValid(t, tx, fundingPrevOut(a))
	require.Equal(t, btcutil.Amount(500_000+50_000-1_234), paidTo(tx, payout("b")))
	require.NoError(t, w.chain.Broadcast(w.ctx, tx))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())

	// Every state is now a double spend.
	w.mineTo(a.Params().RefundLockTime())
	refundish, err := a.NewestState()
	require.NoError(t, err)
	require.ErrorIs(t, w.chain.Broadcast(w.ctx, refundish), channel.ErrDoubleSpend)
}

func TestCooperativeCloseWaitsForHTLCs(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, hash := preimageOf("x")
	update(t, a, b, channel.AddHTLC{Amount: 1000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	_, err := a.Close(2000)
	require.ErrorIs(t, err, channel.ErrHTLCsPending)
}

func TestUnilateralCloseWithNewestState(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	for range 5 {
		update(t, a, b, channel.Pay{Amount: 10_000})
	}
	state, err := b.ForceClose()
	require.NoError(t, err)
	require.EqualValues(t, 5, b.Version())
	require.Equal(t, b.Params().LockTime(5), state.LockTime)

	require.ErrorIs(t, w.chain.Broadcast(w.ctx, state), channel.ErrNonFinal)
	w.mineTo(state.LockTime - 1)
	require.ErrorIs(t, w.chain.Broadcast(w.ctx, state), channel.ErrNonFinal, "one block early")
	w.mineTo(state.LockTime)
	require.NoError(t, w.chain.Broadcast(w.ctx, state))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())
	n, err := w.chain.Confirmations(w.ctx, state.TxHash())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	out, ok := w.chain.UTXO(wire.OutPoint{Hash: state.TxHash(), Index: 1})
	require.True(t, ok)
	require.Equal(t, int64(550_000), out.Value)
	_, err = b.Pay(1)
	require.ErrorIs(t, err, channel.ErrPhase)
}

func TestOldStateLosesToNewest(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	var states []*wire.MsgTx
	for range 5 {
		update(t, b, a, channel.Pay{Amount: 50_000})
		s, err := a.NewestState()
		require.NoError(t, err)
		states = append(states, s)
	}
	oldest, newest := states[0], states[4]
	require.Less(t, newest.LockTime, oldest.LockTime)
	require.Greater(t, stateFee(a, newest), stateFee(a, oldest))

	// B would like version 1 (it had 200,000 more). When the newest state
	// becomes final, every older one still is not.
	w.mineTo(newest.LockTime)
	for _, old := range states[:4] {
		require.ErrorIs(t, w.chain.Broadcast(w.ctx, old), channel.ErrNonFinal)
	}
	require.NoError(t, w.chain.Broadcast(w.ctx, newest))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())

	// Later, when the old state is final, it is a double spend.
	w.mineTo(oldest.LockTime)
	err := w.chain.Broadcast(w.ctx, oldest)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.ErrorIs(t, err, channel.ErrDoubleSpend)
	spend, err := w.chain.WatchSpend(w.ctx, a.FundingOutPoint(), 0)
	require.NoError(t, err)
	require.Equal(t, newest.TxHash(), spend.TxHash())
}

func TestForgedOrTamperedStateIsRefused(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	update(t, a, b, channel.Pay{Amount: 1000})

	propose := func(ops ...channel.Op) *channel.MsgUpdate {
		_, msg, err := a.Propose(ops...)
		require.NoError(t, err)
		var m channel.MsgUpdate
		require.NoError(t, m.UnmarshalBinary(msg))
		return &m
	}
	refused := func(m channel.Message, want error) {
		t.Helper()
		raw, err := m.MarshalBinary()
		require.NoError(t, err)
		before := b.Version()
		res, err := b.Receive(raw)
		require.ErrorIs(t, err, want)
		require.Equal(t, before, b.Version(), "the state did not move")
		if res.Reply != nil {
			var rej channel.MsgReject
			require.NoError(t, rej.UnmarshalBinary(res.Reply))
			require.ErrorIs(t, rej.Reason(), want)
		}
	}

	// Tampered amount: A signed a payment of 2000, the message says 200000.
	m := propose(channel.Pay{Amount: 2000})
	genuine := *m
	m.Ops = []channel.Op{channel.Pay{Amount: 200_000}}
	refused(m, channel.ErrBadSignature)

	// Forged: the right state, signed by a stranger's key.
	forged := genuine
	forged.Sig = fakeSig(t)
	refused(&forged, channel.ErrBadSignature)

	// Corrupted signature bytes.
	broken := genuine
	broken.Sig = append([]byte{}, genuine.Sig...)
	broken.Sig[len(broken.Sig)-1] ^= 0x40
	refused(&broken, channel.ErrBadSignature)

	// Replayed with the wrong version.
	wrongV := genuine
	wrongV.Version += 3
	refused(&wrongV, channel.ErrVersion)

	// The genuine proposal still goes through afterwards.
	res, err := b.Receive(marshalT(t, &genuine))
	require.NoError(t, err)
	require.NotNil(t, res.Update)

	// A forged countersignature: A does not accept it and stays pending.
	var ack channel.MsgAck
	require.NoError(t, ack.UnmarshalBinary(res.Reply))
	ack.Sig = fakeSig(t)
	_, err = a.Receive(marshalT(t, &ack))
	require.ErrorIs(t, err, channel.ErrBadSignature)
	require.EqualValues(t, 1, a.Version())
	_, err = a.Receive(res.Reply)
	require.NoError(t, err)
	require.EqualValues(t, 2, a.Version())

	// Money that is not there, and a wrong preimage.
	_, _, err = a.Propose(channel.Pay{Amount: 10_000_000})
	require.ErrorIs(t, err, channel.ErrInsufficientFunds)
	_, hash := preimageOf("h")
	u := update(t, a, b, channel.AddHTLC{Amount: 5000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	id := u.Ops[0].(channel.AddHTLC).ID
	_, _, err = b.Propose(channel.SettleHTLC{ID: id, Preimage: [32]byte{7}})
	require.ErrorIs(t, err, channel.ErrBadPreimage)
	// The offerer may not settle its own HTLC to itself off-chain.
	_, _, err = a.Propose(channel.FailHTLC{ID: id})
	require.ErrorIs(t, err, channel.ErrUnknownHTLC)

	// A proposal for another channel.
	_, c := w.pair("x", "y")
	_, err = c.Receive(marshalT(t, &genuine))
	require.ErrorIs(t, err, channel.ErrWrongChannel)
}

// fakeSig is a valid DER signature by an unrelated key.
func fakeSig(t *testing.T) []byte {
	h := sha256.Sum256([]byte("something else"))
	return ecdsaSign(key("mallory"), h[:])
}

func marshalT(t *testing.T, m channel.Message) []byte {
	b, err := m.MarshalBinary()
	require.NoError(t, err)
	return b
}

func TestRejectedProposalIsDroppedByProposer(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, msg, err := a.Propose(channel.Pay{Amount: 1000})
	require.NoError(t, err)
	_, _, err = a.Propose(channel.Pay{Amount: 1})
	require.ErrorIs(t, err, channel.ErrPending)

	// B proposes a close meanwhile, so it refuses the update.
	closeMsg, err := b.Close(2000)
	require.NoError(t, err)
	res, err := b.Receive(msg)
	require.ErrorIs(t, err, channel.ErrPhase)
	got, err := a.Receive(res.Reply)
	require.NoError(t, err)
	require.Equal(t, []channel.Op{channel.Pay{Amount: 1000}}, got.Dropped)
	require.ErrorIs(t, got.Refused, channel.ErrPhase)

	// The close proceeds.
	deliver(t, a, b, closeMsg)
	require.Equal(t, channel.PhaseClosed, a.Phase())
	require.Equal(t, channel.PhaseClosed, b.Phase())
}

func TestCrossedProposalsAreBothDroppedAndNoVersionIsSignedTwice(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, fromA, err := a.Propose(channel.Pay{Amount: 1000})
	require.NoError(t, err)
	_, fromB, err := b.Propose(channel.Pay{Amount: 2000})
	require.NoError(t, err)

	// The messages cross. Each side has signed a state of version 1 and
	// countersigns no other: both refuse.
	resA, err := a.Receive(fromB)
	require.ErrorIs(t, err, channel.ErrConflict)
	resB, err := b.Receive(fromA)
	require.ErrorIs(t, err, channel.ErrConflict)
	dropA, err := a.Receive(resB.Reply)
	require.NoError(t, err)
	require.Equal(t, []channel.Op{channel.Pay{Amount: 1000}}, dropA.Dropped)
	require.ErrorIs(t, dropA.Refused, channel.ErrConflict)
	dropB, err := b.Receive(resA.Reply)
	require.NoError(t, err)
	require.Equal(t, []channel.Op{channel.Pay{Amount: 2000}}, dropB.Dropped)
	require.EqualValues(t, 0, a.Version())

	// The next state takes version 2, so it outranks both half-signed
	// version-1 states on chain, whoever completes one.
	u := update(t, a, b, dropA.Dropped...)
	require.EqualValues(t, 2, u.Version)
	u = update(t, b, a, dropB.Dropped...)
	require.EqualValues(t, 3, u.Version)
	la, _ := a.Balance()
	require.Equal(t, btcutil.Amount(1_000_000-1000+2000), la)
	s, err := a.NewestState()
	require.NoError(t, err)
	require.Equal(t, a.Params().LockTime(3), s.LockTime)
}

func TestRefusedProposalIsOutrankedByTheNextState(t *testing.T) {
	w := newWorld(t)
	skew := uint32(0)
	cfgB := w.cfg()
	cfgB.Height = func() uint32 { return w.height() + skew }
	a, b := w.open(w.cfg(), cfgB, w.contribution("a", 1_000_000), w.contribution("b", 500_000))

	// B's node runs far ahead, so B refuses A's state as already final.
	// B still holds A's signature on it.
	_, msg, err := a.Propose(channel.Pay{Amount: 100_000})
	require.NoError(t, err)
	skew = 10_000
	res, err := b.Receive(msg)
	require.ErrorIs(t, err, channel.ErrExhausted)
	skew = 0
	got, err := a.Receive(res.Reply)
	require.NoError(t, err)
	require.Equal(t, []channel.Op{channel.Pay{Amount: 100_000}}, got.Dropped)
	require.ErrorIs(t, got.Refused, channel.ErrExhausted)

	// A's next state is version 2, not another version 1: the half-signed
	// version 1 can never beat it on chain.
	u := update(t, a, b, channel.Pay{Amount: 10})
	require.EqualValues(t, 2, u.Version)
	_, err = b.Receive(msg)
	require.ErrorIs(t, err, channel.ErrVersion, "version 1 is stale now")
}

func TestVersionsCannotJumpAhead(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, msg, err := a.Propose(channel.Pay{Amount: 1000})
	require.NoError(t, err)
	var m channel.MsgUpdate
	require.NoError(t, m.UnmarshalBinary(msg))
	m.Version = 50 // would burn the state budget
	_, err = b.Receive(marshalT(t, &m))
	require.ErrorIs(t, err, channel.ErrVersion)
}

func TestRetransmittedUpdateIsAnsweredAgain(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	_, msg, err := a.Propose(channel.Pay{Amount: 1000})
	require.NoError(t, err)
	first, err := b.Receive(msg)
	require.NoError(t, err)
	// The ack is lost; A sends its pending proposal again.
	require.Equal(t, msg, a.PendingMessage())
	again, err := b.Receive(a.PendingMessage())
	require.NoError(t, err)
	require.Nil(t, again.Update, "nothing new")
	require.Equal(t, first.Reply, again.Reply)
	_, err = a.Receive(again.Reply)
	require.NoError(t, err)
	require.EqualValues(t, 1, a.Version())
	require.Nil(t, a.PendingMessage())
}

func TestStatesRunOutAtTheLockTimeFloor(t *testing.T) {
	w := newWorld(t)
	cfg := w.cfg()
	cfg.Lifetime, cfg.LockStep = 21, 2
	a, b := w.open(cfg, w.cfg(), w.contribution("a", 1_000_000), w.contribution("b", 0))
	p := a.Params()
	require.EqualValues(t, 10, p.MaxVersion())
	// One block was mined since the open: one state fewer fits.
	require.EqualValues(t, 9, a.StatesLeft())
	for a.StatesLeft() > 0 {
		update(t, a, b, channel.Pay{Amount: 1000})
	}
	require.EqualValues(t, 9, a.Version())
	_, _, err := a.Propose(channel.Pay{Amount: 1000})
	require.ErrorIs(t, err, channel.ErrExhausted)
	require.Greater(t, p.LockTime(a.Version()), w.height(), "the newest state still locks in the future")

	// Time uses states up too: two blocks later one fewer remains.
	c, d := w.open(cfg, w.cfg(), w.contribution("c", 1_000_000), w.contribution("d", 0))
	left := c.StatesLeft()
	w.chain.MineTo(2, simchain.AnyoneCanSpendScript())
	require.Equal(t, left-1, c.StatesLeft())
	_ = d
}

func TestSingleFundedChannelCarriesSubDustCreditUntilItIsAnOutput(t *testing.T) {
	w := newWorld(t)
	a, b := w.open(w.cfg(), w.cfg(), w.contribution("a", 1_000_000), w.contribution("b", 0))
	refund, err := a.NewestState()
	require.NoError(t, err)
	require.Len(t, refund.TxOut, 1, "the acceptor has no output yet")

	update(t, a, b, channel.Pay{Amount: 300})
	s, err := a.NewestState()
	require.NoError(t, err)
	require.Len(t, s.TxOut, 1, "300 sat is below the dust limit: a credit")
	_, rb := a.Balance()
	require.Equal(t, btcutil.Amount(300), rb)
	require.Equal(t, btcutil.Amount(300), b.Spendable())

	update(t, a, b, channel.Pay{Amount: 300})
	s, err = a.NewestState()
	require.NoError(t, err)
	require.Len(t, s.TxOut, 2)
	require.Equal(t, btcutil.Amount(600), paidTo(s, payout("b")))
	require.Equal(t, btcutil.Amount(600-546), b.Spendable(), "the acceptor keeps the dust limit as reserve")
	requireScriptValid(t, s, fundingPrevOut(a))

	_, _, err = b.Propose(channel.Pay{Amount: 100})
	require.ErrorIs(t, err, channel.ErrInsufficientFunds)
	_, _, err = a.Propose(channel.Pay{Amount: 1_000_000 - a.Reserve()})
	require.ErrorIs(t, err, channel.ErrInsufficientFunds)
}

func TestResolvedHTLCLeavesASpareSoStatesNeverShrink(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	pre, hash := preimageOf("p")
	var prev *wire.MsgTx
	sizeOK := func() {
		s, err := a.NewestState()
		require.NoError(t, err)
		requireScriptValid(t, s, fundingPrevOut(a))
		if prev != nil {
			require.GreaterOrEqual(t, vsize(s), vsize(prev))
			require.Greater(t, stateFee(a, s), stateFee(a, prev))
			require.Greater(t, feeRate(a, s), feeRate(a, prev))
		}
		prev = s
	}
	sizeOK()
	u := update(t, a, b, channel.AddHTLC{Amount: 2000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	sizeOK()
	u2 := update(t, b, a, channel.AddHTLC{Amount: 3000, Hash: hash, Expiry: b.MinHTLCExpiry()})
	sizeOK()
	require.Len(t, prev.TxOut, 4)
	update(t, b, a, channel.SettleHTLC{ID: u.Ops[0].(channel.AddHTLC).ID, Preimage: pre})
	sizeOK()
	update(t, a, b, channel.FailHTLC{ID: u2.Ops[0].(channel.AddHTLC).ID})
	sizeOK()
	require.Len(t, prev.TxOut, 4, "two spares of the dust limit remain")
	require.Equal(t, btcutil.Amount(2*546), paidTo(prev, spareScript("a")))
	update(t, a, b, channel.AddHTLC{Amount: 4000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	sizeOK()
	require.Len(t, prev.TxOut, 4, "a new HTLC takes a spare's place")
	la, lb := a.Balance()
	require.Equal(t, btcutil.Amount(1_000_000-2000-4000), la, "paid 2000 by preimage, 4000 in flight")
	require.Equal(t, btcutil.Amount(500_000+2000), lb, "its own 3000 came back")
}

func TestForgedCloseSignatureIsRefused(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	update(t, a, b, channel.Pay{Amount: 1000})
	msg, err := b.Close(2000)
	require.NoError(t, err)
	var m channel.MsgClose
	require.NoError(t, m.UnmarshalBinary(msg))
	m.Sig = fakeSig(t)
	res, err := a.Receive(marshalT(t, &m))
	require.ErrorIs(t, err, channel.ErrBadSignature)
	require.Nil(t, res.Close)
	require.Equal(t, channel.PhaseOpen, a.Phase(), "A signed nothing")
	// A rate A's policy does not allow is refused too.
	m.FeeRate, m.Sig = 10_000_000, nil
	_, err = a.Receive(marshalT(t, &m))
	require.ErrorIs(t, err, channel.ErrFeeRate)
	// The genuine one closes.
	res, err = a.Receive(msg)
	require.NoError(t, err)
	require.NotNil(t, res.Close)
}
