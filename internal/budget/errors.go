package budget

import (
	"errors"
	"fmt"
)

// ErrLimit is what every refusal wraps: a limit of the budget is reached.
var ErrLimit = errors.New("budget: limit reached")

// LimitError is a refusal, naming the limit that refused it. It matches
// [ErrLimit] under errors.Is.
type LimitError struct {
	Kind  Kind   // the resource, e.g. "stream"
	Scope string // "system-wide", or the pool's per-key scope, e.g. "per-peer"
	Limit int    // the limit that was reached
}

// Error says which limit was reached, e.g. "budget: per-peer stream limit
// (256) reached".
func (e *LimitError) Error() string {
	return fmt.Sprintf("budget: %s %s limit (%d) reached", e.Scope, e.Kind, e.Limit)
}

// Is reports whether target is [ErrLimit].
func (e *LimitError) Is(target error) bool { return target == ErrLimit }
