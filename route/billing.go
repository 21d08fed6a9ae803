package route

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	btcwire "github.com/btcsuite/btcd/wire"
	"golang.org/x/crypto/hkdf"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/internal/ident"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// Billing makes a node charge for what it relays and pay for what it
// uses. A nil *Billing (the default) charges nothing and pays nothing: the
// node relays for free, and its own dials take free paths only.
//
// Prices are satoshis per MiB of connection data (both directions). Each
// relay quotes its price, signed, in the acks it passes back; the dialler
// refuses a path whose quotes add up to more than MaxPrice and otherwise
// prefers cheap, fast paths. Money moves hop by hop: the dialler pays its
// first relay the whole path's rate, each relay pays the next the rate of
// the rest of the path, so each keeps its own price. Every node meters
// the bytes it relays per neighbour; once a neighbour owes a Chunk it is
// asked to pay (wire.PaymentRequest), and pays what its own metering says
// it owes (both sides count the same bytes: the records on the circuit
// stream) with a payment-channel update carried on the control stream. A neighbour that owes more than CreditLimit has its
// circuits closed and its requests refused until it pays.
//
// Channels are package channel's: real Bitcoin transactions, one channel
// per pair of neighbours, opened by the side that first has to pay (it
// funds it from Wallet), used once its funding has MinConfirmations.
// With Dir set, channel states are saved (fsynced) before every update is
// acknowledged, so a restart loses no money; what was metered but not yet
// billed (less than a chunk and the credit) is not saved.
type Billing struct {
	// Price this node charges per MiB it relays. 0 relays for free.
	Price uint64
	// MaxPrice is the most this node's own dials pay per MiB for a whole
	// path. 0 takes free paths only.
	MaxPrice uint64
	// Chunk is how many satoshis a neighbour may owe before it is asked
	// to pay, and so the smallest payment. Default 1000.
	Chunk int64
	// CreditLimit is how many satoshis a neighbour may owe before this
	// node stops relaying for it. Default 4 × Chunk.
	CreditLimit int64
	// QuoteTTL is how long a quoted price holds. Default 10 minutes.
	QuoteTTL time.Duration

	// Chain is the Bitcoin node channels are funded and closed on.
	Chain channel.Chain
	// Wallet funds the channels this node opens. Without one the node can
	// charge but not pay (an acceptor of channels only).
	Wallet Wallet
	// ChannelAmount is what this node puts into a channel it opens.
	// Default 1,000,000 sat.
	ChannelAmount btcutil.Amount
	// Channel sets the channels' terms and policy (Height is filled in
	// from Chain).
	Channel channel.Config
	// MinConfirmations a funding needs before the channel carries
	// payments. Default 1.
	MinConfirmations uint32
	// PollInterval is how often the chain is asked about fundings.
	// Default 1s.
	PollInterval time.Duration
	// Dir, if set, is where channel states and the peer index are kept.
	Dir string
}

// Wallet funds channels.
type Wallet interface {
	// Fund returns native segwit inputs worth amount plus the funding
	// fee, with a change output for the rest (nil for none).
	Fund(amount btcutil.Amount) ([]channel.FundingInput, *btcwire.TxOut, error)
}

// reaskAfter is how long an unanswered payment request waits before it
// is sent again.
const reaskAfter = 250 * time.Millisecond

// ErrTooExpensive means every path found costs more than the dial's limit.
var ErrTooExpensive = errors.New("route: every path costs more than the price limit")

func (b *Billing) setDefaults() error {
	if b.Chunk <= 0 {
		b.Chunk = 1000
	}
	if b.CreditLimit <= 0 {
		b.CreditLimit = 4 * b.Chunk
	}
	if b.QuoteTTL <= 0 {
		b.QuoteTTL = 10 * time.Minute
	}
	if b.ChannelAmount <= 0 {
		b.ChannelAmount = 1_000_000
	}
	if b.MinConfirmations == 0 {
		b.MinConfirmations = 1
	}
	if b.PollInterval <= 0 {
		b.PollInterval = time.Second
	}
	if (b.Price > 0 || b.MaxPrice > 0) && b.Chain == nil {
		return fmt.Errorf("route: Billing.Chain is required to charge or pay")
	}
	return nil
}

// biller is the router's billing engine: accounts per neighbour, their
// channels, metering and cut-offs. All channel calls are under mu.
type biller struct {
	r     *Router
	cfg   Billing
	store channel.Store

	mu    sync.Mutex
	accts map[[20]byte]*account
}

