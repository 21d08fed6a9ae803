package channel

import (
	"context"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Chain is what a channel needs of a Bitcoin node. The channel logic itself
// never calls it; the code that drives channels does (to broadcast the
// funding, close, claim, and to watch the funding output).
//
// Implementations: channel/simchain (in memory, for tests) and
// channel/rpcchain (a btcd node over JSON-RPC).
type Chain interface {
	// Height returns the height of the best block.
	Height(ctx context.Context) (uint32, error)
	// Broadcast submits tx to the node's mempool. An error that means the
	// node refused tx wraps ErrRejected, and also ErrNonFinal or
	// ErrDoubleSpend when that is the reason.
	Broadcast(ctx context.Context, tx *wire.MsgTx) error
	// Confirmations returns how deep tx is: 0 in the mempool, 1 in the
	// best block, and so on. Unknown transactions wrap ErrTxNotFound.
	Confirmations(ctx context.Context, txid chainhash.Hash) (uint32, error)
	// WatchSpend blocks until op is spent, in the mempool or a block, and
	// returns the spending transaction, or ctx's error. heightHint is a
	// height at or below the block that created op, where a scan may start.
	WatchSpend(ctx context.Context, op wire.OutPoint, heightHint uint32) (*wire.MsgTx, error)
}

// Miner is an optional ability of a Chain (found by type assertion) on test
// networks: mine n blocks now, with whatever the mempool holds.
type Miner interface {
	Mine(ctx context.Context, n int) ([]chainhash.Hash, error)
}
