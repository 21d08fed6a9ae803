package relay

import "errors"

// Errors of the relay package.
var (
	// ErrDuplicate means a circuit with the same key is already known.
	ErrDuplicate = errors.New("relay: circuit already known")
	// ErrClosed means the table is closed.
	ErrClosed = errors.New("relay: table closed")
	// ErrUnreachable means a circuit's downstream stream could not be
	// opened.
	ErrUnreachable = errors.New("relay: next hop unreachable")
	// ErrOverBudget means a circuit was refused because it would exceed
	// a circuit or memory budget (the error names which).
	ErrOverBudget = errors.New("relay: circuit over budget")
)