// account is this node's standing with one neighbour.
type account struct {
	peer       [20]byte
	link       *peer.Link
	owedToUs   int64 // millisatoshis metered and not yet paid to us
	owedByUs   int64 // millisatoshis metered and not yet paid by us
	paidToUs   int64 // satoshis received over the channel, ever
	paidByUs   int64 // satoshis paid over the channel, ever
	asked      bool  // a payment request is unanswered (since askedAt)
	askedAt    time.Time
	cutOff     bool
	ch         *channel.Channel
	ready      bool  // the funding has MinConfirmations
	opening    bool  // we are opening a channel
	inFlight   int64 // satoshis proposed and not yet acknowledged
	askedOfUs  int64 // satoshis the neighbour last asked for, not yet paid
	upCircuits map[*circuit]struct{}
}

func newBiller(r *Router, cfg Billing) (*biller, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	b := &biller{r: r, cfg: cfg, accts: make(map[[20]byte]*account)}
	if cfg.Dir != "" {
		st, err := channel.NewFileStore(filepath.Join(cfg.Dir, "channels"))
		if err != nil {
			return nil, err
		}
		b.store = st
		if err := b.restore(); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// chanCfg is the channel configuration with the chain's height.
func (b *biller) chanCfg() channel.Config {
	c := b.cfg.Channel
	c.Store = b.store
	c.Height = func() uint32 {
		ctx, cancel := context.WithTimeout(b.r.ctx, 10*time.Second)
		defer cancel()
		h, err := b.cfg.Chain.Height(ctx)
		if err != nil {
			return 0 // no height: the channel refuses to make a state
		}
		return h
	}
	return c
}

// channelKey derives this node's channel key for a peer from its
// identity, so a restarted node finds its channels' keys again.
func (b *biller) channelKey(peerID [20]byte) *btcec.PrivateKey {
	var k [32]byte
	r := hkdf.New(sha256.New, b.r.cfg.Identity.Serialize(), []byte("foxtrot/channel-key"), peerID[:])
	if _, err := io.ReadFull(r, k[:]); err != nil {
		panic("route: unreachable: hkdf: " + err.Error())
	}
	key, _ := btcec.PrivKeyFromBytes(k[:])
	return key
}

func (b *biller) acctLocked(id [20]byte) *account {
	a := b.accts[id]
	if a == nil {
		a = &account{peer: id, upCircuits: make(map[*circuit]struct{})}
		b.accts[id] = a
	}
	return a
}

// linkUp attaches a link to its account (a channel outlives links) and
// resends a proposal the channel had not seen through (after a restart or
// a lost link): the peer answers a retransmitted update again.
func (b *biller) linkUp(l *peer.Link) {
	b.mu.Lock()
	a := b.acctLocked(l.ID())
	a.link = l
	var pending []byte
	if a.ch != nil {
		pending = a.ch.PendingMessage()
		if pending != nil {
			a.inFlight = max(a.inFlight, 1) // no new payment until it is settled
		}
	}
	b.mu.Unlock()
	if pending != nil {
		l.Send(&wire.ChannelMessage{Payload: pending})
	}
}

// millisat is what n bytes cost at price satoshis per MiB.
func millisat(n int64, price uint64) int64 {
	return n * int64(price) * 1000 >> 20
}

// meterRelay charges the bytes a circuit carried: the upstream owes us
// its rate, we owe the downstream its.
func (b *biller) meterRelay(c *circuit, n int64) {
	var ask *wire.PaymentRequest
	var cut bool
	b.mu.Lock()
	up := b.acctLocked(c.up.ID())
	up.owedToUs += millisat(n, c.upRate)
	if c.downRate > 0 {
		b.acctLocked(c.down.ID()).owedByUs += millisat(n, c.downRate)
	}
	ask, cut = b.checkLocked(up)
	b.mu.Unlock()
	b.after(up, ask, cut)
}

// meterOrigin charges this node for its own connection's bytes on a path
// whose relays quoted rate in all.
func (b *biller) meterOrigin(first *peer.Link, rate uint64, n int64) {
	b.mu.Lock()
	b.acctLocked(first.ID()).owedByUs += millisat(n, rate)
	b.mu.Unlock()
}

// checkLocked decides whether a neighbour must be asked to pay, or cut off.
func (b *biller) checkLocked(a *account) (*wire.PaymentRequest, bool) {
	owed := a.owedToUs / 1000
	if owed > b.cfg.CreditLimit && !a.cutOff {
		a.cutOff = true
		return nil, true
	}
	// One request at a time: the next once this one is paid, or asked
	// again if no payment came within reaskAfter.
	if owed >= b.cfg.Chunk && (!a.asked || time.Since(a.askedAt) > reaskAfter) {
		a.asked, a.askedAt = true, time.Now()
		return &wire.PaymentRequest{Owed: uint64(owed)}, false
	}
	return nil, false
}

// tick asks again every neighbour that still owes a chunk: traffic may
// have stopped, and with it the metering that asks.
func (b *biller) tick() {
	type due struct {
		a   *account
		ask *wire.PaymentRequest
		cut bool
	}
	var dues []due
	b.mu.Lock()
	for _, a := range b.accts {
		if ask, cut := b.checkLocked(a); ask != nil || cut {
			dues = append(dues, due{a, ask, cut})
		}
	}
	b.mu.Unlock()
	for _, d := range dues {
		b.after(d.a, d.ask, d.cut)
	}
}

// after sends a payment request or cuts a neighbour off, outside the lock.
func (b *biller) after(a *account, ask *wire.PaymentRequest, cut bool) {
	if ask != nil && a.link != nil {
		a.link.Send(ask)
	}
	if cut {
		b.r.log.Warn("neighbour past its credit limit: relaying for it stops", "peer", ident.String(a.peer))
		b.r.stats.cutOffs.Add(1)
		b.mu.Lock()
		circuits := make([]*circuit, 0, len(a.upCircuits))
		for c := range a.upCircuits {
			circuits = append(circuits, c)
		}
		b.mu.Unlock()
		for _, c := range circuits {
			c.stop()
		}
	}
}

// isCutOff reports whether a neighbour is past its credit.
func (b *biller) isCutOff(l *peer.Link) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accts[l.ID()]
	return a != nil && a.cutOff
}

// circuitUp and circuitDown track the circuits a neighbour is upstream of,
// to close them if it is cut off.
func (b *biller) circuitUp(c *circuit) {
	b.mu.Lock()
	b.acctLocked(c.up.ID()).upCircuits[c] = struct{}{}
	b.mu.Unlock()
}

func (b *biller) circuitDown(c *circuit) {
	b.mu.Lock()
	delete(b.acctLocked(c.up.ID()).upCircuits, c)
	b.mu.Unlock()
}

// onPaymentRequest pays what the asker asks, but never more than our own
// metering says we owe (both sides meter the same bytes, so a request that
// crossed a payment in flight finds nothing owed); it opens a channel
// first if there is none. A request that cannot be paid yet (no channel,
// or a payment in flight) is paid as soon as it can be: when the channel
// is ready or the payment before it is acknowledged. Waiting for the
// asker to ask again would let a fast connection run past its credit.
func (b *biller) onPaymentRequest(l *peer.Link, m *wire.PaymentRequest) {
	b.mu.Lock()
	a := b.acctLocked(l.ID())
	a.link = l
	a.askedOfUs = int64(min(m.Owed, math.MaxInt64))
	b.mu.Unlock()
	b.pay(a)
}

// pay pays a neighbour what it asked for, if it can now.
func (b *biller) pay(a *account) {
	b.mu.Lock()
	l := a.link
	ours := a.owedByUs/1000 - a.inFlight
	pay := min(a.askedOfUs, ours)
	if pay <= 0 || l == nil {
		b.mu.Unlock()
		return
	}
	if a.ch == nil {
		open := !a.opening && b.cfg.Wallet != nil
		a.opening = a.opening || open
		b.mu.Unlock()
		if open {
			b.r.wg.Add(1)
			go b.open(a)
		}
		return
	}
	if !a.ready || a.inFlight > 0 {
		b.mu.Unlock()
		return // paid when ready, or acknowledged
	}
	msg, err := a.ch.Pay(btcutil.Amount(pay))
	if err == nil {
		a.inFlight = pay
		b.r.log.Debug("paying neighbour", "peer", ident.String(a.peer), "amount", pay, "asked", a.askedOfUs, "metered", a.owedByUs/1000)
		a.askedOfUs = 0
	}
	b.mu.Unlock()
	if err != nil {
		b.r.log.Warn("cannot pay neighbour", "peer", ident.String(a.peer), "amount", pay, "err", err)
		return
	}
	l.Send(&wire.ChannelMessage{Payload: msg})
}

// open funds and opens a channel to a neighbour.
func (b *biller) open(a *account) {
	defer b.r.wg.Done()
	fail := func(err error) {
		b.mu.Lock()
		a.opening = false
		b.mu.Unlock()
		b.r.log.Warn("opening a channel failed", "peer", ident.String(a.peer), "err", err)
	}
	inputs, change, err := b.cfg.Wallet.Fund(b.cfg.ChannelAmount)
	if err != nil {
		fail(err)
		return
	}
	b.mu.Lock()
	ch, msg, err := channel.Open(b.chanCfg(), channel.Contribution{
		Key: b.channelKey(a.peer), Amount: b.cfg.ChannelAmount, Inputs: inputs, Change: change,
	})
	if err == nil {
		a.ch = ch
		err = b.saveIndexLocked()
	}
	l := a.link
	b.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	if l == nil || l.Send(&wire.ChannelMessage{Payload: msg}) != nil {
		fail(ErrNoRoute)
	}
}

// onChannelMessage feeds a neighbour's channel message to the channel (or
// accepts a new channel) and acts on the result.
func (b *biller) onChannelMessage(l *peer.Link, m *wire.ChannelMessage) {
	b.mu.Lock()
	a := b.acctLocked(l.ID())
	a.link = l
	var res channel.Result
	var err error
	if a.ch == nil {
		var ch *channel.Channel
		var reply []byte
		ch, reply, err = channel.Accept(b.chanCfg(), m.Payload, channel.Contribution{Key: b.channelKey(a.peer)})
		if err == nil {
			a.ch = ch
			res.Reply = reply
			err = b.saveIndexLocked()
		}
	} else {
		res, err = a.ch.Receive(m.Payload)
	}
	if err != nil {
		b.mu.Unlock()
		b.r.log.Warn("channel message refused", "peer", ident.String(a.peer), "err", err)
		if res.Reply != nil {
			l.Send(&wire.ChannelMessage{Payload: res.Reply})
		}
		return
	}
	if u := res.Update; u != nil {
		b.r.log.Debug("channel update", "peer", ident.String(a.peer), "version", u.Version, "remote", u.Remote, "ops", fmt.Sprint(u.Ops))
	}
	if res.Dropped != nil || res.Refused != nil {
		b.r.log.Debug("our channel proposal dropped", "peer", ident.String(a.peer), "ops", fmt.Sprint(res.Dropped), "refused", res.Refused)
	}
	if u := res.Update; u != nil {
		for _, op := range u.Ops {
			p, ok := op.(channel.Pay)
			if !ok {
				continue
			}
			if u.Remote {
				a.owedToUs -= int64(p.Amount) * 1000
				a.paidToUs += int64(p.Amount)
				a.asked = false
				if a.cutOff && a.owedToUs/1000 <= b.cfg.CreditLimit {
					a.cutOff = false
					b.r.log.Info("neighbour paid: relaying for it again", "peer", ident.String(a.peer))
				}
			} else {
				a.owedByUs -= int64(p.Amount) * 1000
				a.paidByUs += int64(p.Amount)
				a.inFlight = 0
			}
		}
	}
	if res.Dropped != nil || res.Refused != nil {
		a.inFlight = 0
	}
	payNext := a.inFlight == 0 && a.askedOfUs > 0
	funding, closing := res.Funding, res.Close
	opener := a.ch.Role() == channel.Opener
	b.mu.Unlock()
	if res.Reply != nil {
		l.Send(&wire.ChannelMessage{Payload: res.Reply})
	}
	if funding != nil {
		if opener {
			b.broadcast(funding)
		}
		b.r.wg.Add(1)
		go b.confirm(a, funding.TxHash())
	}
	if closing != nil {
		b.broadcast(closing)
	}
	if payNext {
		b.pay(a)
	}
}

func (b *biller) broadcast(tx *btcwire.MsgTx) {
	ctx, cancel := context.WithTimeout(b.r.ctx, 30*time.Second)
	defer cancel()
	if err := b.cfg.Chain.Broadcast(ctx, tx); err != nil {
		b.r.log.Warn("broadcast failed", "tx", tx.TxHash(), "err", err)
	}
}

// confirm waits for a funding's confirmations, then lets the channel pay.
func (b *biller) confirm(a *account, txid [32]byte) {
	defer b.r.wg.Done()
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(b.r.ctx, 10*time.Second)
		n, err := b.cfg.Chain.Confirmations(ctx, txid)
		cancel()
		if err == nil && n >= b.cfg.MinConfirmations {
			b.mu.Lock()
			a.ready, a.opening = true, false
			b.mu.Unlock()
			b.r.log.Info("channel ready", "peer", ident.String(a.peer), "funding", hex.EncodeToString(txid[:]))
			b.pay(a) // what was asked while the channel opened
			return
		}
		select {
		case <-t.C:
		case <-b.r.ctx.Done():
			return
		}
	}
}

