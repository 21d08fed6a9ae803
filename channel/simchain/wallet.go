package simchain

import (
	"context"
	"errors"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/channel"
)

// ErrWalletEmpty means a Wallet has spent every coin it had.
var ErrWalletEmpty = errors.New("simchain: wallet empty")

// walletFee is what a Wallet leaves for the fee of a funding.
const walletFee = 5000

// Wallet holds matured coinbase coins paid to its key and funds channels
// with them, one coin per funding (it satisfies billing.Wallet).
type Wallet struct {
	key   *btcec.PrivateKey
	mu    sync.Mutex
	coins []channel.FundingInput
}

// NewWallet mines n coins to a fresh key and lets them mature.
func (c *Chain) NewWallet(n int) (*Wallet, error) {
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, err
	}
	w := &Wallet{key: key}
	for range n {
		c.MineTo(1, channel.P2WPKH(key.PubKey()))
		h, err := c.Height(context.Background())
		if err != nil {
			return nil, err
		}
		cb := c.Block(h)[0]
		w.coins = append(w.coins, channel.FundingInput{
			OutPoint: wire.OutPoint{Hash: cb.TxHash(), Index: 0},
			PrevOut:  *cb.TxOut[0],
			Signer:   channel.KeySigner{Key: key},
		})
	}
	c.MineTo(CoinbaseMaturity, AnyoneCanSpendScript())
	return w, nil
}

// Fund spends one coin: amount for the funding, the rest less a fee back
// to the wallet's key as change.
func (w *Wallet) Fund(amount btcutil.Amount) ([]channel.FundingInput, *wire.TxOut, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.coins) == 0 {
		return nil, nil, ErrWalletEmpty
	}
	c := w.coins[0]
	w.coins = w.coins[1:]
	change := wire.NewTxOut(c.PrevOut.Value-int64(amount)-walletFee, channel.P2WPKH(w.key.PubKey()))
	return []channel.FundingInput{c}, change, nil
}

// Coins returns the outpoints the wallet can still spend, oldest first.
func (w *Wallet) Coins() []wire.OutPoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]wire.OutPoint, len(w.coins))
	for i, c := range w.coins {
		out[i] = c.OutPoint
	}
	return out
}
