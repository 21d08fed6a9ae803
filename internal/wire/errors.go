package wire

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed means a frame or header does not parse.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrTooLarge means a frame exceeds MaxMessageSize.
	ErrTooLarge = errors.New("wire: message too large")
)

// UnknownTypeError reports a message type this version does not know. If
// Type.Optional() the receiver may ignore the message.
type UnknownTypeError struct{ Type Type }

func (e *UnknownTypeError) Error() string {
	return fmt.Sprintf("wire: unknown message type %#02x", uint8(e.Type))
}