// index is the peer -> channel map kept beside the channel store.
type index map[string]string

// saveIndexLocked writes the peer -> channel index durably.
func (b *biller) saveIndexLocked() error {
	if b.cfg.Dir == "" {
		return nil
	}
	ix := index{}
	for id, a := range b.accts {
		if a.ch != nil {
			cid := a.ch.ID()
			ix[hex.EncodeToString(id[:])] = hex.EncodeToString(cid[:])
		}
	}
	data, err := json.Marshal(ix)
	if err != nil {
		return err
	}
	path := filepath.Join(b.cfg.Dir, "channels.json")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		var d *os.File
		if d, err = os.Open(b.cfg.Dir); err == nil {
			err = d.Sync()
			d.Close()
		}
	}
	return err
}

// restore reloads the channels of a restarted node.
func (b *biller) restore() error {
	data, err := os.ReadFile(filepath.Join(b.cfg.Dir, "channels.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var ix index
	if err := json.Unmarshal(data, &ix); err != nil {
		return fmt.Errorf("route: channel index: %w", err)
	}
	for p, c := range ix {
		var peerID [20]byte
		var cid channel.ID
		pb, err1 := hex.DecodeString(p)
		cb, err2 := hex.DecodeString(c)
		if err1 != nil || err2 != nil || len(pb) != 20 || len(cb) != len(cid) {
			return fmt.Errorf("route: channel index entry %q: %q", p, c)
		}
		copy(peerID[:], pb)
		copy(cid[:], cb)
		ch, err := channel.Load(b.chanCfg(), b.channelKey(peerID), cid)
		if err != nil {
			return fmt.Errorf("route: restoring the channel with %s: %w", ident.String(peerID), err)
		}
		a := b.acctLocked(peerID)
		a.ch = ch
		a.ready = ch.Phase() == channel.PhaseOpen
	}
	return nil
}

// ChannelStatus describes the channel with one neighbour.
type ChannelStatus struct {
	Peer          [20]byte
	ID            channel.ID
	Phase         channel.Phase
	Ready         bool
	Local, Remote btcutil.Amount // balances
	Version       uint32
	StatesLeft    uint32
	Funding       [32]byte // the funding txid (zero until it exists)
	Close         [32]byte // the cooperative close's txid, once signed
	// What was metered and paid: satoshis owed to us / by us (metered,
	// unpaid), and paid to us / by us over the channel.
	OwedToUs, OwedByUs, PaidToUs, PaidByUs int64
	CutOff                                 bool
}

// Channels returns the node's accounts with its neighbours.
func (r *Router) Channels() []ChannelStatus {
	b := r.bill
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ChannelStatus, 0, len(b.accts))
	for id, a := range b.accts {
		if a.ch == nil && a.owedToUs == 0 && a.owedByUs == 0 {
			continue
		}
		s := ChannelStatus{Peer: id, OwedToUs: a.owedToUs / 1000, OwedByUs: a.owedByUs / 1000,
			PaidToUs: a.paidToUs, PaidByUs: a.paidByUs, CutOff: a.cutOff, Ready: a.ready}
		if a.ch != nil {
			s.ID, s.Phase, s.Version, s.StatesLeft = a.ch.ID(), a.ch.Phase(), a.ch.Version(), a.ch.StatesLeft()
			s.Local, s.Remote = a.ch.Balance()
			if ft := a.ch.FundingTx(); ft != nil {
				s.Funding = ft.TxHash()
			}
			if ct, err := a.ch.CloseTx(); err == nil && ct != nil {
				s.Close = ct.TxHash()
			}
		}
		out = append(out, s)
	}
	return out
}

// CloseChannel closes the channel with a neighbour cooperatively: both
// sides sign a final transaction paying each its balance, broadcast as
// soon as it is complete.
func (r *Router) CloseChannel(peerID [20]byte, rate channel.FeeRate) error {
	b := r.bill
	if b == nil {
		return fmt.Errorf("route: billing is off")
	}
	b.mu.Lock()
	a := b.accts[peerID]
	if a == nil || a.ch == nil || a.link == nil {
		b.mu.Unlock()
		return fmt.Errorf("route: no channel with %s", ident.String(peerID))
	}
	msg, err := a.ch.Close(rate)
	l := a.link
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return l.Send(&wire.ChannelMessage{Payload: msg})
}

// ForceCloseChannel returns the newest state of the channel with a
// neighbour, to broadcast once its lock time is reached.
func (r *Router) ForceCloseChannel(peerID [20]byte) (*btcwire.MsgTx, error) {
	b := r.bill
	if b == nil {
		return nil, fmt.Errorf("route: billing is off")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.accts[peerID]
	if a == nil || a.ch == nil {
		return nil, fmt.Errorf("route: no channel with %s", ident.String(peerID))
	}
	return a.ch.ForceClose()
}
