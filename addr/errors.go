package addr

import "errors"

// Parse errors. Every error of Parse and ParseNodeID wraps ErrBadAddr and
// one of the others.
//
// The messages say "foxtrot:", not "addr:": these values are also the root
// package's public errors (foxtrot.ErrBadAddr is ErrBadAddr, and so on),
// and their text is part of its documented, tested output.
var (
	ErrBadAddr      = errors.New("foxtrot: bad address")
	ErrAddrChecksum = errors.New("foxtrot: bad checksum")
	ErrAddrVersion  = errors.New("foxtrot: wrong version byte")
	ErrAddrLength   = errors.New("foxtrot: wrong length")
	ErrAddrEncoding = errors.New("foxtrot: bad encoding")
	// ErrAddrUnsupported is a form Parse recognises but that is no Addr:
	// a stealth address ("sp1..." or "tsp1..."), which names no single key
	// (package stealth parses it; see IsStealth).
	ErrAddrUnsupported = errors.New("foxtrot: address form not supported")
)
