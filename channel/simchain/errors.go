package simchain

import "errors"

// Reasons a transaction is refused, besides those the channel.Chain
// contract names (channel.ErrNonFinal, channel.ErrDoubleSpend). Every
// Broadcast refusal also wraps channel.ErrRejected.
var (
	// ErrInvalid means the transaction fails context-free sanity checks,
	// or is a coinbase.
	ErrInvalid = errors.New("simchain: invalid transaction")
	// ErrDuplicate means the transaction is already in the mempool or a
	// block.
	ErrDuplicate = errors.New("simchain: transaction already known")
	// ErrNonStandard means btcd's standardness policy refuses it (version,
	// dust, script types, size).
	ErrNonStandard = errors.New("simchain: transaction not standard")
	// ErrImmature means it spends a coinbase output with fewer than 100
	// confirmations.
	ErrImmature = errors.New("simchain: coinbase output not mature")
	// ErrValue means its outputs exceed its inputs.
	ErrValue = errors.New("simchain: outputs exceed inputs")
	// ErrFeeTooLow means its fee rate is below the minimum relay fee rate.
	ErrFeeTooLow = errors.New("simchain: fee below the relay minimum")
	// ErrScript means an input fails btcd's script engine under the
	// standard verification flags.
	ErrScript = errors.New("simchain: script verification failed")
)
