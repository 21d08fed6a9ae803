//go:build btcd

package foxtrot

// A network of foxtrot nodes paying each other for relayed bytes over
// payment channels settled on a real btcd (regtest, --rejectnonstd):
//
//	go install github.com/btcsuite/btcd@v0.26.2
//	go test -tags btcd -run TestBtcd -v .
//
// .ci/run runs it (channel/testdata/run-btcd-test.sh installs btcd).

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/btcdtest"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/route"
)

// coinbaseWallet spends matured coinbase outputs paid to its key.
type coinbaseWallet struct {
	key   *btcec.PrivateKey
	mu    sync.Mutex
	coins []channel.FundingInput
}

func (w *coinbaseWallet) Fund(amount btcutil.Amount) ([]channel.FundingInput, *btcwire.TxOut, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.coins[0]
	w.coins = w.coins[1:]
	return []channel.FundingInput{c}, btcwire.NewTxOut(c.PrevOut.Value-int64(amount)-5000, channel.P2WPKH(w.key.PubKey())), nil
}

func TestBtcdSettlesWhatRelaysEarned(t *testing.T) {
	ctx := context.Background()
	minerKey, _ := btcec.NewPrivateKey()
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(minerKey.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	chain := btcdtest.Start(t, addr.EncodeAddress())
	hashes, err := chain.Mine(ctx, 104)
	require.NoError(t, err)
	wallet := func(i int) *coinbaseWallet {
		b, err := chain.Block(hashes[i])
		require.NoError(t, err)
		cb := b.Transactions[0]
		return &coinbaseWallet{key: minerKey, coins: []channel.FundingInput{{
			OutPoint: btcwire.OutPoint{Hash: cb.TxHash(), Index: 0}, PrevOut: *cb.TxOut[0],
			Signer: channel.KeySigner{Key: minerKey},
		}}}
	}
	billing := func(price, maxPrice uint64, w route.Wallet) *route.Billing {
		return &route.Billing{Price: price, MaxPrice: maxPrice, Chunk: 50, CreditLimit: 2000,
			Chain: chain, Wallet: w, ChannelAmount: 1_000_000, PollInterval: 20 * time.Millisecond,
			Channel: channel.Config{Lifetime: 300, LockStep: 2, HTLCMargin: 12}}
	}
	// dialler -> r1 (30 sat/MiB) -> r2 (50 sat/MiB) -> listener. r2 earns
	// over the dust limit, so its balance gets an output of its own.
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, logOnFailure(t), func(i int, c *Config) {
		switch i {
		case 0:
			c.Billing = billing(0, 100, wallet(0))
		case 1:
			c.Billing = billing(30, 0, wallet(1))
		case 2:
			c.Billing = billing(50, 0, nil) // it pays nobody: the listener is free
		}
	})
	d, r1, r2 := nodes[0], nodes[1], nodes[2]
	key, _ := GenerateKey()
	l, err := nodes[3].Listen(key)
	require.NoError(t, err)
	defer l.Close()

	// Mine while fundings wait for their confirmation.
	stopMining := btcdtest.MineEvery(ctx, chain, 100*time.Millisecond)
	defer stopMining()
	sendThrough(t, d, l, 8<<20).Close()
	require.Eventually(t, func() bool {
		return account(d, r1.Identity()).Ready && account(r1, r2.Identity()).Ready
	}, 30*time.Second, 20*time.Millisecond, "both fundings confirmed by btcd")
	stopMining()
	sendThrough(t, d, l, 16<<20).Close()
	require.Eventually(t, func() bool {
		return account(r1, d.Identity()).OwedToUs < 50 && account(r2, r1.Identity()).OwedToUs < 50
	}, 30*time.Second, 20*time.Millisecond, "the relays were paid")
	for _, acct := range []ChannelStatus{account(d, r1.Identity()), account(r1, r2.Identity())} {
		n, err := chain.Confirmations(ctx, chainhash.Hash(acct.Funding))
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, uint32(1), "btcd accepted and mined the funding")
	}
	dr1 := account(d, r1.Identity())
	r1r2 := account(r1, r2.Identity())
	t.Logf("dialler paid r1 %d sat (%d states); r1 paid r2 %d sat (%d states)",
		dr1.PaidByUs, dr1.Version, r1r2.PaidByUs, r1r2.Version)
	require.Positive(t, dr1.PaidByUs)
	require.Positive(t, r1r2.PaidByUs)

	// Cooperative close of the dialler's channel: final at once.
	require.NoError(t, d.CloseChannel(r1.Identity(), 2000))
	require.Eventually(t, func() bool { return account(d, r1.Identity()).Close != [32]byte{} }, 10*time.Second, 10*time.Millisecond)
	closeID := chainhash.Hash(account(d, r1.Identity()).Close)
	require.Eventually(t, func() bool {
		_, err := chain.Confirmations(ctx, closeID)
		return err == nil // broadcast, in the mempool
	}, 10*time.Second, 10*time.Millisecond, "the close reached btcd")
	_, err = chain.Mine(ctx, 1)
	require.NoError(t, err)
	n, err := chain.Confirmations(ctx, closeID)
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "btcd mined the cooperative close")

	// Unilateral close of r1's channel with r2: the newest state, refused
	// before its lock time, accepted at it; a tampered copy never.
	newest, err := r1.ForceCloseChannel(r2.Identity())
	require.NoError(t, err)
	err = chain.Broadcast(ctx, newest)
	require.ErrorIs(t, err, channel.ErrNonFinal, "not before its lock time")
	h, err := chain.Height(ctx)
	require.NoError(t, err)
	_, err = chain.Mine(ctx, int(newest.LockTime-h))
	require.NoError(t, err)
	tampered := newest.Copy()
	tampered.TxOut[0].Value--
	require.ErrorIs(t, chain.Broadcast(ctx, tampered), channel.ErrRejected, "a tampered state is refused")
	require.NoError(t, chain.Broadcast(ctx, newest), "the newest state is final at its lock time")
	_, err = chain.Mine(ctx, 1)
	require.NoError(t, err)
	n, err = chain.Confirmations(ctx, newest.TxHash())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	// One output pays r2 exactly what it earned.
	earned := int64(account(r2, r1.Identity()).Local)
	require.Greater(t, earned, int64(546))
	found := false
	for _, o := range newest.TxOut {
		found = found || o.Value == earned
	}
	require.True(t, found, "r2's balance of %d sat is paid out by the state btcd mined", earned)
}
