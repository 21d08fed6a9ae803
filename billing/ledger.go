package billing

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// This file is the loop's side of the accounts: folding the meters in,
// asking for payment, cutting off, paying, and driving the channels.
// Every function here runs on the loop.

// account is this node's standing with one neighbour. The loop owns every
// field; the data path sees only the tally.
type account struct {
	t          *tally
	link       Link  // the live link to the neighbour, nil while there is none
	owedToUs   int64 // millisatoshis metered and not yet paid to us
	owedByUs   int64 // millisatoshis metered and not yet paid by us
	paidToUs   int64 // satoshis received over the channel, ever
	paidByUs   int64 // satoshis paid over the channel, ever
	asked      bool  // a payment request is unanswered (since askedAt)
	askedAt    time.Time
	cutOff     bool
	ch         *channel.Channel
	ready      bool     // the funding has MinConfirmations
	opening    bool     // we are opening a channel
	confirming bool     // the funding is waited for (polled on ticks)
	funding    [32]byte // its txid
	inFlight   int64    // satoshis proposed and not yet acknowledged
	askedOfUs  int64    // satoshis the neighbour last asked for, not yet paid
}

func (e *Engine) acct(id addr.NodeID) *account {
	a := e.accts[id]
	if a == nil {
		a = &account{t: e.tally(id)}
		e.accts[id] = a
	}
	return a
}

func (a *account) peer() string { return a.t.id.String() }

// fold moves what the meters counted into the ledgers, and acts on the
// accounts that now owe us more.
func (e *Engine) fold() {
	e.tallies.Range(func(_, v any) bool {
		t := v.(*tally)
		to, by := t.toUs.Swap(0), t.byUs.Swap(0)
		if to == 0 && by == 0 {
			return true
		}
		a := e.acct(t.id)
		a.owedToUs += to
		a.owedByUs += by
		if to != 0 {
			e.check(a)
		}
		return true
	})
}

// check asks a neighbour to pay once it owes a chunk (one request at a
// time: the next once this one is paid, or again if no payment came
// within reaskAfter), or cuts it off past its credit.
func (e *Engine) check(a *account) {
	owed := a.owedToUs / 1000
	switch {
	case owed > e.cfg.CreditLimit && !a.cutOff:
		e.cut(a)
	case owed >= e.cfg.Chunk && (!a.asked || e.now().Sub(a.askedAt) > reaskAfter):
		a.asked, a.askedAt = true, e.now()
		if a.link != nil {
			a.link.Send(&wire.PaymentRequest{Owed: uint64(owed)})
		}
	}
	e.renudge(a)
}

// renudge tells the meters when the loop must look at a again.
func (e *Engine) renudge(a *account) {
	at := nudgeAt(a.owedToUs, e.cfg.Chunk, e.cfg.CreditLimit, a.asked, a.cutOff)
	a.t.nudge.Store(at)
	if a.t.toUs.Load() >= at {
		select {
		case e.nudge <- struct{}{}:
		default:
		}
	}
}

// cut stops relaying for a neighbour past its credit limit: its circuits
// are stopped (on a goroutine: closing streams is I/O) and the data path
// refuses it from now on.
func (e *Engine) cut(a *account) {
	a.cutOff = true
	a.t.cutOff.Store(true)
	e.cutOffs.Add(1)
	e.log.Warn("neighbour past its credit limit: relaying for it stops", "peer", a.peer())
	a.t.mu.Lock()
	stops := make([]func(), 0, len(a.t.circuits))
	for m := range a.t.circuits {
		if m.stop != nil {
			stops = append(stops, m.stop)
		}
	}
	a.t.mu.Unlock()
	if len(stops) == 0 {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for _, stop := range stops {
			stop()
		}
	}()
}

// linkUp attaches a link and resends a proposal the channel had not seen
// through: the neighbour answers a retransmitted update again.
func (e *Engine) linkUp(l Link) {
	a := e.acct(l.ID())
	a.link = l
	if a.ch == nil {
		return
	}
	if pending := a.ch.PendingMessage(); pending != nil {
		a.inFlight = max(a.inFlight, 1) // no new payment until it is settled
		l.Send(&wire.ChannelMessage{Payload: pending})
	}
}

// onPaymentRequest pays what the asker asks, but never more than our own
// metering says we owe (both sides meter the same bytes, so a request that
// crossed a payment in flight finds nothing owed); it opens a channel
// first if there is none. A request that cannot be paid yet (no channel,
// or a payment in flight) is paid as soon as it can be: when the channel
// is ready or the payment before it is acknowledged. Waiting for the
// asker to ask again would let a fast connection run past its credit.
func (e *Engine) onPaymentRequest(l Link, m *wire.PaymentRequest) {
	e.fold()
	a := e.acct(l.ID())
	a.askedOfUs = int64(min(m.Owed, math.MaxInt64))
	e.pay(a)
}

// pay pays a neighbour what it asked for, if it can now.
func (e *Engine) pay(a *account) {
	ours := a.owedByUs/1000 - a.inFlight
	pay := min(a.askedOfUs, ours)
	if pay <= 0 || a.link == nil || !e.heightKnown {
		return
	}
	if a.ch == nil {
		if !a.opening && e.cfg.Wallet != nil {
			a.opening = true
			e.open(a)
		}
		return
	}
	if !a.ready || a.inFlight > 0 {
		return // paid when ready, or acknowledged
	}
	msg, err := a.ch.Pay(btcutil.Amount(pay))
	if err != nil {
		e.log.Warn("cannot pay neighbour", "peer", a.peer(), "amount", pay, "err", err)
		return
	}
	a.inFlight = pay
	e.log.Debug("paying neighbour", "peer", a.peer(), "amount", pay, "asked", a.askedOfUs, "metered", a.owedByUs/1000)
	a.askedOfUs = 0
	a.link.Send(&wire.ChannelMessage{Payload: msg})
}

