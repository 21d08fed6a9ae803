package foxtrot

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// Found by the chat example: a Connect racing the keep-alive dial of the
// same peer made two links from one side, the ends kept different ones,
// and a dial sent over the loser went unanswered.
func TestConnectRacingTheKeptPeerStillDials(t *testing.T) {
	for i := 0; i < 20; i++ {
		tr := []transport.Transport{mem.NewNetwork(mem.Options{}).Transport()}
		a := newTestNode(t, Config{ListenAddrs: []string{"/mem/0"}, Transports: tr})
		l := echoListener(t, a)
		b := newTestNode(t, Config{Peers: a.ListenAddrs(), Transports: tr})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		require.NoError(t, b.Connect(ctx, a.ListenAddrs()[0]))
		c, err := b.DialContext(ctx, "foxtrot", l.Addr().String())
		cancel()
		require.NoError(t, err, "round %d", i)
		c.Close()
		a.Close()
		b.Close()
	}
}

// Found by the chat example: closing a connection and then the node at
// once must still deliver what was written, and the other end must learn
// at once that the connection ended.
func TestConnCloseThenNodeCloseStillSaysGoodbye(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[0].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	got := make(chan []byte, 1)
	errs := make(chan error, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			errs <- err
			return
		}
		b, err := io.ReadAll(s)
		got <- b
		errs <- err
	}()
	c := dialT(t, nodes[2], l.Addr())
	_, err = c.Write([]byte("last words"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, c.Close())
	require.NoError(t, nodes[2].Close())
	select {
	case b := <-got:
		require.Equal(t, "last words", string(b))
		require.NoError(t, <-errs)
		require.Less(t, time.Since(start), 3*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the other end never learnt the connection ended")
	}
}

// A node that shuts down while its connections are open ends them
// promptly for the other end too.
func TestNodeCloseEndsTheOtherEndPromptly(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, logOnFailure(t))
	key, _ := GenerateKey()
	l, err := nodes[0].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		s, err := l.Accept()
		if err == nil {
			_, err = io.ReadAll(s)
		}
		done <- err
	}()
	c := dialT(t, nodes[2], l.Addr())
	c.Write([]byte("x"))
	start := time.Now()
	require.NoError(t, nodes[2].Close())
	select {
	case <-done:
		require.Less(t, time.Since(start), 3*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the other end waited for a resume that could not come")
	}
}

// Found by the chat example: a connection still waiting in the backlog
// when its listener closes ends at once for the dialler.
func TestConnectionsInTheBacklogEndWhenTheListenerCloses(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn)
	key, _ := GenerateKey()
	l, err := nodes[0].Listen(key)
	require.NoError(t, err)
	c := dialT(t, nodes[2], l.Addr())
	time.Sleep(100 * time.Millisecond) // the hello is in: it waits for Accept
	start := time.Now()
	require.NoError(t, l.Close())
	_, err = io.ReadAll(c)
	require.Less(t, time.Since(start), 3*time.Second, "ended promptly: %v", err)
}
