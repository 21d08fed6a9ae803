package billing

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// Link is what the engine needs of a link to a neighbour; *peer.Link is
// one. Send must not block (peer.Link queues).
type Link interface {
	ID() addr.NodeID
	Send(m wire.Message) error
}

// Host is what an Engine needs of the node it bills for.
type Host struct {
	// Identity is the node's key: it signs quotes and derives the
	// channel keys, so a restarted node finds its channels again. Required.
	Identity *btcec.PrivateKey
	// Logger receives events; nil discards them.
	Logger *slog.Logger
	// Now is the clock (quote lifetimes, re-asking). Default time.Now.
	Now func() time.Time
	// Ticks, if set, drives the engine's tick (fold the meters, ask again,
	// poll the chain) instead of a ticker of Config.PollInterval.
	Ticks <-chan time.Time
}

// Engine is a node's billing: its accounts with its neighbours and their
// channels, owned by one goroutine (see the package comment). Its methods
// are safe for concurrent use.
type Engine struct {
	cfg   Config
	key   *btcec.PrivateKey
	keyS  [33]byte
	log   *slog.Logger
	now   func() time.Time
	store channel.Store

	tallies sync.Map // addr.NodeID -> *tally: the data path's side

	in    chan func()   // events for the loop
	nudge chan struct{} // a meter crossed a point the loop waits for
	ticks <-chan time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has returned
	wg     sync.WaitGroup
	once   sync.Once

	cutOffs, dropped atomic.Int64

	// Owned by the loop.
	accts       map[addr.NodeID]*account
	height      uint32 // the chain's height at the last poll
	heightKnown bool
	polling     bool     // a chain poll is running
	pollAgain   bool     // and another is due when it ends (a tick came)
	parked      []func() // channel messages waiting for the first height
}

// queueLen bounds the loop's event queue; messageQueue is the share that
// link readers may fill (they drop beyond it), so control events always
// find room.
const (
	queueLen     = 1024
	messageQueue = queueLen - 64
	maxParked    = 256
	// reaskAfter is how long an unanswered payment request waits before
	// it is sent again.
	reaskAfter = 250 * time.Millisecond
	// rpcTimeout bounds one chain call; broadcastTimeout a broadcast.
	rpcTimeout       = 10 * time.Second
	broadcastTimeout = 30 * time.Second
)

// New returns a running engine; restored channels (Config.Dir) are loaded
// before it returns. Close it to stop its goroutines.
func New(cfg Config, h Host) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if h.Identity == nil {
		return nil, fmt.Errorf("%w: Host.Identity is required", ErrConfig)
	}
	e := &Engine{
		cfg: cfg, key: h.Identity, log: h.Logger, now: h.Now, ticks: h.Ticks,
		in: make(chan func(), queueLen), nudge: make(chan struct{}, 1),
		done: make(chan struct{}), accts: make(map[addr.NodeID]*account),
	}
	copy(e.keyS[:], h.Identity.PubKey().SerializeCompressed())
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if cfg.Dir != "" {
		st, err := channel.NewFileStore(filepath.Join(cfg.Dir, "channels"))
		if err != nil {
			return nil, err
		}
		e.store = st
		if err := e.restore(); err != nil {
			return nil, err
		}
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	stop := func() {}
	if e.ticks == nil {
		t := time.NewTicker(cfg.PollInterval)
		e.ticks, stop = t.C, t.Stop
	}
	e.wg.Add(1)
	go e.loop(stop)
	return e, nil
}

// Close stops the engine and waits for its goroutines (a Chain call in
// flight is cancelled through its context). Idempotent.
func (e *Engine) Close() error {
	e.once.Do(e.cancel)
	e.wg.Wait()
	return nil
}

// Price is what this node charges per MiB it relays.
func (e *Engine) Price() uint64 { return e.cfg.Price }

// MaxPrice is the most this node's dials pay per MiB for a whole path.
func (e *Engine) MaxPrice() uint64 { return e.cfg.MaxPrice }

// Quote is this relay's hop in an ack for path of connection id: its key
// and, when it charges, its price, signed, valid for Config.QuoteTTL.
func (e *Engine) Quote(id addr.ConnID, path uint32) wire.Hop {
	return quote(e.key, wire.Hop{Key: e.keyS}, id, path, e.cfg.Price, e.now().Add(e.cfg.QuoteTTL))
}

// Stats are the engine's counters.
type Stats struct {
	CutOffs int64 // neighbours cut off for owing more than the credit limit
	Dropped int64 // billing messages dropped because the queue was full
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{CutOffs: e.cutOffs.Load(), Dropped: e.dropped.Load()}
}

