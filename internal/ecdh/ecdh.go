// Package ecdh is secp256k1 Diffie-Hellman as BOLT 8 defines it: SHA-256
// of the compressed shared point. The peer handshake and the end-to-end
// session both use it.
package ecdh

import (
	"crypto/sha256"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Shared returns SHA256(compressed(priv * pub)).
//
// It uses btcec's variable-time scalar multiplication, as lnd does; btcec
// offers no constant-time variable-base multiplication.
func Shared(priv *btcec.PrivateKey, pub *btcec.PublicKey) [32]byte {
	var p, r btcec.JacobianPoint
	pub.AsJacobian(&p)
	btcec.ScalarMultNonConst(&priv.Key, &p, &r)
	r.ToAffine()
	return sha256.Sum256(btcec.NewPublicKey(&r.X, &r.Y).SerializeCompressed())
}
