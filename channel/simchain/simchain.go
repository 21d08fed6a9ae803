// Package simchain is an in-memory Bitcoin chain for tests of payment
// channels: a channel.Chain that enforces, with btcd's own code where btcd
// exports it, what a btcd node started with --regtest --rejectnonstd would
// enforce on the transactions a channel makes:
//
//   - script validity, by txscript's engine with the standard verify flags;
//   - finality: nLockTime against the next block's height (or median time),
//     unless every input's nSequence is final;
//   - BIP68 relative locks on inputs of version-2 transactions whose
//     nSequence has bit 31 clear, by height or by time;
//   - coinbase maturity of 100 blocks;
//   - double spends: the first transaction to spend an output wins; there
//     is no replacement (RBF) and no reorganisation;
//   - standardness (btcd's mempool.CheckTransactionStandard: version 1 or
//     2, dust, output script types) and the minimum relay fee.
//
// Blocks are mined on demand (Mine, MineTo), each ten minutes after the
// last, and take every mempool transaction in arrival order. A Chain starts
// no goroutines; WatchSpend waits in the caller's.
package simchain

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
)

// CoinbaseMaturity is how many confirmations a coinbase output needs
// before it can be spent.
const CoinbaseMaturity = 100

// Config configures a Chain. The zero value works.
type Config struct {
	// CoinbaseScript receives the block reward of Mine. Default: P2WSH of
	// the script OP_TRUE, spendable by anyone with the witness
	// [OP_TRUE-script] (see AnyoneCanSpendWitness).
	CoinbaseScript []byte
	// MinRelayFeeRate in sat/kvB. Default 1000, btcd's.
	MinRelayFeeRate int64
	// Genesis is the time of block 0. Default 2024-01-01 UTC.
	Genesis time.Time
}

// Chain is a simulated chain. It is safe for concurrent use.
type Chain struct {
	cfg Config

	mu      sync.Mutex
	blocks  []*block
	utxos   map[wire.OutPoint]*utxo
	mempool []*wire.MsgTx
	txs     map[chainhash.Hash]*record
	spends  map[wire.OutPoint]*wire.MsgTx
	changed chan struct{}
}

type utxo struct {
	out      wire.TxOut
	height   uint32 // 0 with mempool set: not yet mined
	coinbase bool
	mempool  bool
}

type block struct {
	hash   chainhash.Hash
	height uint32
	time   time.Time
	txs    []*wire.MsgTx
}

type record struct {
	tx     *wire.MsgTx
	height uint32 // 0: in the mempool
}

var _ channel.Chain = (*Chain)(nil)
var _ channel.Miner = (*Chain)(nil)

// OpTrueScript is the witness script OP_TRUE; the default coinbase pays to
// its P2WSH.
var OpTrueScript = []byte{txscript.OP_TRUE}

// AnyoneCanSpendWitness is the witness that spends a P2WSH(OP_TRUE) output.
func AnyoneCanSpendWitness() wire.TxWitness { return wire.TxWitness{OpTrueScript} }

// AnyoneCanSpendScript is the pkScript P2WSH(OP_TRUE).
func AnyoneCanSpendScript() []byte {
	h := sha256.Sum256(OpTrueScript)
	return append([]byte{txscript.OP_0, 32}, h[:]...)
}

// New returns a chain holding only a genesis block at height 0.
func New(cfg Config) *Chain {
	if cfg.CoinbaseScript == nil {
		cfg.CoinbaseScript = AnyoneCanSpendScript()
	}
	if cfg.MinRelayFeeRate == 0 {
		cfg.MinRelayFeeRate = 1000
	}
	if cfg.Genesis.IsZero() {
		cfg.Genesis = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	c := &Chain{
		cfg:     cfg,
		utxos:   map[wire.OutPoint]*utxo{},
		txs:     map[chainhash.Hash]*record{},
		spends:  map[wire.OutPoint]*wire.MsgTx{},
		changed: make(chan struct{}),
	}
	c.blocks = []*block{{height: 0, time: cfg.Genesis, hash: chainhash.DoubleHashH([]byte("simchain genesis"))}}
	return c
}

// Height implements channel.Chain.
func (c *Chain) Height(ctx context.Context) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tipLocked(), nil
}

func (c *Chain) tipLocked() uint32 { return uint32(len(c.blocks) - 1) }

// medianTimeLocked is the median time past of the block at height h: the
// median of the times of the (up to) eleven blocks ending at h.
func (c *Chain) medianTimeLocked(h uint32) time.Time {
	var ts []time.Time
	for i := int(h); i >= 0 && len(ts) < 11; i-- {
		ts = append(ts, c.blocks[i].time)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts[len(ts)/2]
}

// Broadcast implements channel.Chain: it puts tx in the mempool if a btcd
// node would.
func (c *Chain) Broadcast(ctx context.Context, tx *wire.MsgTx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	txid := tx.TxHash()
	if _, ok := c.txs[txid]; ok {
		return reject(ErrDuplicate, "%v", txid)
	}
	next := c.tipLocked() + 1
	if err := c.checkLocked(tx, next, c.medianTimeLocked(next-1), true); err != nil {
		return err
	}
	tx = tx.Copy()
	c.mempool = append(c.mempool, tx)
	c.txs[txid] = &record{tx: tx}
	for _, in := range tx.TxIn {
		c.spends[in.PreviousOutPoint] = tx
	}
	for i, o := range tx.TxOut {
		c.utxos[wire.OutPoint{Hash: txid, Index: uint32(i)}] = &utxo{out: *o, mempool: true}
	}
	c.notifyLocked()
	return nil
}

func reject(reason error, format string, a ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{channel.ErrRejected, reason}, a...)...)
}

