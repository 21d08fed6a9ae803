// Package dht is foxtrot's distributed hash table: Kademlia over peer
// links, with signed, sequenced, expiring records under BitTorrent's BEP 44
// rules for mutable items, and blinded locators for listener records in the
// manner of Tor v3 onion service descriptors.
//
// The core is pure and does no I/O: node IDs and the XOR metric (id.go), the
// routing table of k-buckets (table.go), records and their store (record.go,
// store.go), the RPC messages (message.go) and the blinding of listener
// records (blind.go). The network side (dht.go, lookup.go) runs RPCs and
// lookups over a carrier (carrier.go): in production linkCarrier, which
// registers a peer.Protocol with a peer.Set, sends control messages on
// peer links and links on demand to contacts that are not neighbours. The
// tests' simulated network (vnet_test.go) is another carrier, so the same
// tables, lookups, tokens and stores run at 10,000 nodes in one process
// (SPEC.md, "Simulation"). Node (node.go) runs a DHT: bootstrap, bucket
// refresh, expiry and republishing.
//
// The root package runs a Node per foxtrot node: Listen publishes
// listener records, Dial looks them up, Config.Bootstrap joins. Not built
// yet: peer exchange and LAN discovery.
//
// Wire formats and derivations are in SPEC.md beside this file.
package dht
