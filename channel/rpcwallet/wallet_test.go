package rpcwallet_test

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/rpcwallet"
)

func coins(values ...btcutil.Amount) []rpcwallet.Coin {
	out := make([]rpcwallet.Coin, len(values))
	for i, v := range values {
		out[i] = rpcwallet.Coin{OutPoint: wire.OutPoint{Index: uint32(i)}, Value: v}
	}
	return out
}

// The funding pays amount, the fee at the rate for its size, and the
// change: nothing is lost and nothing is made up.
func TestSelectPaysAmountFeeAndChangeExactly(t *testing.T) {
	const rate = channel.FeeRate(2000)
	picked, change, err := rpcwallet.Select(coins(50_000, 2_000_000, 600_000), 1_000_000, rate)
	require.NoError(t, err)
	require.Len(t, picked, 1, "the largest coin covers it")
	require.Equal(t, btcutil.Amount(2_000_000), picked[0].Value)
	fee := picked[0].Value - 1_000_000 - change
	// 11 + 43 + 69 + 31 vB at 2 sat/vB.
	require.Equal(t, rate.Fee(154), fee)
	require.GreaterOrEqual(t, fee, channel.MinRelayFeeRate.Fee(154))

	picked, change, err = rpcwallet.Select(coins(600_000, 500_000, 50_000), 1_000_000, rate)
	require.NoError(t, err)
	require.Len(t, picked, 2, "largest first until covered")
	require.Equal(t, btcutil.Amount(1_100_000-1_000_000)-rate.Fee(11+43+2*69+31), change)
}

func TestSelectLeavesDustChangeToTheFee(t *testing.T) {
	const rate = channel.FeeRate(1000)
	amount := btcutil.Amount(100_000)
	coin := amount + rate.Fee(11+43+69) + 300 // 300 sat over: dust
	picked, change, err := rpcwallet.Select(coins(coin), amount, rate)
	require.NoError(t, err)
	require.Len(t, picked, 1)
	require.Zero(t, change)
}

func TestSelectSaysWhenFundsFallShort(t *testing.T) {
	_, _, err := rpcwallet.Select(coins(400_000, 500_000), 1_000_000, 2000)
	require.ErrorIs(t, err, rpcwallet.ErrInsufficientFunds)
	_, _, err = rpcwallet.Select(coins(1_000_000), 1_000_000, 2000)
	require.ErrorIs(t, err, rpcwallet.ErrInsufficientFunds, "the fee is not covered")
	_, _, err = rpcwallet.Select(nil, 1, 2000)
	require.ErrorIs(t, err, rpcwallet.ErrInsufficientFunds)
	_, _, err = rpcwallet.Select(coins(10), 0, 2000)
	require.ErrorIs(t, err, rpcwallet.ErrConfig)
}

func TestSelectSpendsAtMost16Coins(t *testing.T) {
	many := make([]btcutil.Amount, 40)
	for i := range many {
		many[i] = 100_000
	}
	_, _, err := rpcwallet.Select(coins(many...), 2_000_000, 2000)
	require.ErrorIs(t, err, rpcwallet.ErrInsufficientFunds, "20 coins' worth needed, 16 allowed")
	picked, _, err := rpcwallet.Select(coins(many...), 1_000_000, 2000)
	require.NoError(t, err)
	require.Len(t, picked, 11)
}
