// Package rpcchain implements channel.Chain over a btcd node's JSON-RPC
// interface (github.com/btcsuite/btcd/rpcclient, HTTP POST mode).
//
// The node must run with --txindex (Confirmations looks transactions up by
// id) and, so that it refuses what a channel must not get away with,
// --rejectnonstd: without it a regtest node accepts non-final transactions
// into its mempool. Mine (channel.Miner) needs --miningaddr.
//
// btcd reports why it refused a transaction only in the text of its RPC
// error. Broadcast maps that text to channel.ErrNonFinal and
// channel.ErrDoubleSpend here, in one place; nothing else in the module
// reads error text.
package rpcchain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
)

// Config says how to reach the node.
type Config struct {
	// Host is the node's RPC address, host:port. Required.
	Host string
	// User and Pass are the RPC credentials.
	User, Pass string
	// NoTLS talks plain HTTP; allowed only to a loopback address.
	NoTLS bool
	// Certificates is the node's PEM certificate when TLS is used.
	Certificates []byte
	// PollInterval is how often WatchSpend asks the node. Default 1s.
	PollInterval time.Duration
}

// Chain is a channel.Chain backed by a btcd node. Close it to stop the RPC
// client's goroutines.
type Chain struct {
	rpc  *rpcclient.Client
	poll time.Duration
}

var (
	_ channel.Chain = (*Chain)(nil)
	_ channel.Miner = (*Chain)(nil)
)

// New connects to the node described by cfg.
func New(cfg Config) (*Chain, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("rpcchain: Host is required")
	}
	if cfg.NoTLS {
		host, _, err := net.SplitHostPort(cfg.Host)
		if err != nil {
			return nil, fmt.Errorf("rpcchain: %w", err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("rpcchain: NoTLS is allowed on loopback only, not %s", host)
		}
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	rpc, err := rpcclient.New(&rpcclient.ConnConfig{
		Host:         cfg.Host,
		User:         cfg.User,
		Pass:         cfg.Pass,
		HTTPPostMode: true,
		DisableTLS:   cfg.NoTLS,
		Certificates: cfg.Certificates,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("rpcchain: %w", err)
	}
	return &Chain{rpc: rpc, poll: cfg.PollInterval}, nil
}

// Close shuts the RPC client down and waits for its goroutines.
func (c *Chain) Close() error {
	c.rpc.Shutdown()
	c.rpc.WaitForShutdown()
	return nil
}

// Height implements channel.Chain.
func (c *Chain) Height(ctx context.Context) (uint32, error) {
	n, err := c.rpc.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("rpcchain: getblockcount: %w", err)
	}
	return uint32(n), nil
}

// Broadcast implements channel.Chain.
func (c *Chain) Broadcast(ctx context.Context, tx *wire.MsgTx) error {
	_, err := c.rpc.SendRawTransaction(tx, false)
	if err == nil {
		return nil
	}
	var rerr *btcjson.RPCError
	if !errors.As(err, &rerr) {
		return fmt.Errorf("rpcchain: sendrawtransaction: %w", err)
	}
	msg := strings.ToLower(rerr.Message)
	switch {
	case strings.Contains(msg, "not finalized"), strings.Contains(msg, "sequence locks"):
		return fmt.Errorf("%w: %w: %s", channel.ErrRejected, channel.ErrNonFinal, rerr.Message)
	case strings.Contains(msg, "already spent"), strings.Contains(msg, "orphan transaction"),
		strings.Contains(msg, "replacement transaction"):
		return fmt.Errorf("%w: %w: %s", channel.ErrRejected, channel.ErrDoubleSpend, rerr.Message)
	}
	return fmt.Errorf("%w: %s", channel.ErrRejected, rerr.Message)
}

// Confirmations implements channel.Chain (the node needs --txindex).
func (c *Chain) Confirmations(ctx context.Context, txid chainhash.Hash) (uint32, error) {
	res, err := c.rpc.GetRawTransactionVerbose(&txid)
	if err != nil {
		var rerr *btcjson.RPCError
		if errors.As(err, &rerr) && rerr.Code == btcjson.ErrRPCNoTxInfo {
			return 0, fmt.Errorf("%w: %v", channel.ErrTxNotFound, txid)
		}
		return 0, fmt.Errorf("rpcchain: getrawtransaction: %w", err)
	}
	return uint32(res.Confirmations), nil
}

// WatchSpend implements channel.Chain by polling: while gettxout reports
// op unspent (mempool included) it waits; then it looks for the spender in
// the mempool and in the blocks from heightHint up.
func (c *Chain) WatchSpend(ctx context.Context, op wire.OutPoint, heightHint uint32) (*wire.MsgTx, error) {
	for {
		out, err := c.rpc.GetTxOut(&op.Hash, op.Index, true)
		if err != nil {
			return nil, fmt.Errorf("rpcchain: gettxout: %w", err)
		}
		if out == nil {
			tx, err := c.findSpender(op, heightHint)
			if err != nil || tx != nil {
				return tx, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(c.poll):
		}
	}
}

func (c *Chain) findSpender(op wire.OutPoint, from uint32) (*wire.MsgTx, error) {
	spends := func(tx *wire.MsgTx) bool {
		for _, in := range tx.TxIn {
			if in.PreviousOutPoint == op {
				return true
			}
		}
		return false
	}
	pool, err := c.rpc.GetRawMempool()
	if err != nil {
		return nil, fmt.Errorf("rpcchain: getrawmempool: %w", err)
	}
	for _, id := range pool {
		tx, err := c.rpc.GetRawTransaction(id)
		if err != nil {
			continue // left the mempool meanwhile
		}
		if spends(tx.MsgTx()) {
			return tx.MsgTx(), nil
		}
	}
	tip, err := c.rpc.GetBlockCount()
	if err != nil {
		return nil, fmt.Errorf("rpcchain: getblockcount: %w", err)
	}
	for h := int64(from); h <= tip; h++ {
		hash, err := c.rpc.GetBlockHash(h)
		if err != nil {
			return nil, fmt.Errorf("rpcchain: getblockhash: %w", err)
		}
		b, err := c.rpc.GetBlock(hash)
		if err != nil {
			return nil, fmt.Errorf("rpcchain: getblock: %w", err)
		}
		for _, tx := range b.Transactions {
			if spends(tx) {
				return tx, nil
			}
		}
	}
	return nil, nil
}

// Mine implements channel.Miner with btcd's generate RPC (regtest or
// simnet, with --miningaddr).
func (c *Chain) Mine(ctx context.Context, n int) ([]chainhash.Hash, error) {
	hs, err := c.rpc.Generate(uint32(n))
	if err != nil {
		return nil, fmt.Errorf("rpcchain: generate: %w", err)
	}
	out := make([]chainhash.Hash, len(hs))
	for i, h := range hs {
		out[i] = *h
	}
	return out, nil
}

// Block returns the block with the given hash (for tests that need a
// coinbase).
func (c *Chain) Block(hash chainhash.Hash) (*wire.MsgBlock, error) {
	b, err := c.rpc.GetBlock(&hash)
	if err != nil {
		return nil, fmt.Errorf("rpcchain: getblock: %w", err)
	}
	return b, nil
}
