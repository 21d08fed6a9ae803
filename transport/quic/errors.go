package quic

import "errors"

var (
	// ErrConfig means a Config field is invalid.
	ErrConfig = errors.New("quic: invalid config")
	// ErrPreamble means a dialled stream began with a byte other than
	// the preamble: not a foxtrot link (the connection is closed).
	ErrPreamble = errors.New("quic: bad stream preamble")
	// ErrClosedByPeer means the peer closed the QUIC connection (or its
	// stream) before this side saw the end of its stream.
	ErrClosedByPeer = errors.New("quic: closed by peer")
)
