package foxtrot

import (
	"errors"

	"github.com/foxtrotnet/foxtrot/addr"
)

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

// ErrBadConfig means a Config value is out of range: NewNode refuses a
// negative duration, size or rate (zero means the default).
var ErrBadConfig = errors.New("foxtrot: bad config")

// ErrUDPNeedsKey means a UDP peer address gives nothing to key its
// datagrams with: without Config.NetworkKey, name the peer by its 66-hex
// public key (/ip4/<ip>/udp/<port>/foxtrot/<66-hex>), as
// Node.ListenAddrs does, not by its address.
var ErrUDPNeedsKey = errors.New("foxtrot: UDP peer address needs the peer's 66-hex public key (/udp/<port>/foxtrot/<66-hex>) or a network key")

// ErrNotReady means WaitReady's context ended before the node had a peer
// link.
var ErrNotReady = errors.New("foxtrot: no peer link yet")

// Key file errors (LoadKey, SaveKey, LoadOrCreateKey).
var (
	// ErrKeyFileMode means a key file can be read by other users: LoadKey
	// refuses it until its mode is 0600 (chmod 600 FILE).
	ErrKeyFileMode = errors.New("foxtrot: key file is readable by other users")
	// ErrBadKeyFile means a key file does not hold one WIF private key.
	ErrBadKeyFile = errors.New("foxtrot: bad key file")
)
