package foxtrot

import "errors"

// Address errors. ParseAddr's errors wrap ErrBadAddr and one of the others.
var (
	ErrBadAddr      = errors.New("foxtrot: bad address")
	ErrAddrChecksum = errors.New("foxtrot: bad checksum")
	ErrAddrVersion  = errors.New("foxtrot: wrong version byte")
	ErrAddrLength   = errors.New("foxtrot: wrong length")
	ErrAddrEncoding = errors.New("foxtrot: bad encoding")
)