// open funds a channel to a neighbour on a goroutine of its own (the
// wallet and the chain may be slow), then opens it on the loop.
func (e *Engine) open(a *account) {
	id := a.t.id
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.ctx, rpcTimeout)
		h, err := e.cfg.Chain.Height(ctx) // the freshest height for OpenHeight
		cancel()
		var inputs []channel.FundingInput
		var change *btcwire.TxOut
		if err == nil {
			inputs, change, err = e.cfg.Wallet.Fund(e.cfg.ChannelAmount)
		}
		e.send(func() { e.opened(e.acct(id), h, inputs, change, err) })
	}()
}

func (e *Engine) opened(a *account, h uint32, inputs []channel.FundingInput, change *btcwire.TxOut, err error) {
	fail := func(err error) {
		a.opening = false
		e.log.Warn("opening a channel failed", "peer", a.peer(), "err", err)
	}
	if err != nil {
		fail(err)
		return
	}
	if !e.heightKnown || h > e.height {
		e.learnHeight(h)
	}
	ch, msg, err := channel.Open(e.chanCfg(), channel.Contribution{
		Key: e.channelKey(a.t.id), Amount: e.cfg.ChannelAmount, Inputs: inputs, Change: change,
	})
	if err == nil {
		a.ch = ch
		err = e.saveIndex()
	}
	if err != nil {
		fail(err)
		return
	}
	if a.link == nil || a.link.Send(&wire.ChannelMessage{Payload: msg}) != nil {
		fail(ErrNoLink) // the open is resent when a link comes up
	}
}

// onChannelMessage feeds a neighbour's channel message to the channel (or
// accepts a new channel) and acts on the result. Until the chain's height
// is known, messages wait.
func (e *Engine) onChannelMessage(l Link, m *wire.ChannelMessage) {
	if !e.heightKnown {
		if len(e.parked) < maxParked {
			e.parked = append(e.parked, func() { e.onChannelMessage(l, m) })
		} else {
			e.dropped.Add(1)
			e.log.Warn("channel message dropped: no chain height yet", "peer", l.ID().String())
		}
		return
	}
	e.fold()
	a := e.acct(l.ID())
	var res channel.Result
	var err error
	if a.ch == nil {
		var ch *channel.Channel
		var reply []byte
		ch, reply, err = channel.Accept(e.chanCfg(), m.Payload, channel.Contribution{Key: e.channelKey(a.t.id)})
		if err == nil {
			a.ch = ch
			res.Reply = reply
			err = e.saveIndex()
		}
	} else {
		res, err = a.ch.Receive(m.Payload)
	}
	if err != nil {
		e.log.Warn("channel message refused", "peer", a.peer(), "err", err)
		if res.Reply != nil {
			l.Send(&wire.ChannelMessage{Payload: res.Reply})
		}
		return
	}
	if u := res.Update; u != nil {
		e.log.Debug("channel update", "peer", a.peer(), "version", u.Version, "remote", u.Remote, "ops", fmt.Sprint(u.Ops))
		for _, op := range u.Ops {
			p, ok := op.(channel.Pay)
			if !ok {
				continue
			}
			if u.Remote {
				a.owedToUs -= int64(p.Amount) * 1000
				a.paidToUs += int64(p.Amount)
				a.asked = false
				if a.cutOff && a.owedToUs/1000 <= e.cfg.CreditLimit {
					a.cutOff = false
					a.t.cutOff.Store(false)
					e.log.Info("neighbour paid: relaying for it again", "peer", a.peer())
				}
			} else {
				a.owedByUs -= int64(p.Amount) * 1000
				a.paidByUs += int64(p.Amount)
				a.inFlight = 0
			}
		}
	}
	if res.Dropped != nil || res.Refused != nil {
		e.log.Debug("our channel proposal dropped", "peer", a.peer(), "ops", fmt.Sprint(res.Dropped), "refused", res.Refused)
		a.inFlight = 0
	}
	if res.Reply != nil {
		l.Send(&wire.ChannelMessage{Payload: res.Reply})
	}
	if f := res.Funding; f != nil {
		if a.ch.Role() == channel.Opener {
			e.broadcast(f)
		}
		a.funding, a.confirming = f.TxHash(), true
		e.poll()
	}
	if res.Close != nil {
		e.broadcast(res.Close)
	}
	if a.inFlight == 0 && a.askedOfUs > 0 {
		e.pay(a)
	}
	e.renudge(a)
}

// ready lets a channel whose funding is confirmed carry payments.
func (e *Engine) ready(a *account) {
	a.ready, a.opening, a.confirming = true, false, false
	e.log.Info("channel ready", "peer", a.peer(), "funding", fmt.Sprintf("%x", a.funding[:]))
	e.pay(a) // what was asked while the channel opened
}

// broadcast submits tx on a goroutine of its own.
func (e *Engine) broadcast(tx *btcwire.MsgTx) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.ctx, broadcastTimeout)
		defer cancel()
		if err := e.cfg.Chain.Broadcast(ctx, tx); err != nil {
			e.log.Warn("broadcast failed", "tx", tx.TxHash(), "err", err)
		}
	}()
}
