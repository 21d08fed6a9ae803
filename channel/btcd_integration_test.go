//go:build btcd

package channel_test

// This test runs channels against a real btcd (v0.26.2) in regtest mode on
// loopback. Run it with channel/testdata/run-btcd-test.sh, or:
//
//	go install github.com/btcsuite/btcd@v0.26.2
//	go test -tags btcd -run TestBtcd ./channel/
//
// The btcd binary is taken from $BTCD, else from PATH, else from
// $(go env GOPATH)/bin. btcd creates ~/.btcd whatever --datadir says.

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/btcdtest"
	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// startBtcd runs btcd on loopback, mining to the P2WPKH of the named key.
func startBtcd(t *testing.T, miningPkScriptKey string) *rpcchain.Chain {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(
		btcutil.Hash160(key(miningPkScriptKey).PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	return btcdtest.Start(t, addr.EncodeAddress())
}

func TestBtcdAcceptsAndRejectsChannelTransactions(t *testing.T) {
	// Registered first, so it runs last: after btcd and the client stop.
	t.Cleanup(func() { goleak.VerifyNone(t) })
	start := time.Now()
	ctx := context.Background()
	const miner = "miner"
	c := startBtcd(t, miner)
	t.Logf("btcd up in %v", time.Since(start))

	height := func() uint32 {
		h, err := c.Height(ctx)
		require.NoError(t, err)
		return h
	}
	mine := func(n int) []wire.MsgTx {
		hs, err := c.Mine(ctx, n)
		require.NoError(t, err)
		var cbs []wire.MsgTx
		for _, h := range hs {
			b, err := c.Block(h)
			require.NoError(t, err)
			cbs = append(cbs, *b.Transactions[0])
		}
		return cbs
	}
	mineTo := func(h uint32) {
		if cur := height(); h > cur {
			mine(int(h - cur))
		}
	}
	confirmations := func(tx *wire.MsgTx) uint32 {
		n, err := c.Confirmations(ctx, tx.TxHash())
		require.NoError(t, err)
		return n
	}

	// 101 blocks: the first coinbases mature. The miner pays to a P2WPKH,
	// so each coinbase output is a segwit funding input.
	t0 := time.Now()
	cbs := mine(101)
	t.Logf("mined 101 blocks in %v", time.Since(t0))
	require.EqualValues(t, 101, height())
	minerKey := key(miner)
	coin := func(cb wire.MsgTx) channel.FundingInput {
		require.Equal(t, channel.P2WPKH(minerKey.PubKey()), cb.TxOut[0].PkScript)
		return channel.FundingInput{
			OutPoint: wire.OutPoint{Hash: cb.TxHash(), Index: 0},
			PrevOut:  *cb.TxOut[0],
			Signer:   channel.KeySigner{Key: minerKey},
		}
	}
	contribution := func(name string, cb *wire.MsgTx, amount btcutil.Amount) channel.Contribution {
		ctr := channel.Contribution{Key: key("btcd channel " + name), Amount: amount}
		if cb != nil {
			in := coin(*cb)
			ctr.Inputs = []channel.FundingInput{in}
			ctr.Change = wire.NewTxOut(in.PrevOut.Value-int64(amount)-2_000, channel.P2WPKH(key("change "+name).PubKey()))
		}
		return ctr
	}
	cfg := channel.Config{Height: height, Lifetime: 60, LockStep: 2, HTLCMargin: 12}
	openChannel := func(a, b channel.Contribution) (*channel.Channel, *channel.Channel, *wire.MsgTx) {
		ca, msg, err := channel.Open(cfg, a)
		require.NoError(t, err)
		cb, msg, err := channel.Accept(cfg, msg, b)
		require.NoError(t, err)
		r, err := ca.Receive(msg)
		require.NoError(t, err)
		r, err = cb.Receive(r.Reply)
		require.NoError(t, err)
		_, err = ca.Receive(r.Reply)
		require.NoError(t, err)

		// The refund, signed before the funding, is refused until its
		// lock time.
		refund, err := ca.NewestState()
		require.NoError(t, err)
		require.NoError(t, c.Broadcast(ctx, r.Funding))
		mine(1)
		require.EqualValues(t, 1, confirmations(r.Funding))
		err = c.Broadcast(ctx, refund)
		require.ErrorIs(t, err, channel.ErrRejected)
		require.ErrorIs(t, err, channel.ErrNonFinal)
		return ca, cb, refund
	}

	// Channel 1: A opens with 0.01 BTC, B brings nothing.
	a, b, _ := openChannel(contribution("a", &cbs[0], 1_000_000), contribution("b", nil, 0))
	// Payments for relayed bytes: a state per chunk.
	for range 12 {
		update(t, a, b, channel.Pay{Amount: 2_000})
	}
	update(t, b, a, channel.Pay{Amount: 500})
	old, err := a.NewestState()
	require.NoError(t, err)
	// Two HTLCs: A→B, which B will claim with the preimage on chain, and
	// B→A, whose preimage nobody reveals, so B times it out.
	pre, hash := preimageOf("btcd htlc")
	_, lostHash := preimageOf("never told")
	update(t, a, b, channel.AddHTLC{Amount: 5_000, Hash: hash, Expiry: a.MinHTLCExpiry()})
	update(t, b, a, channel.AddHTLC{Amount: 4_000, Hash: lostHash, Expiry: b.MinHTLCExpiry()})
	update(t, a, b, channel.Pay{Amount: 1_000})
	require.EqualValues(t, 16, b.Version())

	// Unilateral close with the newest state: refused one block early,
	// accepted at its lock time; a tampered copy is refused.
	newest, err := b.ForceClose()
	require.NoError(t, err)
	mineTo(newest.LockTime - 1)
	err = c.Broadcast(ctx, newest)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.ErrorIs(t, err, channel.ErrNonFinal)
	mine(1)
	tampered := newest.Copy()
	tampered.TxOut[0].Value -= 1000
	err = c.Broadcast(ctx, tampered)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.NotErrorIs(t, err, channel.ErrNonFinal)
	require.NoError(t, c.Broadcast(ctx, newest))
	mine(1)
	require.EqualValues(t, 1, confirmations(newest))
	spender, err := c.WatchSpend(ctx, a.FundingOutPoint(), 100)
	require.NoError(t, err)
	require.Equal(t, newest.TxHash(), spender.TxHash())

	// The older state, once final, is a double spend.
	mineTo(old.LockTime)
	err = c.Broadcast(ctx, old)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.ErrorIs(t, err, channel.ErrDoubleSpend)

	// HTLCs on chain: B claims with the preimage at once; B's timeout of
	// the other HTLC is refused before its expiry, accepted at it.
	outs, err := b.HTLCOutputs(newest)
	require.NoError(t, err)
	require.Len(t, outs, 2)
	sweep := channel.P2WPKH(key("sweep b").PubKey())
	var claim, timeout *wire.MsgTx
	for _, o := range outs {
		if o.HTLC.Incoming {
			claim, err = b.ClaimHTLC(o, pre, sweep, 2_000)
		} else {
			timeout, err = b.TimeoutHTLC(o, sweep, 2_000)
		}
		require.NoError(t, err)
	}
	require.NoError(t, c.Broadcast(ctx, claim))
	require.ErrorIs(t, c.Broadcast(ctx, timeout), channel.ErrNonFinal)
	mineTo(timeout.LockTime)
	require.NoError(t, c.Broadcast(ctx, timeout))
	mine(1)
	require.EqualValues(t, 1, confirmations(timeout))
	require.GreaterOrEqual(t, confirmations(claim), uint32(1))
	learned, ok := channel.ExtractPreimage(claim, hash)
	require.True(t, ok)
	require.Equal(t, pre, learned)

	// Channel 2, funded by both: payments both ways, cooperative close.
	cbs = append(cbs, mine(2)...)
	x, y, refund2 := openChannel(contribution("x", &cbs[1], 2_000_000), contribution("y", &cbs[2], 700_000))
	for i := range 6 {
		if i%2 == 0 {
			update(t, x, y, channel.Pay{Amount: 30_000})
		} else {
			update(t, y, x, channel.Pay{Amount: 10_000})
		}
	}
	msg, err := y.Close(2_000)
	require.NoError(t, err)
	r, err := x.Receive(msg)
	require.NoError(t, err)
	_, err = y.Receive(r.Reply)
	require.NoError(t, err)
	require.NoError(t, c.Broadcast(ctx, r.Close), "a cooperative close is final at once")
	mine(1)
	require.EqualValues(t, 1, confirmations(r.Close))
	require.Equal(t, int64(700_000+60_000), r.Close.TxOut[1].Value)
	mineTo(refund2.LockTime)
	require.ErrorIs(t, c.Broadcast(ctx, refund2), channel.ErrDoubleSpend)

	t.Logf("whole run against btcd: %v", time.Since(start))
}
