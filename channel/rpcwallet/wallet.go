// Package rpcwallet is a wallet of one key's coins, found and checked
// through a btcd node (package rpcchain): it funds the payment channels
// a node opens (billing.Wallet).
//
// The coins are the key's native segwit (P2WPKH) outputs. With
// Config.Coins the wallet spends only those outpoints; otherwise it finds
// the key's coins with searchrawtransactions, which needs btcd's
// --addrindex. Either way each coin is checked with gettxout (mempool
// included) before it is spent, so a coin already spent, by this node or
// another, is skipped. Coins handed out by Fund are held back in memory
// for Config.Hold: a funding that reaches the chain spends them (and
// gettxout says so from then on); one that never does (the channel's
// open failed) frees them after that time, or at the next start.
package rpcwallet

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
)

const (
	// DefaultFeeRate is the funding transactions' fee rate when
	// Config.FeeRate is zero: 2 sat/vB.
	DefaultFeeRate channel.FeeRate = 2000
	// coinbaseMaturity is how many confirmations a coinbase output needs
	// before it can be spent.
	coinbaseMaturity = 100
	// rpcTimeout bounds what one Fund asks of the node.
	rpcTimeout = 30 * time.Second
)

// Virtual sizes for the fee: a funding transaction's fixed part with the
// channel's P2WSH output, each P2WPKH input (a signature of at most 72
// bytes), and a P2WPKH change output.
const (
	vsizeBase   = 11 + 43
	vsizeInput  = 69
	vsizeChange = 31
	// dustChange is the smallest change worth an output: less goes to
	// the fee (546 sat is what btcd and the channel package call dust).
	dustChange = 546
)

// Config says which coins the wallet spends.
type Config struct {
	// Key owns the coins: its P2WPKH outputs. Required.
	Key *btcec.PrivateKey
	// Coins, if set, are the only outpoints the wallet may spend (no
	// --addrindex needed). Default: every unspent P2WPKH output of Key
	// that the node's address index knows.
	Coins []wire.OutPoint
	// FeeRate is what funding transactions pay, in sat/kvB. Default
	// DefaultFeeRate; at least channel.MinRelayFeeRate.
	FeeRate channel.FeeRate
	// MinConfirmations a coin needs to be spent. Default 1.
	MinConfirmations int64
	// Hold is how long a coin handed out by Fund is not offered again
	// unless the chain shows it spent. Default 1 hour.
	Hold time.Duration
	// Now is the clock for Hold (time.Now if nil).
	Now func() time.Time
}

// Wallet funds channels from one key's coins. Its methods are safe for
// concurrent use.
type Wallet struct {
	chain  *rpcchain.Chain
	cfg    Config
	addr   *btcutil.AddressWitnessPubKeyHash
	script []byte

	mu       sync.Mutex
	reserved map[wire.OutPoint]time.Time // handed out by Fund, until then
}

// New returns the wallet of cfg.Key's coins on chain's network.
func New(ctx context.Context, chain *rpcchain.Chain, cfg Config) (*Wallet, error) {
	if cfg.Key == nil {
		return nil, fmt.Errorf("%w: no key", ErrConfig)
	}
	if cfg.FeeRate == 0 {
		cfg.FeeRate = DefaultFeeRate
	}
	if cfg.FeeRate < channel.MinRelayFeeRate {
		return nil, fmt.Errorf("%w: fee rate %d sat/kvB under the relay minimum %d", ErrConfig, cfg.FeeRate, channel.MinRelayFeeRate)
	}
	if cfg.MinConfirmations < 0 {
		return nil, fmt.Errorf("%w: negative MinConfirmations", ErrConfig)
	}
	if cfg.MinConfirmations == 0 {
		cfg.MinConfirmations = 1
	}
	if cfg.Hold < 0 {
		return nil, fmt.Errorf("%w: negative Hold", ErrConfig)
	}
	if cfg.Hold == 0 {
		cfg.Hold = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	params, err := chain.Params(ctx)
	if err != nil {
		return nil, err
	}
	a, err := Address(cfg.Key, params)
	if err != nil {
		return nil, err
	}
	return &Wallet{chain: chain, cfg: cfg, addr: a, script: channel.P2WPKH(cfg.Key.PubKey()),
		reserved: make(map[wire.OutPoint]time.Time)}, nil
}

// Address is the key's P2WPKH address on a network: where to send the
// coins the wallet spends.
func Address(key *btcec.PrivateKey, params *chaincfg.Params) (*btcutil.AddressWitnessPubKeyHash, error) {
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), params)
	if err != nil {
		return nil, fmt.Errorf("rpcwallet: %w", err)
	}
	return a, nil
}

// Address returns the wallet's address.
func (w *Wallet) Address() btcutil.Address { return w.addr }

