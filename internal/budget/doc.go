// Package budget bounds what strangers and peers can make a node hold: a
// small resource manager in the manner of libp2p's, simpler. A [Budget]
// holds one pool per [Kind] of resource (inbound handshakes, streams,
// circuits, buffer bytes, table entries); each pool has a system-wide limit
// and a limit per key (a peer's node ID, a source IP), either of which may
// be zero for none. [Budget.Reserve] takes one unit, or [Budget.ReserveN]
// several, and returns a release func or a [*LimitError] that names the
// limit, such as "budget: per-peer stream limit (256) reached"; refusals
// are counted per kind for a node's Stats.
//
// A pool keeps a map entry only for keys that hold something, so its memory
// is bounded by its system-wide limit. Every method is safe for concurrent
// use, and a nil *Budget grants everything and counts nothing.
package budget
