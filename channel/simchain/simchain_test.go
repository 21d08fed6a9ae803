package simchain_test

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var ctx = context.Background()

// coinbaseCoin mines a block and returns its coinbase output.
func coinbaseCoin(c *simchain.Chain) (wire.OutPoint, int64) {
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	h, _ := c.Height(ctx)
	cb := c.Block(h)[0]
	return wire.OutPoint{Hash: cb.TxHash(), Index: 0}, cb.TxOut[0].Value
}

// spend builds a version-2 transaction spending an anyone-can-spend
// output, paying value-fee back to anyone-can-spend.
func spend(op wire.OutPoint, value int64, fee int64, seq uint32, lock uint32) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.LockTime = lock
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op, Sequence: seq, Witness: simchain.AnyoneCanSpendWitness()})
	tx.AddTxOut(wire.NewTxOut(value-fee, simchain.AnyoneCanSpendScript()))
	return tx
}

func height(t *testing.T, c *simchain.Chain) uint32 {
	h, err := c.Height(ctx)
	require.NoError(t, err)
	return h
}

// matured returns a spendable confirmed output.
func matured(t *testing.T, c *simchain.Chain) (wire.OutPoint, int64) {
	op, v := coinbaseCoin(c)
	c.MineTo(simchain.CoinbaseMaturity, simchain.AnyoneCanSpendScript())
	tx := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	require.NoError(t, c.Broadcast(ctx, tx))
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	return wire.OutPoint{Hash: tx.TxHash()}, tx.TxOut[0].Value
}

func TestCoinbaseSpendableAfter100Confirmations(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := coinbaseCoin(c)
	c.MineTo(simchain.CoinbaseMaturity-2, simchain.AnyoneCanSpendScript())
	tx := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	err := c.Broadcast(ctx, tx)
	require.ErrorIs(t, err, channel.ErrRejected)
	require.ErrorIs(t, err, simchain.ErrImmature)
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	require.NoError(t, c.Broadcast(ctx, tx), "the next block is the coinbase's 100th confirmation")
}

func TestLockTimeIsFinalOnlyFromItsHeight(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c)
	h := height(t, c)
	early := spend(op, v, 1000, 1<<31, h+1)
	require.ErrorIs(t, c.Broadcast(ctx, early), channel.ErrNonFinal)
	// A final sequence on every input disables nLockTime.
	require.NoError(t, c.Broadcast(ctx, spend(op, v, 1000, wire.MaxTxInSequenceNum, h+50)))
	// And a transaction whose lock time is the tip is final in the next block.
	op2, v2 := matured(t, c)
	require.NoError(t, c.Broadcast(ctx, spend(op2, v2, 1000, 1<<31, height(t, c))))
}

func TestBIP68RelativeLockAppliesToVersion2WithoutBit31(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c) // one confirmation
	rel := spend(op, v, 1000, 5, 0)
	err := c.Broadcast(ctx, rel)
	require.ErrorIs(t, err, channel.ErrNonFinal, "a plain small nSequence is a 5-block relative lock")
	c.MineTo(3, simchain.AnyoneCanSpendScript())
	require.ErrorIs(t, c.Broadcast(ctx, rel), channel.ErrNonFinal, "4 confirmations")
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	require.NoError(t, c.Broadcast(ctx, rel), "5 confirmations at the next block")

	// With bit 31 set, or in version 1, there is no relative lock.
	op2, v2 := matured(t, c)
	require.NoError(t, c.Broadcast(ctx, spend(op2, v2, 1000, 1<<31|500, 0)))
	op3, v3 := matured(t, c)
	old := spend(op3, v3, 1000, 500, 0)
	old.Version = 1
	require.NoError(t, c.Broadcast(ctx, old))

	// Time-based relative locks (bit 22) count 512-second units of median
	// time; blocks are ten minutes apart.
	op4, v4 := matured(t, c)
	timed := spend(op4, v4, 1000, wire.SequenceLockTimeIsSeconds|3, 0)
	require.ErrorIs(t, c.Broadcast(ctx, timed), channel.ErrNonFinal)
	c.MineTo(12, simchain.AnyoneCanSpendScript())
	require.NoError(t, c.Broadcast(ctx, timed))
}

func TestFirstSpendWins(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c)
	first := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	second := spend(op, v, 5000, wire.MaxTxInSequenceNum, 0)
	require.NoError(t, c.Broadcast(ctx, first))
	require.ErrorIs(t, c.Broadcast(ctx, second), channel.ErrDoubleSpend, "no replacement, even at a higher fee")
	require.ErrorIs(t, c.Broadcast(ctx, first), simchain.ErrDuplicate)
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	require.ErrorIs(t, c.Broadcast(ctx, second), channel.ErrDoubleSpend)
	n, err := c.Confirmations(ctx, first.TxHash())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	_, err = c.Confirmations(ctx, second.TxHash())
	require.ErrorIs(t, err, channel.ErrTxNotFound)
}

func TestBadScriptDustAndLowFeeAreRefused(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c)

	bad := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	bad.TxIn[0].Witness = wire.TxWitness{{0x00}}
	require.ErrorIs(t, c.Broadcast(ctx, bad), simchain.ErrScript)

	dust := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	dust.AddTxOut(wire.NewTxOut(100, simchain.AnyoneCanSpendScript()))
	dust.TxOut[0].Value -= 100
	require.ErrorIs(t, c.Broadcast(ctx, dust), simchain.ErrNonStandard)

	cheap := spend(op, v, 10, wire.MaxTxInSequenceNum, 0)
	require.ErrorIs(t, c.Broadcast(ctx, cheap), simchain.ErrFeeTooLow)

	greedy := spend(op, v, -1, wire.MaxTxInSequenceNum, 0)
	require.ErrorIs(t, c.Broadcast(ctx, greedy), simchain.ErrValue)

	v3 := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	v3.Version = 3
	require.ErrorIs(t, c.Broadcast(ctx, v3), simchain.ErrNonStandard)
}

func TestChildOfMempoolParentIsMinedInTheSameBlock(t *testing.T) {
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c)
	parent := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)
	child := spend(wire.OutPoint{Hash: parent.TxHash()}, parent.TxOut[0].Value, 1000, wire.MaxTxInSequenceNum, 0)
	require.NoError(t, c.Broadcast(ctx, parent))
	require.NoError(t, c.Broadcast(ctx, child))
	c.MineTo(1, simchain.AnyoneCanSpendScript())
	require.Empty(t, c.Mempool())
	require.Len(t, c.Block(height(t, c)), 3)
	_, ok := c.UTXO(wire.OutPoint{Hash: child.TxHash()})
	require.True(t, ok)
	_, ok = c.UTXO(wire.OutPoint{Hash: parent.TxHash()})
	require.False(t, ok)
}

func TestWatchSpendWaitsForTheSpender(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := simchain.New(simchain.Config{})
	op, v := matured(t, c)
	tx := spend(op, v, 1000, wire.MaxTxInSequenceNum, 0)

	got := make(chan *wire.MsgTx)
	go func() {
		s, err := c.WatchSpend(ctx, op, 0)
		if err != nil {
			s = nil
		}
		got <- s
	}()
	require.NoError(t, c.Broadcast(ctx, tx))
	select {
	case s := <-got:
		require.Equal(t, tx.TxHash(), s.TxHash())
	case <-time.After(5 * time.Second):
		t.Fatal("WatchSpend did not return")
	}

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := c.WatchSpend(short, wire.OutPoint{Index: 7}, 0)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
