package channel_test

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/stretchr/testify/require"
)

// key derives a deterministic private key from a name.
func key(name string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte(name))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// world is a simulated chain with wallets that own matured coinbase
// outputs paid to P2WPKH.
type world struct {
	t     testing.TB
	chain *simchain.Chain
	ctx   context.Context
}

func newWorld(t testing.TB) *world {
	return &world{t: t, chain: simchain.New(simchain.Config{}), ctx: context.Background()}
}

func (w *world) height() uint32 {
	h, err := w.chain.Height(w.ctx)
	require.NoError(w.t, err)
	return h
}

// coin mines a block paying the wallet of name and matures it; it returns
// the coinbase output as a funding input signed by that wallet's key.
func (w *world) coin(name string) channel.FundingInput {
	k := key("wallet " + name)
	h := w.chain.MineTo(1, channel.P2WPKH(k.PubKey()))
	_ = h
	cb := w.chain.Block(w.height())[0]
	w.chain.MineTo(simchain.CoinbaseMaturity, simchain.AnyoneCanSpendScript())
	return channel.FundingInput{
		OutPoint: wire.OutPoint{Hash: cb.TxHash(), Index: 0},
		PrevOut:  *cb.TxOut[0],
		Signer:   channel.KeySigner{Key: k},
	}
}

func (w *world) mineTo(h uint32) {
	if cur := w.height(); h > cur {
		w.chain.MineTo(int(h-cur), simchain.AnyoneCanSpendScript())
	}
}

func (w *world) cfg() channel.Config {
	return channel.Config{Height: func() uint32 { return w.height() }}
}

// contribution funds amount from a fresh coin of name, change back to it.
func (w *world) contribution(name string, amount btcutil.Amount) channel.Contribution {
	c := channel.Contribution{Key: key("channel " + name), Amount: amount}
	if amount == 0 {
		return c
	}
	in := w.coin(name)
	c.Inputs = []channel.FundingInput{in}
	c.Change = wire.NewTxOut(in.PrevOut.Value-int64(amount)-1000, channel.P2WPKH(key("change "+name).PubKey()))
	return c
}

// deliver hands msg to `to`, then bounces replies between the two until
// none is left. It returns the result of the first delivery.
func deliver(t testing.TB, to, from *channel.Channel, msg []byte) channel.Result {
	t.Helper()
	res, err := to.Receive(msg)
	require.NoError(t, err)
	if res.Reply != nil {
		deliver(t, from, to, res.Reply)
	}
	return res
}

// open runs the whole opening between an opener and an acceptor, then
// broadcasts and confirms the funding.
func (w *world) open(cfgA, cfgB channel.Config, a, b channel.Contribution) (*channel.Channel, *channel.Channel) {
	t := w.t
	ca, msg, err := channel.Open(cfgA, a)
	require.NoError(t, err)
	cb, reply, err := channel.Accept(cfgB, msg, b)
	require.NoError(t, err)
	resA, err := ca.Receive(reply)
	require.NoError(t, err)
	resB, err := cb.Receive(resA.Reply)
	require.NoError(t, err)
	require.NotNil(t, resB.Funding)
	resA, err = ca.Receive(resB.Reply)
	require.NoError(t, err)
	require.NotNil(t, resA.Funding)
	require.Equal(t, resA.Funding.TxHash(), resB.Funding.TxHash())
	require.Equal(t, channel.PhaseOpen, ca.Phase())
	require.Equal(t, channel.PhaseOpen, cb.Phase())
	require.NoError(t, w.chain.Broadcast(w.ctx, resA.Funding))
	w.chain.MineTo(1, simchain.AnyoneCanSpendScript())
	n, err := w.chain.Confirmations(w.ctx, resA.Funding.TxHash())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	return ca, cb
}

// pair opens a channel where a funds 1,000,000 sat and b 500,000.
func (w *world) pair(na, nb string) (*channel.Channel, *channel.Channel) {
	return w.open(w.cfg(), w.cfg(), w.contribution(na, 1_000_000), w.contribution(nb, 500_000))
}

// update proposes ops from p and completes the exchange with q.
func update(t testing.TB, p, q *channel.Channel, ops ...channel.Op) channel.Update {
	t.Helper()
	u, msg, err := p.Propose(ops...)
	require.NoError(t, err)
	res, err := q.Receive(msg)
	require.NoError(t, err)
	require.NotNil(t, res.Update)
	require.True(t, res.Update.Remote)
	ack, err := p.Receive(res.Reply)
	require.NoError(t, err)
	require.NotNil(t, ack.Update)
	require.Equal(t, u.Version, ack.Update.Version)
	return u
}

// requireScriptValid runs btcd's script engine over every input of tx.
func requireScriptValid(t testing.TB, tx *wire.MsgTx, prevOuts map[wire.OutPoint]*wire.TxOut) {
	t.Helper()
	fetch := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range tx.TxIn {
		prev := prevOuts[in.PreviousOutPoint]
		require.NotNil(t, prev, "input %d", i)
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetch)
		require.NoError(t, err)
		require.NoError(t, vm.Execute(), "input %d", i)
	}
}

// fundingPrevOut is the funding output of ch, as a prevout map.
func fundingPrevOut(ch *channel.Channel) map[wire.OutPoint]*wire.TxOut {
	op := ch.FundingOutPoint()
	return map[wire.OutPoint]*wire.TxOut{op: ch.FundingTx().TxOut[op.Index]}
}

func outputsOf(tx *wire.MsgTx) map[wire.OutPoint]*wire.TxOut {
	m := map[wire.OutPoint]*wire.TxOut{}
	for i, o := range tx.TxOut {
		m[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = o
	}
	return m
}

// paidTo sums the outputs of tx paying pkScript.
func paidTo(tx *wire.MsgTx, pkScript []byte) btcutil.Amount {
	var v btcutil.Amount
	for _, o := range tx.TxOut {
		if string(o.PkScript) == string(pkScript) {
			v += btcutil.Amount(o.Value)
		}
	}
	return v
}

func payout(name string) []byte { return channel.P2WPKH(key("channel " + name).PubKey()) }

func preimageOf(s string) ([32]byte, [32]byte) {
	p := sha256.Sum256([]byte(s))
	return p, sha256.Sum256(p[:])
}

func ecdsaSign(k *btcec.PrivateKey, hash []byte) []byte {
	return ecdsa.Sign(k, hash).Serialize()
}

// spareScript is the pkScript of a spare output of the channel opened by
// name: P2WSH(<opener key> OP_CHECKSIG).
func spareScript(name string) []byte {
	ws := append([]byte{33}, key("channel "+name).PubKey().SerializeCompressed()...)
	ws = append(ws, txscript.OP_CHECKSIG)
	h := sha256.Sum256(ws)
	return append([]byte{txscript.OP_0, 32}, h[:]...)
}