// Coin is a spendable output of the wallet's key.
type Coin struct {
	OutPoint wire.OutPoint
	Value    btcutil.Amount
}

// Coins returns the wallet's spendable coins now: unspent (mempool
// included), confirmed enough, not handed out by Fund.
func (w *Wallet) Coins(ctx context.Context) ([]Coin, error) {
	ops := w.cfg.Coins
	if len(ops) == 0 {
		txs, err := w.chain.TransactionsTo(ctx, w.addr)
		if err != nil {
			return nil, err
		}
		for _, tx := range txs {
			h := tx.TxHash()
			for i, o := range tx.TxOut {
				if string(o.PkScript) == string(w.script) {
					ops = append(ops, wire.OutPoint{Hash: h, Index: uint32(i)})
				}
			}
		}
	}
	var coins []Coin
	seen := make(map[wire.OutPoint]bool)
	for _, op := range ops {
		if seen[op] || w.isReserved(op) {
			continue
		}
		seen[op] = true
		u, err := w.chain.UnspentOutput(ctx, op)
		if err != nil {
			return nil, err
		}
		if u == nil || string(u.PkScript) != string(w.script) || u.Confirmations < w.cfg.MinConfirmations ||
			u.Coinbase && u.Confirmations < coinbaseMaturity {
			continue
		}
		coins = append(coins, Coin{OutPoint: op, Value: btcutil.Amount(u.Value)})
	}
	return coins, nil
}

// Balance is the sum of Coins.
func (w *Wallet) Balance(ctx context.Context) (btcutil.Amount, error) {
	coins, err := w.Coins(ctx)
	var sum btcutil.Amount
	for _, c := range coins {
		sum += c.Value
	}
	return sum, err
}

func (w *Wallet) isReserved(op wire.OutPoint) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reservedLocked(op)
}

// reservedLocked reports whether Fund handed op out less than Hold ago,
// forgetting it once that has passed.
func (w *Wallet) reservedLocked(op wire.OutPoint) bool {
	until, ok := w.reserved[op]
	if ok && !w.cfg.Now().Before(until) {
		delete(w.reserved, op)
		return false
	}
	return ok
}

// Fund implements billing.Wallet: coins worth amount plus the funding's
// fee at Config.FeeRate, with change back to the key when it is not dust.
func (w *Wallet) Fund(amount btcutil.Amount) ([]channel.FundingInput, *wire.TxOut, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	coins, err := w.Coins(ctx)
	if err != nil {
		return nil, nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	coins = slices.DeleteFunc(coins, func(c Coin) bool { return w.reservedLocked(c.OutPoint) }) // taken meanwhile
	picked, change, err := Select(coins, amount, w.cfg.FeeRate)
	if err != nil {
		return nil, nil, err
	}
	inputs := make([]channel.FundingInput, len(picked))
	until := w.cfg.Now().Add(w.cfg.Hold)
	for i, c := range picked {
		w.reserved[c.OutPoint] = until
		inputs[i] = channel.FundingInput{OutPoint: c.OutPoint, PrevOut: wire.TxOut{Value: int64(c.Value), PkScript: w.script},
			Signer: channel.KeySigner{Key: w.cfg.Key}}
	}
	var out *wire.TxOut
	if change > 0 {
		out = wire.NewTxOut(int64(change), w.script)
	}
	return inputs, out, nil
}

// Select picks coins for amount plus the fee at rate, largest first, and
// returns them with the change (0: none, what is left below dust goes to
// the fee). It fails with ErrInsufficientFunds.
func Select(coins []Coin, amount btcutil.Amount, rate channel.FeeRate) ([]Coin, btcutil.Amount, error) {
	if amount <= 0 {
		return nil, 0, fmt.Errorf("%w: amount %d", ErrConfig, amount)
	}
	sorted := slices.Clone(coins)
	slices.SortFunc(sorted, func(a, b Coin) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.String(), b.OutPoint.String())
	})
	var sum btcutil.Amount
	for i, c := range sorted {
		if i == maxInputs {
			break
		}
		sum += c.Value
		n := int64(i + 1)
		noChange := rate.Fee(vsizeBase + n*vsizeInput)
		if sum < amount+noChange {
			continue
		}
		change := sum - amount - rate.Fee(vsizeBase+n*vsizeInput+vsizeChange)
		if change < dustChange {
			change = 0
		}
		return sorted[:n:n], change, nil
	}
	return nil, 0, fmt.Errorf("%w: %d sat plus fee wanted, %d sat in %d coins", ErrInsufficientFunds, amount, sum, min(len(sorted), maxInputs))
}

// maxInputs is the most coins one funding spends (the channel package
// takes up to 64 a side; fewer keep the funding small).
const maxInputs = 16
