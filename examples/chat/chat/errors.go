package chat

import (
	"errors"
	"fmt"
	"net"
)

var (
	// ErrServerClosed is what Serve returns after Close. It wraps
	// net.ErrClosed.
	ErrServerClosed = fmt.Errorf("chat: server closed: %w", net.ErrClosed)
	// ErrBadName is wrapped by CheckName's errors (and so Client's) with
	// the reason a name is refused.
	ErrBadName = errors.New("chat: bad name")
	// ErrRefused is wrapped by Client's error, with the server's reason,
	// when the server refuses the name (it is taken, say).
	ErrRefused = errors.New("chat: refused by the server")
	// ErrHungUp is Client's error when the server closes the connection
	// before the client is done: the server shut down, or dropped the
	// client.
	ErrHungUp = errors.New("chat: the server closed the connection")
	// ErrLineTooLong is returned for a line longer than the reader allows.
	ErrLineTooLong = errors.New("chat: line too long")
)