// checkLocked decides whether tx may go into a block at height h whose
// predecessor's median time past is mtp. policy adds the mempool's
// standardness and fee rules.
func (c *Chain) checkLocked(tx *wire.MsgTx, h uint32, mtp time.Time, policy bool) error {
	utx := btcutil.NewTx(tx)
	if err := blockchain.CheckTransactionSanity(utx); err != nil {
		return reject(ErrInvalid, "%v", err)
	}
	if blockchain.IsCoinBase(utx) {
		return reject(ErrInvalid, "coinbase outside a block")
	}
	if !blockchain.IsFinalizedTransaction(utx, int32(h), mtp) {
		return reject(channel.ErrNonFinal, "nLockTime %d, next block %d", tx.LockTime, h)
	}
	if policy {
		if err := mempool.CheckTransactionStandard(utx, int32(h), mtp, btcutil.Amount(c.cfg.MinRelayFeeRate), 2); err != nil {
			return reject(ErrNonStandard, "%v", err)
		}
	}
	fetch := txscript.NewMultiPrevOutFetcher(nil)
	var in int64
	for i, txIn := range tx.TxIn {
		u, ok := c.utxos[txIn.PreviousOutPoint]
		if !ok {
			if s, spent := c.spends[txIn.PreviousOutPoint]; spent {
				return reject(channel.ErrDoubleSpend, "input %d (%v) already spent by %v", i, txIn.PreviousOutPoint, s.TxHash())
			}
			return reject(channel.ErrDoubleSpend, "input %d (%v) does not exist", i, txIn.PreviousOutPoint)
		}
		if s, spent := c.spends[txIn.PreviousOutPoint]; spent && policy {
			return reject(channel.ErrDoubleSpend, "input %d (%v) already spent in the mempool by %v", i, txIn.PreviousOutPoint, s.TxHash())
		}
		if u.coinbase && h-u.height < CoinbaseMaturity {
			return reject(ErrImmature, "input %d: coinbase of height %d at height %d", i, u.height, h)
		}
		if err := c.sequenceLockLocked(tx, i, u, h, mtp); err != nil {
			return err
		}
		in += u.out.Value
		fetch.AddPrevOut(txIn.PreviousOutPoint, &u.out)
	}
	var out int64
	for _, o := range tx.TxOut {
		out += o.Value
	}
	if out > in {
		return reject(ErrValue, "outputs %d, inputs %d", out, in)
	}
	if policy {
		vsize := mempool.GetTxVirtualSize(utx)
		if min := (c.cfg.MinRelayFeeRate*vsize + 999) / 1000; in-out < min {
			return reject(ErrFeeTooLow, "fee %d, minimum %d for %d vbytes", in-out, min, vsize)
		}
	}
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, txIn := range tx.TxIn {
		prev := fetch.FetchPrevOutput(txIn.PreviousOutPoint)
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetch)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return reject(ErrScript, "input %d: %v", i, err)
		}
	}
	return nil
}

// sequenceLockLocked enforces BIP68 on input i of tx, spending u, for a
// block at height h.
func (c *Chain) sequenceLockLocked(tx *wire.MsgTx, i int, u *utxo, h uint32, mtp time.Time) error {
	seq := tx.TxIn[i].Sequence
	if tx.Version < 2 || seq&wire.SequenceLockTimeDisabled != 0 {
		return nil
	}
	inHeight := u.height
	if u.mempool {
		inHeight = h // an unconfirmed parent counts from the block that would hold it
	}
	v := seq & wire.SequenceLockTimeMask
	if seq&wire.SequenceLockTimeIsSeconds != 0 {
		// Time locks count from the median time past of the block before
		// the one holding the input, in units of 512 seconds.
		base := c.medianTimeLocked(max(inHeight, 1) - 1)
		need := base.Unix() + int64(v)<<wire.SequenceLockTimeGranularity - 1
		if need >= mtp.Unix() {
			return reject(channel.ErrNonFinal, "input %d: BIP68 time lock until %d, median time %d", i, need, mtp.Unix())
		}
		return nil
	}
	if need := int64(inHeight) + int64(v) - 1; need >= int64(h) {
		return reject(channel.ErrNonFinal, "input %d: BIP68 relative lock of %d blocks, input at %d, next block %d", i, v, inHeight, h)
	}
	return nil
}

// Mine implements channel.Miner: n blocks paying CoinbaseScript.
func (c *Chain) Mine(ctx context.Context, n int) ([]chainhash.Hash, error) {
	return c.MineTo(n, c.cfg.CoinbaseScript), nil
}

