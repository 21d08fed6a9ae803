package stealth_test

import (
	"crypto/rand"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/stealth"
)

// A listener publishes its stealth address; a dialler derives a one-time
// target from it; the listener recognises the request with its scan key
// and answers with the one-time private key.
func Example() {
	keys, _ := stealth.GenerateKeys()
	published := keys.Address().String() // sp1q...

	// The dialler: a fresh ephemeral key and nonce for every dial.
	addr, _ := stealth.ParseAddress(published)
	e, _ := btcec.NewPrivateKey()
	var nonce [stealth.NonceSize]byte
	rand.Read(nonce[:])
	req, oneTime, _ := addr.NewRequest(e, nonce)

	// The listener: scan with the scan key, answer with the spend key.
	scanner, _ := keys.Scanner()
	tweak, ok := scanner.MatchRequest(req)
	answer, _ := keys.PrivateKey(tweak)

	fmt.Println(published[:4], ok, answer.PubKey().IsEqual(oneTime))
	// Output: sp1q true true
}
