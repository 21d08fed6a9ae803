//go:build btcd

package rpcwallet_test

// Against a real btcd (regtest, --addrindex); channel/testdata/run-btcd-test.sh
// runs it.

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/btcdtest"
	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
	"github.com/foxtrotnet/foxtrot/channel/rpcwallet"
)

// The wallet finds its key's mature coinbase coins through the address
// index, funds a channel btcd accepts, and then neither spends those
// coins again nor loses its change.
func TestBtcdWalletFundsFromItsKeysCoins(t *testing.T) {
	ctx := context.Background()
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	a, err := rpcwallet.Address(key, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	chain := btcdtest.Start(t, a.EncodeAddress(), "--addrindex")
	_, err = chain.Mine(ctx, 101) // two coinbases mature (100 confirmations)
	require.NoError(t, err)

	w, err := rpcwallet.New(ctx, chain, rpcwallet.Config{Key: key})
	require.NoError(t, err)
	require.Equal(t, a.EncodeAddress(), w.Address().EncodeAddress())
	coins, err := w.Coins(ctx)
	require.NoError(t, err)
	require.Len(t, coins, 2, "only mature coinbases are spendable")

	inputs, change, err := w.Fund(1_000_000)
	require.NoError(t, err)
	require.Len(t, inputs, 1)
	require.NotNil(t, change)
	tx := fund(t, inputs, change, 1_000_000)
	require.NoError(t, chain.Broadcast(ctx, tx), "btcd accepts the funding")

	coins, err = w.Coins(ctx)
	require.NoError(t, err)
	require.Len(t, coins, 1, "the spent coin is gone; the change is unconfirmed")
	_, err = chain.Mine(ctx, 1)
	require.NoError(t, err)
	coins, err = w.Coins(ctx)
	require.NoError(t, err)
	require.Len(t, coins, 3, "the change, confirmed, and a third coinbase matured")
	var changeFound bool
	for _, c := range coins {
		require.NotEqual(t, inputs[0].OutPoint, c.OutPoint, "a spent coin is not offered again")
		changeFound = changeFound || c.OutPoint.Hash == tx.TxHash() && int64(c.Value) == change.Value
	}
	require.True(t, changeFound)

	// Configured outpoints: only those, no address index needed.
	w2, err := rpcwallet.New(ctx, chain, rpcwallet.Config{Key: key, Coins: []wire.OutPoint{inputs[0].OutPoint, coins[0].OutPoint}})
	require.NoError(t, err)
	only, err := w2.Coins(ctx)
	require.NoError(t, err)
	require.Equal(t, []rpcwallet.Coin{coins[0]}, only, "the spent one is skipped")
}

// Coins handed out are not offered again while a funding may still use
// them; once Hold passes with the funding never on the chain (an open
// that failed), they are.
func TestBtcdWalletHoldsCoinsItHandedOut(t *testing.T) {
	ctx := context.Background()
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	a, err := rpcwallet.Address(key, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	chain := btcdtest.Start(t, a.EncodeAddress(), "--addrindex")
	_, err = chain.Mine(ctx, 101)
	require.NoError(t, err)
	now := time.Unix(1_000_000, 0)
	w, err := rpcwallet.New(ctx, chain, rpcwallet.Config{Key: key, Hold: time.Minute, Now: func() time.Time { return now }})
	require.NoError(t, err)
	first, _, err := w.Fund(1_000_000)
	require.NoError(t, err)
	second, _, err := w.Fund(1_000_000)
	require.NoError(t, err)
	require.NotEqual(t, first[0].OutPoint, second[0].OutPoint)
	_, _, err = w.Fund(1_000_000)
	require.ErrorIs(t, err, rpcwallet.ErrInsufficientFunds, "both coins are held")
	now = now.Add(time.Minute)
	coins, err := w.Coins(ctx)
	require.NoError(t, err)
	require.Len(t, coins, 2, "neither funding reached the chain: both coins are free again")
}

func TestBtcdWalletSaysTheNodeNeedsAnAddressIndex(t *testing.T) {
	ctx := context.Background()
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	a, err := rpcwallet.Address(key, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	chain := btcdtest.Start(t, a.EncodeAddress())
	w, err := rpcwallet.New(ctx, chain, rpcwallet.Config{Key: key})
	require.NoError(t, err)
	_, err = w.Coins(ctx)
	require.ErrorIs(t, err, rpcchain.ErrNoAddrIndex)
}

// fund builds and signs a funding transaction paying amount to a 2-of-2
// of fresh keys, as a channel would.
func fund(t *testing.T, inputs []channel.FundingInput, change *wire.TxOut, amount int64) *wire.MsgTx {
	t.Helper()
	tx := wire.NewMsgTx(2)
	pf := txscript.NewMultiPrevOutFetcher(nil)
	for _, in := range inputs {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.OutPoint, Sequence: wire.MaxTxInSequenceNum})
		prev := in.PrevOut
		pf.AddPrevOut(in.OutPoint, &prev)
	}
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	tx.AddTxOut(wire.NewTxOut(amount, channel.P2WPKH(k.PubKey())))
	tx.AddTxOut(change)
	for i, in := range inputs {
		wit, err := in.Signer.SignInput(tx, i, pf)
		require.NoError(t, err)
		tx.TxIn[i].Witness = wit
	}
	return tx
}
