package foxtrot_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

func TestListenerCloseUnblocksAccept(t *testing.T) {
	fn := foxtrottest.New(t, 1, foxtrottest.Line, foxtrottest.Options{})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[0].Listen(key)
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	foxtrottest.WaitBlocked(t, "foxtrot.(*Listener).Accept")
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "idempotent")
	err = <-errc
	require.ErrorIs(t, err, net.ErrClosed)
}
