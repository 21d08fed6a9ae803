package peer

import "errors"

// Errors returned by the Noise handshake ([Handshake]) and the frame cipher
// ([Cipher]). Returned errors wrap one of these; test with [errors.Is].
var (
	// ErrHandshakeConfig reports an unusable [HandshakeConfig], or an
	// Ephemeral function that returned no key.
	ErrHandshakeConfig = errors.New("peer: invalid handshake config")

	// ErrHandshakeState reports a handshake method called out of order, by
	// the wrong role, or after the handshake failed or was spent.
	ErrHandshakeState = errors.New("peer: handshake step out of order")

	// ErrActSize reports a handshake act of the wrong length.
	ErrActSize = errors.New("peer: handshake act has wrong size")

	// ErrBadVersion reports a handshake act whose version byte is unknown or
	// does not match the pattern in use.
	ErrBadVersion = errors.New("peer: unknown handshake version")

	// ErrBadKey reports a public key in a handshake act that is not a valid
	// compressed secp256k1 point.
	ErrBadKey = errors.New("peer: invalid public key in handshake")

	// ErrBadMAC reports a handshake act that failed authentication: wrong
	// network key, wrong responder key, or tampering.
	ErrBadMAC = errors.New("peer: handshake authentication failed")

	// ErrFrameAuth reports a frame header or body that failed
	// authentication. The [Cipher] is unusable afterwards.
	ErrFrameAuth = errors.New("peer: frame authentication failed")

	// ErrFrameSize reports a frame header or body buffer of the wrong length.
	ErrFrameSize = errors.New("peer: frame has wrong size")

	// ErrFrameState reports [Cipher.OpenHeader] and [Cipher.OpenBody] called
	// out of turn, or any use of a receive Cipher after an earlier error.
	ErrFrameState = errors.New("peer: frame decoded out of order")
)
