package billing

import (
	"errors"
	"fmt"
	"net"
)

// Errors of the billing package.
var (
	// ErrConfig means a Config or Host is invalid.
	ErrConfig = errors.New("billing: invalid configuration")
	// ErrClosed wraps net.ErrClosed: the engine is closed.
	ErrClosed = fmt.Errorf("billing: closed: %w", net.ErrClosed)
	// ErrNoChannel means there is no channel (or no link) with a neighbour.
	ErrNoChannel = errors.New("billing: no channel with that neighbour")
	// ErrNoLink means a neighbour has no link to send a channel message on.
	ErrNoLink = errors.New("billing: no link to the neighbour")
	// ErrBadQuote means a relay's quote in an ack failed its checks: a
	// bad key or signature, or it expired.
	ErrBadQuote = errors.New("billing: bad quote")
	// ErrIndex means the peer -> channel index in Config.Dir is corrupt.
	ErrIndex = errors.New("billing: corrupt channel index")
)
