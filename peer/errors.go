package peer

import (
	"errors"
	"fmt"
	"net"

	"github.com/foxtrotnet/foxtrot/peer/noise"
)

// Errors of the link layer (the handshake's own are package noise's, and
// named here too, below).
var (
	// ErrHandshakeTimeout means a handshake did not finish in time (its
	// context ended). It also wraps the context's error. It is
	// [noise.ErrHandshakeTimeout].
	ErrHandshakeTimeout = noise.ErrHandshakeTimeout
	// ErrWrongIdentity means the peer authenticated as someone other than
	// the identity its address named.
	ErrWrongIdentity = errors.New("peer: peer has the wrong identity")
	// ErrLinkClosed means the link (or the whole Set) is closed. It wraps
	// net.ErrClosed.
	ErrLinkClosed = fmt.Errorf("peer: link closed: %w", net.ErrClosed)
	// ErrSendQueueFull means a peer is not reading its control stream fast
	// enough; the message was not queued.
	ErrSendQueueFull = errors.New("peer: control send queue full")
	// ErrNoLink means WaitLink gave up (its context ended) before any
	// link came up. It wraps the context's error too.
	ErrNoLink = errors.New("peer: no link came up")
	// ErrSelfLink means an address led back to this node itself.
	ErrSelfLink = errors.New("peer: dialled ourselves")
	// ErrRefused means the peer closed the handshake before answering:
	// it was overloaded (over its MaxInboundHandshakes, MaxHandshakes or
	// MaxHandshakesPerAddr), it does not hold the key the address named,
	// this node lacks the peer's network key, or it is not a foxtrot node
	// (a responder says nothing, so cannot say which). It is
	// [noise.ErrRefused].
	ErrRefused = noise.ErrRefused
	// ErrPeerDead means the peer answered nothing for Config.DeadAfter.
	ErrPeerDead = errors.New("peer: peer stopped answering")
	// ErrDuplicateLink means a link lost to another link with the same peer
	// (both sides dialled at once); the winner is in use.
	ErrDuplicateLink = errors.New("peer: duplicate link")
	// ErrTaken means a protocol tried to register a message type or
	// stream kind that is already registered or reserved.
	ErrTaken = errors.New("peer: message type or stream kind taken")
	// ErrBadProtocol means a Protocol given to Register lacks a name, a
	// decoder or a handler, or names stream kind 0.
	ErrBadProtocol = errors.New("peer: bad protocol registration")
	// ErrBadHeader means a stream header cannot be sent (its meta is
	// longer than wire.MaxStreamMeta).
	ErrBadHeader = errors.New("peer: bad stream header")
)

// Errors of the handshake and the frame cipher, which live in package
// noise; each is the same value as its namesake there.
var (
	ErrHandshakeConfig = noise.ErrHandshakeConfig // an unusable HandshakeConfig
	ErrHandshakeState  = noise.ErrHandshakeState  // a handshake step out of order
	ErrActSize         = noise.ErrActSize         // a handshake act of the wrong length
	ErrBadVersion      = noise.ErrBadVersion      // an unknown handshake version
	ErrBadKey          = noise.ErrBadKey          // an invalid public key in a handshake act
	ErrBadMAC          = noise.ErrBadMAC          // a handshake act that failed authentication
	ErrBadCookie       = noise.ErrBadCookie       // a bad cookie reply, or a bad echo of one
	ErrFrameAuth       = noise.ErrFrameAuth       // a frame that failed authentication
	ErrFrameSize       = noise.ErrFrameSize       // a frame buffer of the wrong length
	ErrFrameState      = noise.ErrFrameState      // frame decoding out of order
)
