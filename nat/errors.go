package nat

import "errors"

var (
	// ErrBadMessage means a control message body is malformed; the link
	// that sent it is dropped, as for any malformed message.
	ErrBadMessage = errors.New("nat: bad message")
)
