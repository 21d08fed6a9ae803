package rpcchain_test

import (
	"testing"

	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The btcd integration test (channel/btcd_integration_test.go, build tag
// btcd) exercises the RPC calls against a real node.

func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, err := rpcchain.New(rpcchain.Config{Host: "192.0.2.7:18334", NoTLS: true})
	require.Error(t, err)
	_, err = rpcchain.New(rpcchain.Config{NoTLS: true})
	require.Error(t, err)
	for _, host := range []string{"127.0.0.1:18334", "[::1]:18334", "localhost:18334"} {
		c, err := rpcchain.New(rpcchain.Config{Host: host, NoTLS: true})
		require.NoError(t, err, host)
		require.NoError(t, c.Close())
	}
}
