package ecdh

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

func TestBothSidesAgree(t *testing.T) {
	a, _ := btcec.NewPrivateKey()
	b, _ := btcec.NewPrivateKey()
	c, _ := btcec.NewPrivateKey()
	require.Equal(t, Shared(a, b.PubKey()), Shared(b, a.PubKey()))
	require.NotEqual(t, Shared(a, b.PubKey()), Shared(a, c.PubKey()))
}
