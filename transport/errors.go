package transport

import "errors"

var (
	// ErrNoTransport means no configured transport handles an address.
	ErrNoTransport = errors.New("transport: no transport")
	// ErrBadIdentity means a /foxtrot component is neither a foxtrot
	// address nor a 66-hex compressed public key.
	ErrBadIdentity = errors.New("transport: bad /foxtrot identity")
)
