package foxtrot

import "github.com/foxtrotnet/foxtrot/addr"

// Address errors. ParseAddr's errors wrap ErrBadAddr and one of the others.
// They are package addr's errors, under the names they have always had
// here.
var (
	ErrBadAddr      = addr.ErrBadAddr
	ErrAddrChecksum = addr.ErrAddrChecksum
	ErrAddrVersion  = addr.ErrAddrVersion
	ErrAddrLength   = addr.ErrAddrLength
	ErrAddrEncoding = addr.ErrAddrEncoding
)
