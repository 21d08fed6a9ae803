package obfs

import "errors"

var (
	// ErrNoKey means a datagram was written to an address this conn has
	// no key for: no peer key was added for it, no initiator has keyed
	// it, and there is no network key.
	ErrNoKey = errors.New("obfs: no key for address")
	// ErrTooLarge means a datagram does not fit, with the wrapper's
	// overhead, in one UDP datagram.
	ErrTooLarge = errors.New("obfs: datagram too large")
	// ErrConfig means a Config field is invalid.
	ErrConfig = errors.New("obfs: invalid config")
	// errOpen is a datagram that does not authenticate (never returned
	// to a caller: such datagrams are dropped and counted).
	errOpen = errors.New("obfs: datagram does not authenticate")
)
