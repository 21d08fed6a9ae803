// Package stealth is BIP-352 Silent Payments for Bitcoin, and the same keys
// used to accept foxtrot connections.
//
// A stealth address (sp1... on mainnet, tsp1... on testnets) holds a scan
// public key and a spend public key. For Bitcoin it is exactly BIP-352:
// [CreateOutputs] derives a sender's taproot outputs from the inputs it
// spends, [Scanner.Scan] finds them again with the scan key, labels and the
// change label included, and [Keys.PrivateKey] turns what was found into the
// key that spends it. The official test vectors pass in full.
//
// For connections, the dialler puts the request's nonce where a
// transaction's outpoints would be: from the address, its ephemeral key e
// and the nonce it derives a one-time target key P ([Address.OneTimeKey]),
// different for every dial, and dials HASH160(P) like any other key. A
// listener recognises the request with the scan key alone, with one ECDH
// and a hash ([Scanner.Match]), and answers with p = b_spend + tweak, which
// needs the spend key ([Keys.PrivateKey], [Keys.Derive]). A [Scanner] holds
// no spend key: a node given one can filter requests for its owner but can
// never answer them. SPEC.md ("Stealth targets") gives the derivation and
// its test vectors.
//
// The package is pure: no I/O, no goroutines; randomness comes only from
// [GenerateKeys] and from the ephemeral keys and nonces its callers pass in.
package stealth
