// Package nat is what a node needs to get through NATs: the control
// messages of NAT traversal and the table of reflexive addresses.
//
// # Reflexive addresses
//
// When a UDP peer link comes up, each end tells the other the address the
// link's datagrams arrive from (Observed). Behind a NAT that is the NAT's
// public mapping of the node's UDP socket; a Table keeps each peer's
// latest report and names as candidates the addresses at least MinAgree
// (2) peers agree on, so a single peer cannot make a node advertise an
// address of its choosing. Reports that name one IP with different ports
// (Table.Varies) mean a NAT that maps each destination apart (symmetric):
// its node has no reflexive address a third party can use.
//
// # Simultaneous open through a relay
//
// A node that dialled a connection through one relay, R, sends a Punch
// offer (its identity key and candidate addresses) to R naming the
// connection's circuit (connection ID and path number); R passes it along
// the circuit to the target's node, which answers the same way with its
// own. Both then dial each other's candidates at once by identity (the
// datagrams keyed by the other's key, transport/quic's DialPeer), each
// dial opening its own NAT's mapping toward the other; the first QUIC
// and Noise handshake to succeed becomes their peer link (peer.Set keeps
// one link per peer). The connection then moves onto a direct path over
// that link as a failover would (route's Router.MoveDirect); if nothing
// succeeds in time, the relayed path simply stays.
//
// # Wire (SPEC.md)
//
//	Observed 0xb4: family 1 (4|6) | IP 4|16 | port 2
//	Punch    0xb5: kind 1 (1 offer, 2 answer) | connection ID 20 | path 4 |
//	               identity key 33 | count 1 (<= 8) | count × address
//
// Both are optional types: a peer that does not know them ignores them.
// Decoders refuse anything else with ErrBadMessage (the link goes down).
package nat
