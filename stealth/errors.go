package stealth

import "errors"

// Errors of the stealth package. Functions wrap them with %w and detail.
var (
	// ErrBadAddress means a string is not a silent payment address:
	// bad bech32m, wrong human-readable part, version or length.
	ErrBadAddress = errors.New("stealth: bad address")
	// ErrBadKey means a key is missing, zero, or not a valid point.
	ErrBadKey = errors.New("stealth: bad key")
	// ErrInvalidScalar means a hash or a sum of keys is zero or not below
	// the group order: BIP-352 says fail (a probability of about 2^-128).
	ErrInvalidScalar = errors.New("stealth: invalid scalar")
	// ErrInfinity means the input keys sum to the point at infinity (their
	// private keys sum to zero): a sender fails, a receiver skips the
	// transaction.
	ErrInfinity = errors.New("stealth: input keys sum to the point at infinity")
	// ErrNoInputs means no input of a transaction is eligible for shared
	// secret derivation (P2TR, P2WPKH, P2SH-P2WPKH, P2PKH with compressed
	// keys).
	ErrNoInputs = errors.New("stealth: no eligible inputs")
	// ErrWitnessVersion means a transaction spends an output of segwit
	// version 2 or higher, which silent payments v0 must not use.
	ErrWitnessVersion = errors.New("stealth: spends an unknown witness version")
	// ErrMissingKey means an eligible input has no private key, or one
	// that does not match the key the input reveals.
	ErrMissingKey = errors.New("stealth: input key missing or wrong")
	// ErrTooManyRecipients means more than KMax addresses share one scan
	// key in a transaction.
	ErrTooManyRecipients = errors.New("stealth: more than K_max recipients share a scan key")
	// ErrBadRequest means the stealth fields of a connect request are
	// malformed: the ephemeral key, the nonce or the target.
	ErrBadRequest = errors.New("stealth: bad request fields")
)
