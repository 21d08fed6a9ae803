package main

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
	"github.com/foxtrotnet/foxtrot/route"
)

// echoTCP is a TCP echo server on loopback, closed at cleanup.
func echoTCP(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return l
}

// TestAPaidExitChargesItsLinkedClient: an exit with a price charges the
// client linked to it for the bytes it carries out, and the client pays
// over a channel it opens from its wallet; clients that do not accept
// the price, and clients behind relays (whose last relay would be billed
// for the exit's price and paid by nobody), are refused with 0x02.
func TestAPaidExitChargesItsLinkedClient(t *testing.T) {
	const exitPrice = 40
	chain := simchain.New(simchain.Config{})
	// 0: client linked to the exit (1); 3: client behind relay 2.
	fn := foxtrottest.New(t, 4, foxtrottest.Custom([][2]int{{0, 1}, {2, 1}, {3, 2}}), foxtrottest.Options{Logs: true,
		Config: func(i int, c *foxtrot.Config) {
			b := &route.Billing{Chunk: 50, CreditLimit: 400, Chain: chain, ChannelAmount: 200_000, PollInterval: 5 * time.Millisecond}
			switch i {
			case 0, 3:
				w, err := chain.NewWallet(2)
				require.NoError(t, err)
				b.Wallet = w
			case 2:
				b = nil // a free relay
			}
			c.Billing = b
		}})
	stop, mined := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(mined)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if len(chain.Mempool()) > 0 {
					chain.MineTo(1, simchain.AnyoneCanSpendScript())
				}
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-mined })

	log := slog.New(slog.DiscardHandler)
	echo := echoTCP(t)
	echoPort := uint16(echo.Addr().(*net.TCPAddr).Port)
	l, err := fn.Nodes[1].Listen(fn.Sim.Keys[1])
	require.NoError(t, err)
	al, err := parseAllowList([]string{echo.Addr().String()})
	require.NoError(t, err)
	exitStats := &counters{}
	exit := newExitServer(l, al, exitPrice, fn.Nodes[1], log, exitStats)
	t.Cleanup(func() { exit.Close() })
	gateway := func(i int, maxPrice uint32) string {
		sl, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		s := newSOCKSServer(sl, fn.Nodes[i], fn.Identity(1).String(), maxPrice, log, &counters{})
		t.Cleanup(func() { s.Close() })
		return sl.Addr().String()
	}

	c, code := socksConnect(t, gateway(0, 100), "127.0.0.1", echoPort)
	require.Equal(t, byte(repSucceeded), code)
	const n = 4 << 20
	go c.Write(make([]byte, n))
	_, err = io.ReadFull(c, make([]byte, n))
	require.NoError(t, err)
	c.Close()

	acct := func(node *foxtrot.Node, peer foxtrot.Addr) foxtrot.ChannelStatus {
		for _, a := range node.Channels() {
			if a.Peer == peer {
				return a
			}
		}
		return foxtrot.ChannelStatus{}
	}
	client, exitNode := fn.Nodes[0], fn.Nodes[1]
	require.Eventually(t, func() bool {
		e, c := acct(exitNode, client.Identity()), acct(client, exitNode.Identity())
		return e.PaidToUs > 0 && e.OwedToUs < 50 && e.PaidToUs == c.PaidByUs
	}, 20*time.Second, 5*time.Millisecond, "the client paid the exit over a channel from its wallet")
	earned := acct(exitNode, client.Identity()).PaidToUs
	t.Logf("the exit earned %d sat for %d MiB", earned, 2*n>>20)
	require.GreaterOrEqual(t, earned, int64(2*n>>20*exitPrice-50), "8 MiB carried at 40 sat/MiB, less under a chunk")
	require.LessOrEqual(t, earned, int64(2*n>>20*exitPrice))

	_, code = socksConnect(t, gateway(0, 0), "127.0.0.1", echoPort)
	require.Equal(t, byte(repNotAllowed), code, "a client that pays nothing")
	_, code = socksConnect(t, gateway(0, exitPrice-1), "127.0.0.1", echoPort)
	require.Equal(t, byte(repNotAllowed), code, "a client that pays less")
	_, code = socksConnect(t, gateway(3, 100), "127.0.0.1", echoPort)
	require.Equal(t, byte(repNotAllowed), code, "a client behind a relay")
	require.Zero(t, acct(exitNode, fn.Identity(2)).PaidToUs, "the relay is billed nothing")
	require.Zero(t, acct(exitNode, fn.Identity(2)).OwedToUs)
}
