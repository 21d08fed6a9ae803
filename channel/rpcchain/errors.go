package rpcchain

import "errors"

// ErrNoAddrIndex means the node cannot list an address's transactions:
// it runs without --addrindex.
var ErrNoAddrIndex = errors.New("rpcchain: the node has no address index (run btcd with --addrindex)")
