package noise

import "errors"

// Errors returned by the Noise handshake ([Handshake]), the frame cipher
// ([Cipher]) and [Client] and [Server]. Returned errors wrap one of these;
// test with [errors.Is].
var (
	// ErrHandshakeTimeout means a handshake run by [Client] or [Server] did
	// not finish in time (its context ended). It also wraps the context's
	// error.
	ErrHandshakeTimeout = errors.New("noise: handshake timed out")

	// ErrRefused means the responder closed the handshake before
	// answering act one: it is overloaded (it sheds handshakes by closing
	// them unanswered), it does not hold the key the initiator expected,
	// the initiator lacks its network key, or it is not a foxtrot node (a
	// responder cannot tell which, and says nothing).
	ErrRefused = errors.New("noise: handshake refused: the peer closed before answering (overloaded, not the expected key or network key, or not a foxtrot node)")

	// ErrBadCookie reports a cookie reply (sent by a responder under load
	// instead of act two) of the wrong size or with a bad tag.
	ErrBadCookie = errors.New("noise: bad cookie reply")

	// ErrHandshakeConfig reports an unusable [Config], or an
	// Ephemeral function that returned no key.
	ErrHandshakeConfig = errors.New("noise: invalid handshake config")

	// ErrHandshakeState reports a handshake method called out of order, by
	// the wrong role, or after the handshake failed or was spent.
	ErrHandshakeState = errors.New("noise: handshake step out of order")

	// ErrActSize reports a handshake act of the wrong length.
	ErrActSize = errors.New("noise: handshake act has wrong size")

	// ErrBadVersion reports a handshake act whose version byte is unknown or
	// does not match the pattern in use.
	ErrBadVersion = errors.New("noise: unknown handshake version")

	// ErrBadKey reports a public key in a handshake act that is not a valid
	// compressed secp256k1 point.
	ErrBadKey = errors.New("noise: invalid public key in handshake")

	// ErrBadMAC reports a handshake act that failed authentication: wrong
	// network key, wrong responder key, or tampering.
	ErrBadMAC = errors.New("noise: handshake authentication failed")

	// ErrFrameAuth reports a frame header or body that failed
	// authentication. The [Cipher] is unusable afterwards.
	ErrFrameAuth = errors.New("noise: frame authentication failed")

	// ErrFrameSize reports a frame header or body buffer of the wrong length.
	ErrFrameSize = errors.New("noise: frame has wrong size")

	// ErrFrameState reports [Cipher.OpenHeader] and [Cipher.OpenBody] called
	// out of turn, or any use of a receive Cipher after an earlier error.
	ErrFrameState = errors.New("noise: frame decoded out of order")
)
