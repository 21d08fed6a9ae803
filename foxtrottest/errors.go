package foxtrottest

import "errors"

// ErrCut is what a node's dial to a peer gets while Net.Cut keeps the two
// apart.
var ErrCut = errors.New("foxtrottest: link cut")
