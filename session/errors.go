package session

import (
	"errors"
	"fmt"
	"net"
)

// Errors of the session package. The route package re-exports each under
// its old name (route.ErrTampered is ErrTampered), so errors.Is works with
// either.
var (
	// ErrTampered means a record failed authentication: something on the
	// path altered, dropped or reordered data. The connection is over.
	ErrTampered = errors.New("session: record authentication failed: data was altered on the path")
	// ErrProtocol means the other end broke the end-to-end protocol.
	ErrProtocol = errors.New("session: protocol violation")
	// ErrPathBroken means the path under a connection failed and no other
	// took its place in time.
	ErrPathBroken = errors.New("session: path broken")
	// ErrReset means the other end closed the connection, so a write (or a
	// read that expected more) cannot succeed.
	ErrReset = errors.New("session: connection reset by peer")
	// ErrClosed wraps net.ErrClosed: the connection is closed.
	ErrClosed = fmt.Errorf("session: closed: %w", net.ErrClosed)
	// ErrStalled is the cause recorded when a path went silent.
	ErrStalled = errors.New("session: path stalled")
)
