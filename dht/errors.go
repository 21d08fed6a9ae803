package dht

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel errors. Each names the package; callers test them with
// errors.Is.
var (
	// ErrMalformed is wrapped by every decoder's error on bad bytes.
	ErrMalformed = errors.New("dht: malformed")
	// ErrBadSignature: a record's signature does not verify.
	ErrBadSignature = errors.New("dht: bad record signature")
	// ErrExpired: a record's expiry is past.
	ErrExpired = errors.New("dht: record expired")
	// ErrTooFarAhead: a record's expiry is beyond the store's MaxTTL.
	ErrTooFarAhead = errors.New("dht: record expiry too far ahead")
	// ErrStale: a record's seq is below the stored one, or equal with a
	// different content.
	ErrStale = errors.New("dht: stale record")
	// ErrCASMismatch: a put's cas does not match the stored seq.
	ErrCASMismatch = errors.New("dht: cas mismatch")
	// ErrStoreFull: the store is at its total bound.
	ErrStoreFull = errors.New("dht: store full")
	// ErrSourceFull: the putting source is at its per-source bound.
	ErrSourceFull = errors.New("dht: source over its record bound")
	// ErrTargetFull: a locator target already holds MaxKeysPerTarget keys.
	ErrTargetFull = errors.New("dht: target holds too many keys")
	// ErrTooLarge: a record field is over its bound.
	ErrTooLarge = errors.New("dht: record too large")
	// ErrBadToken: a put's write token is not one this node issued to the
	// putting peer.
	ErrBadToken = errors.New("dht: bad write token")
	// ErrNotListener: a listener record does not prove the address it was
	// looked up for.
	ErrNotListener = errors.New("dht: record does not prove the address")
	// ErrClosed is returned after Close; it wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("dht: closed: %w", net.ErrClosed)
	// ErrTimeout: an RPC got no answer within its timeout.
	ErrTimeout = errors.New("dht: rpc timeout")
	// ErrBusy: too many RPCs are pending to one peer.
	ErrBusy = errors.New("dht: too many pending rpcs to peer")
	// ErrNotFound: a lookup found no record.
	ErrNotFound = errors.New("dht: not found")
)
