package rpcchain

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// What a wallet asks of the node besides channel.Chain: which network it
// is on, the transactions that pay an address, and whether an output is
// still unspent.

// maxSearched bounds the transactions TransactionsTo reads for one
// address.
const maxSearched = 10000

// Params returns the parameters of the network the node is on.
func (c *Chain) Params(ctx context.Context) (*chaincfg.Params, error) {
	info, err := c.rpc.GetBlockChainInfo()
	if err != nil {
		return nil, fmt.Errorf("rpcchain: getblockchaininfo: %w", err)
	}
	switch info.Chain {
	case "main", "mainnet":
		return &chaincfg.MainNetParams, nil
	case "test", "testnet3":
		return &chaincfg.TestNet3Params, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	}
	return nil, fmt.Errorf("rpcchain: unknown network %q", info.Chain)
}

// TransactionsTo returns the transactions, confirmed or in the mempool,
// that involve address (at most 10,000). The node needs --addrindex;
// without it the error wraps ErrNoAddrIndex.
func (c *Chain) TransactionsTo(ctx context.Context, address btcutil.Address) ([]*wire.MsgTx, error) {
	var out []*wire.MsgTx
	const page = 100
	for len(out) < maxSearched {
		txs, err := c.rpc.SearchRawTransactions(address, len(out), page, false, nil)
		if err != nil {
			var rerr *btcjson.RPCError
			if errors.As(err, &rerr) && rerr.Code == btcjson.ErrRPCNoTxInfo {
				break // no (more) transactions
			}
			if errors.As(err, &rerr) && rerr.Code == btcjson.ErrRPCMisc {
				return nil, fmt.Errorf("%w: searchrawtransactions: %s", ErrNoAddrIndex, rerr.Message)
			}
			return nil, fmt.Errorf("rpcchain: searchrawtransactions: %w", err)
		}
		out = append(out, txs...)
		if len(txs) < page {
			break
		}
	}
	return out, nil
}

// Unspent is an unspent output as the node reports it.
type Unspent struct {
	wire.TxOut
	Confirmations int64 // 0 while in the mempool
	Coinbase      bool  // spendable only after 100 confirmations
}

// UnspentOutput returns op if it is unspent, counting the mempool's
// spends, or nil if it is spent or unknown.
func (c *Chain) UnspentOutput(ctx context.Context, op wire.OutPoint) (*Unspent, error) {
	res, err := c.rpc.GetTxOut(&op.Hash, op.Index, true)
	if err != nil {
		return nil, fmt.Errorf("rpcchain: gettxout: %w", err)
	}
	if res == nil {
		return nil, nil
	}
	value, err := btcutil.NewAmount(res.Value)
	if err != nil {
		return nil, fmt.Errorf("rpcchain: gettxout: value %v: %w", res.Value, err)
	}
	script, err := hex.DecodeString(res.ScriptPubKey.Hex)
	if err != nil {
		return nil, fmt.Errorf("rpcchain: gettxout: script: %w", err)
	}
	return &Unspent{TxOut: wire.TxOut{Value: int64(value), PkScript: script}, Confirmations: res.Confirmations,
		Coinbase: res.Coinbase}, nil
}
