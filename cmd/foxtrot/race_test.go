//go:build race

package main

// raceEnabled: the race detector slows secp256k1 handshakes about
// fifty-fold, so tests that link a hundred peers link fewer under it.
const raceEnabled = true
