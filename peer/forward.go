package peer

import (
	"context"
	"net"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/peer/noise"
)

// The handshake and the link encryption live in package noise; these names
// keep peer's API of before the split working.

// SecureConn is a net.Conn secured by a Noise handshake; see [noise.Conn].
type SecureConn = noise.Conn

// HandshakeConfig configures one side of a handshake; see [noise.Config].
type HandshakeConfig = noise.Config

// Handshake is one side of one Noise handshake; see [noise.Handshake].
type Handshake = noise.Handshake

// Cipher is one direction of a link's framing; see [noise.Cipher].
type Cipher = noise.Cipher

// Pattern is the Noise handshake pattern; see [noise.Pattern].
type Pattern = noise.Pattern

// Handshake patterns; see [noise.PatternXK] and [noise.PatternXX].
const (
	PatternXK = noise.PatternXK
	PatternXX = noise.PatternXX
)

// Sizes of the handshake acts and of the frame layout; see package noise.
const (
	ActOneSize   = noise.ActOneSize
	ActTwoSizeXK = noise.ActTwoSizeXK
	ActTwoSizeXX = noise.ActTwoSizeXX
	ActThreeSize = noise.ActThreeSize

	MaxFrameBody    = noise.MaxFrameBody
	FrameHeaderSize = noise.FrameHeaderSize
	FrameOverhead   = noise.FrameOverhead
)

// NewInitiator starts the initiator side of a handshake; see
// [noise.NewInitiator].
func NewInitiator(cfg HandshakeConfig) (*Handshake, error) { return noise.NewInitiator(cfg) }

// NewResponder starts the responder side of a handshake; see
// [noise.NewResponder].
func NewResponder(cfg HandshakeConfig) (*Handshake, error) { return noise.NewResponder(cfg) }

// Client runs the initiator side of a handshake over conn; see
// [noise.Client].
func Client(ctx context.Context, conn net.Conn, cfg HandshakeConfig, verify func(*btcec.PublicKey) error) (*SecureConn, error) {
	return noise.Client(ctx, conn, cfg, verify)
}

// Server runs the responder side of a handshake over conn; see
// [noise.Server].
func Server(ctx context.Context, conn net.Conn, cfg HandshakeConfig) (*SecureConn, error) {
	return noise.Server(ctx, conn, cfg)
}
