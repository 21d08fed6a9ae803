package stealth

import (
	"crypto/rand"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

// TestScalarMultAgreesWithBtcec compares the listener's fast
// multiplication with btcec's on random and edge-case scalars and points.
func TestScalarMultAgreesWithBtcec(t *testing.T) {
	n := btcec.S256().N
	var scalars []*big.Int
	for _, s := range []string{"1", "2", "3", "f", "10", "1f", "ffffffffffffffffffffffffffffffff", "100000000000000000000000000000000",
		"5363ad4cc05c30e0a5261c028812645a122e22ea20816678df02967c1b23bd72", // λ
		"7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", // (n-1)/2
	} {
		scalars = append(scalars, hexInt(s))
	}
	scalars = append(scalars, new(big.Int).Sub(n, big.NewInt(1)), new(big.Int).Sub(n, big.NewInt(2)))
	for range 500 {
		k, err := rand.Int(rand.Reader, n)
		require.NoError(t, err)
		scalars = append(scalars, k)
	}
	for i, k := range scalars {
		if k.Sign() == 0 {
			continue
		}
		var s btcec.ModNScalar
		s.SetByteSlice(k.Bytes())
		priv, err := btcec.NewPrivateKey()
		require.NoError(t, err)
		p := jacobian(priv.PubKey())
		if i%7 == 0 {
			btcec.GeneratorJacobian(&p)
		}
		var want, got btcec.JacobianPoint
		btcec.ScalarMultNonConst(&s, &p, &want)
		scalarMult(&s, &p, &got)
		want.ToAffine()
		got.ToAffine()
		require.True(t, want.X.Equals(&got.X) && want.Y.Equals(&got.Y), "k = %x", k)
	}
}

// TestToAffineAgreesWithBtcec compares the fast affine conversion with
// btcec's on points with random Z.
func TestToAffineAgreesWithBtcec(t *testing.T) {
	for range 200 {
		a, err := btcec.NewPrivateKey()
		require.NoError(t, err)
		b, err := btcec.NewPrivateKey()
		require.NoError(t, err)
		var p btcec.JacobianPoint
		pa, pb := jacobian(a.PubKey()), jacobian(b.PubKey())
		btcec.DoubleNonConst(&pa, &p)
		btcec.AddNonConst(&p, &pb, &p)
		want, got := p, p
		want.ToAffine()
		toAffine(&got)
		require.True(t, want.X.Equals(&got.X) && want.Y.Equals(&got.Y) && got.Z.IsOne())
	}
	var inf btcec.JacobianPoint
	toAffine(&inf)
	require.True(t, isInfinity(&inf))
}
