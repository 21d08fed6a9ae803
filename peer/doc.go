// Package peer is foxtrot's link layer: encrypted, authenticated links
// between nodes (Noise over secp256k1, BOLT 8 style), each carrying
// multiplexed streams, and the Set of a node's links.
//
// A Link is a SecureConn (the handshake and framing, in package
// peer/noise) carrying a Muxer: yamux by default (GoYamux, whose stream
// windows grow with each stream's bandwidth-delay product, with credit
// from Config.WindowBudget), or whatever Config.NewMuxer makes, so a transport with streams of its own (QUIC)
// can carry links. Its first stream is the control stream, on which typed
// messages (package internal/wire) travel; every other stream opens with a
// wire.StreamHeader naming its kind.
//
// # Protocols
//
// What a link delivers goes to whoever registered for it. Set.Register
// adds a Protocol: its control message types (a code, a decoder and a
// handler), its stream kinds (a code and a handler) and observers of links
// coming up and going down. The DHT, pub/sub and any later protocol plug
// in this way, without editing wire, peer or route. Config.Handler gets the
// rest: the message types package wire decodes itself, and circuit
// streams, as route has always had them.
//
// The rules for what nobody registered:
//   - a message type unknown to both the registry and package wire is
//     ignored if it is optional (high bit set, wire.Type.Optional) and is
//     a protocol violation otherwise: the link goes down, as it does for a
//     malformed message or one its registered decoder refuses;
//   - a stream of a kind nobody serves, or with a malformed header, is
//     closed before a byte is sent on it, counted (Set.RefusedStreams) and
//     logged at debug level; the link stays up.
//
// SPEC.md at the repository root gives the wire formats.
package peer