// MineTo mines n blocks whose coinbase pays pkScript, and returns their
// hashes. Each block takes the mempool transactions that are valid in it.
func (c *Chain) MineTo(n int, pkScript []byte) []chainhash.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []chainhash.Hash
	for range n {
		out = append(out, c.mineLocked(pkScript))
	}
	c.notifyLocked()
	return out
}

func (c *Chain) mineLocked(pkScript []byte) chainhash.Hash {
	prev := c.blocks[len(c.blocks)-1]
	h := prev.height + 1
	b := &block{height: h, time: prev.time.Add(10 * time.Minute)}
	mtp := c.medianTimeLocked(h - 1)

	// Take the mempool transactions valid at h, in order; keep the rest.
	var keep, take []*wire.MsgTx
	var fees int64
	for _, tx := range c.mempool {
		c.unspendLocked(tx) // re-check the tx as if it were new
		if err := c.checkLocked(tx, h, mtp, false); err != nil {
			c.spendLocked(tx)
			keep = append(keep, tx)
			continue
		}
		c.spendLocked(tx)
		fees += c.feeLocked(tx)
		take = append(take, tx)
	}
	cb := wire.NewMsgTx(1)
	var sigScript [12]byte
	sigScript[0] = 4 // BIP34-style push of the height, making txids unique
	binary.LittleEndian.PutUint32(sigScript[1:], h)
	sigScript[5] = 6
	copy(sigScript[6:], "simnet")
	cb.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript[:],
		Sequence:         wire.MaxTxInSequenceNum,
	})
	cb.AddTxOut(wire.NewTxOut(blockchain.CalcBlockSubsidy(int32(h), &chaincfg.RegressionNetParams)+fees, pkScript))
	b.txs = append([]*wire.MsgTx{cb}, take...)

	var hashes []byte
	hashes = append(hashes, prev.hash[:]...)
	for _, tx := range b.txs {
		id := tx.TxHash()
		hashes = append(hashes, id[:]...)
	}
	b.hash = chainhash.DoubleHashH(hashes)

	for _, tx := range b.txs {
		id := tx.TxHash()
		coinbase := tx == cb
		if !coinbase {
			for _, in := range tx.TxIn {
				delete(c.utxos, in.PreviousOutPoint)
			}
		}
		for i, o := range tx.TxOut {
			c.utxos[wire.OutPoint{Hash: id, Index: uint32(i)}] = &utxo{out: *o, height: h, coinbase: coinbase}
		}
		c.txs[id] = &record{tx: tx, height: h}
	}
	c.mempool = keep
	c.blocks = append(c.blocks, b)
	return b.hash
}

// unspendLocked and spendLocked make a mempool transaction's own spends
// and outputs invisible while it is re-checked for a block.
func (c *Chain) unspendLocked(tx *wire.MsgTx) {
	for _, in := range tx.TxIn {
		delete(c.spends, in.PreviousOutPoint)
	}
}

func (c *Chain) spendLocked(tx *wire.MsgTx) {
	for _, in := range tx.TxIn {
		c.spends[in.PreviousOutPoint] = tx
	}
}

func (c *Chain) feeLocked(tx *wire.MsgTx) int64 {
	var fee int64
	for _, in := range tx.TxIn {
		fee += c.utxos[in.PreviousOutPoint].out.Value
	}
	for _, o := range tx.TxOut {
		fee -= o.Value
	}
	return fee
}

func (c *Chain) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Confirmations implements channel.Chain.
func (c *Chain) Confirmations(ctx context.Context, txid chainhash.Hash) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.txs[txid]
	if !ok {
		return 0, fmt.Errorf("%w: %v", channel.ErrTxNotFound, txid)
	}
	if r.height == 0 {
		return 0, nil
	}
	return c.tipLocked() - r.height + 1, nil
}

// WatchSpend implements channel.Chain.
func (c *Chain) WatchSpend(ctx context.Context, op wire.OutPoint, heightHint uint32) (*wire.MsgTx, error) {
	for {
		c.mu.Lock()
		tx, ok := c.spends[op]
		ch := c.changed
		c.mu.Unlock()
		if ok {
			return tx.Copy(), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}

// Block returns the transactions of the block at height h (coinbase
// first), or nil past the tip.
func (c *Chain) Block(h uint32) []*wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(h) >= len(c.blocks) {
		return nil
	}
	out := make([]*wire.MsgTx, len(c.blocks[h].txs))
	for i, tx := range c.blocks[h].txs {
		out[i] = tx.Copy()
	}
	return out
}

// UTXO returns an unspent output of the chain (mempool spends not
// considered: it answers what is in the blocks).
func (c *Chain) UTXO(op wire.OutPoint) (*wire.TxOut, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.utxos[op]
	if !ok || u.mempool {
		return nil, false
	}
	o := u.out
	return &o, true
}

// Mempool returns the transactions waiting for a block, in arrival order.
func (c *Chain) Mempool() []*wire.MsgTx {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*wire.MsgTx, len(c.mempool))
	for i, tx := range c.mempool {
		out[i] = tx.Copy()
	}
	return out
}