// loop runs every event, nudge and tick, one at a time.
func (e *Engine) loop(stopTicker func()) {
	defer e.wg.Done()
	defer close(e.done)
	defer stopTicker()
	e.poll() // learn the height at once
	for {
		select {
		case <-e.ctx.Done():
			return
		case f := <-e.in:
			f()
		case <-e.nudge:
			e.fold()
		case <-e.ticks:
			e.tick()
		}
	}
}

// post queues f for the loop without blocking; a full queue drops it.
func (e *Engine) post(f func(), what string, peer addr.NodeID) {
	if len(e.in) < messageQueue {
		select {
		case e.in <- f:
			return
		default:
		}
	}
	e.dropped.Add(1)
	e.log.Warn("billing queue full: message dropped", "type", what, "peer", peer.String())
}

// send queues f for the loop, waiting for room; false if the engine closed.
func (e *Engine) send(f func()) bool {
	select {
	case e.in <- f:
		return true
	case <-e.ctx.Done():
		return false
	}
}

// do runs f on the loop and waits for it.
func (e *Engine) do(f func()) error {
	ran := make(chan struct{})
	if !e.send(func() { f(); close(ran) }) {
		return ErrClosed
	}
	select {
	case <-ran:
		return nil
	case <-e.done:
		return ErrClosed
	}
}

// LinkUp attaches a link to its neighbour's account (a channel outlives
// links) and resends a channel proposal the neighbour had not answered
// (after a restart or a lost link). It returns once the loop has done so,
// so that messages the link brings afterwards find it attached.
func (e *Engine) LinkUp(l Link) {
	e.do(func() { e.linkUp(l) })
}

// LinkDown detaches a link, unless another has replaced it already.
func (e *Engine) LinkDown(l Link) {
	e.send(func() {
		if a := e.accts[l.ID()]; a != nil && a.link == l {
			a.link = nil
		}
	})
}

// HandleMessage queues a billing message from a neighbour for the loop:
// wire.PaymentRequest and wire.ChannelMessage; it ignores others. It never
// blocks: when the queue is full the message is dropped and counted.
func (e *Engine) HandleMessage(l Link, m wire.Message) {
	switch m := m.(type) {
	case *wire.PaymentRequest:
		e.post(func() { e.onPaymentRequest(l, m) }, "payment request", l.ID())
	case *wire.ChannelMessage:
		e.post(func() { e.onChannelMessage(l, m) }, "channel message", l.ID())
	}
}

// tick folds the meters, asks again whoever still owes a chunk (traffic
// may have stopped, and with it the nudges), and polls the chain.
func (e *Engine) tick() {
	e.fold()
	for _, a := range e.accts {
		e.check(a)
	}
	e.poll()
}

// poll asks the chain, on a goroutine of its own, for its height and the
// confirmations of the fundings waited for. One poll at a time, so a hung
// chain holds one goroutine, not one per tick; a poll asked for while one
// runs starts when it ends, so none is lost.
func (e *Engine) poll() {
	if e.cfg.Chain == nil {
		return
	}
	if e.polling {
		e.pollAgain = true
		return
	}
	e.polling = true
	var txids [][32]byte
	var peers []addr.NodeID
	for id, a := range e.accts {
		if a.confirming {
			txids, peers = append(txids, a.funding), append(peers, id)
		}
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithTimeout(e.ctx, rpcTimeout)
		h, herr := e.cfg.Chain.Height(ctx)
		cancel()
		confs := make([]uint32, len(txids))
		for i, txid := range txids {
			ctx, cancel := context.WithTimeout(e.ctx, rpcTimeout)
			n, err := e.cfg.Chain.Confirmations(ctx, txid)
			cancel()
			if err == nil {
				confs[i] = n
			}
		}
		e.send(func() {
			e.polling = false
			if herr == nil {
				e.learnHeight(h)
			} else {
				e.log.Debug("chain height unavailable", "err", herr)
			}
			for i, id := range peers {
				if a := e.accts[id]; a != nil && a.confirming && confs[i] >= e.cfg.MinConfirmations {
					e.ready(a)
				}
			}
			if e.pollAgain {
				e.pollAgain = false
				e.poll()
			}
		})
	}()
}

// learnHeight takes a height the chain reported. The first one releases
// what waited for it.
func (e *Engine) learnHeight(h uint32) {
	first := !e.heightKnown
	e.height, e.heightKnown = h, true
	if !first {
		return
	}
	parked := e.parked
	e.parked = nil
	for _, f := range parked {
		f()
	}
	for _, a := range e.accts {
		e.pay(a)
	}
}
