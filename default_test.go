package foxtrot

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPackageLevelListenAndDialUseTheDefaultNode(t *testing.T) {
	t.Setenv("FOXTROT_LISTEN", "/mem/0")
	t.Setenv("FOXTROT_PEERS", "")
	defer CloseDefaultNode()
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := Listen(key)
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Write([]byte("default"))
			c.Close()
		}
	}()
	c, err := Dial(l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	b, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "default", string(b))
	n, err := DefaultNode()
	require.NoError(t, err)
	require.Len(t, n.ListenAddrs(), 1)
}

func TestDefaultNodeRejectsABadEnvironment(t *testing.T) {
	t.Setenv("FOXTROT_PEERS", "not-a-multiaddr")
	defer CloseDefaultNode()
	_, err := Dial(genAddress)
	require.Error(t, err)
}
