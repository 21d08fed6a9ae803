package foxtrot

import (
	"context"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/route"
)

// chainWorld is a simulated Bitcoin chain that mines whatever is in its
// mempool every few milliseconds, and wallets of matured coins on it.
type chainWorld struct {
	chain *simchain.Chain
	stop  chan struct{}
	done  chan struct{}
}

func newChainWorld(t testing.TB) *chainWorld {
	w := &chainWorld{chain: simchain.New(simchain.Config{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
				if len(w.chain.Mempool()) > 0 {
					w.chain.MineTo(1, simchain.AnyoneCanSpendScript())
				}
			}
		}
	}()
	t.Cleanup(func() { close(w.stop); <-w.done })
	return w
}

// wallet mines n matured coins to a fresh key.
func (w *chainWorld) wallet(n int) *simchain.Wallet {
	sw, err := w.chain.NewWallet(n)
	if err != nil {
		panic(err) // a fresh key and a simulated chain cannot fail
	}
	return sw
}

// billingFor builds a node's billing: price it charges, the most it pays,
// and a wallet (nil: it cannot pay).
func (w *chainWorld) billingFor(price, maxPrice uint64, wallet route.Wallet) *route.Billing {
	return &route.Billing{
		Price: price, MaxPrice: maxPrice, Chunk: 50, CreditLimit: 400,
		Chain: w.chain, Wallet: wallet, ChannelAmount: 200_000,
		PollInterval: 5 * time.Millisecond,
	}
}

// sendThrough sends n bytes from a dialler to an echo-less listener and
// waits until they have all arrived (hashes compared).
func sendThrough(t *testing.T, from *Node, l net.Listener, n int) *Conn {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i * 31)
	}
	got := make(chan [32]byte, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		h := sha256.New()
		io.Copy(h, s)
		var sum [32]byte
		h.Sum(sum[:0])
		got <- sum
	}()
	c := dialT(t, from, l.Addr())
	_, err := c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	select {
	case sum := <-got:
		require.Equal(t, sha256.Sum256(data), sum)
	case <-time.After(60 * time.Second):
		t.Fatal("transfer did not finish")
	}
	return c
}

func account(n *Node, peer Addr) ChannelStatus {
	for _, c := range n.Channels() {
		if c.Peer == peer {
			return c
		}
	}
	return ChannelStatus{}
}

func TestRelaysArePaidWhatTheyQuoted(t *testing.T) {
	w := newChainWorld(t)
	prices := []uint64{0, 30, 20, 10, 0} // dialler, three relays, target
	sn := simnet.New(5, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, logOnFailure(t), func(i int, c *Config) {
		switch i {
		case 0:
			c.Billing = w.billingFor(0, 100, w.wallet(1))
		case 1, 2, 3:
			c.Billing = w.billingFor(prices[i], 0, w.wallet(1))
		}
		// the target (4) has no billing: it charges nothing, pays nothing
	})
	key, _ := GenerateKey()
	l, err := nodes[4].Listen(key)
	require.NoError(t, err)
	defer l.Close()

	// Eight MiB make every relay ask for money (a chunk is 50 sat; relay 3
	// earns 10 a MiB), so every payer
	// opens a channel; the transfer after it is paid as it goes.
	c := sendThrough(t, nodes[0], l, 8<<20)
	hops := c.s.Hops()
	require.Len(t, hops, 3)
	for i, h := range hops {
		require.Equal(t, prices[i+1], h.Price, "relay %d's quote", i+1)
	}
	c.Close()
	require.Eventually(t, func() bool {
		for i := 0; i < 3; i++ {
			if !account(nodes[i], nodes[i+1].Identity()).Ready {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "every payer opened a channel to its downstream")

	const mib = 16
	sendThrough(t, nodes[0], l, mib<<20).Close()

	// Every relay ends up paid its price for what it relayed, within a
	// chunk (what is owed below a chunk is not asked for).
	const chunk = 50
	require.Eventually(t, func() bool {
		for i := 1; i <= 3; i++ {
			if account(nodes[i], nodes[i-1].Identity()).OwedToUs >= chunk {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "everyone paid up")
	for i := 1; i <= 3; i++ {
		in := account(nodes[i], nodes[i-1].Identity())
		out := account(nodes[i], nodes[i+1].Identity())
		earned := in.PaidToUs - out.PaidByUs
		relayedMiB := float64(nodes[i].Stats().BytesRelayed) / (1 << 20)
		want := float64(prices[i]) * relayedMiB
		t.Logf("relay %d (%d sat/MiB): relayed %.2f MiB, paid %d by its upstream, paid %d downstream: earned %d, quote says %.0f",
			i, prices[i], relayedMiB, in.PaidToUs, out.PaidByUs, earned, want)
		require.InDelta(t, want, float64(earned), chunk, "relay %d is paid its quote within a chunk", i)
		require.False(t, in.CutOff)
	}
	// The dialler paid the whole path's rate to its first relay.
	d := account(nodes[0], nodes[1].Identity())
	require.Greater(t, d.PaidByUs, int64(60*mib-2*chunk))
	// Both ends of the channel agree on its balances once the last
	// update is through (one may be in flight when the debts are settled).
	require.Eventually(t, func() bool {
		d, r1 := account(nodes[0], nodes[1].Identity()), account(nodes[1], nodes[0].Identity())
		return d.Version == r1.Version && d.Local == r1.Remote && d.Remote == r1.Local
	}, 10*time.Second, 10*time.Millisecond, "both ends of the channel agree on its balances")
}

func TestADiallerWhoseLimitIsTooLowGetsAClearError(t *testing.T) {
	w := newChainWorld(t)
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, func(i int, c *Config) {
		switch i {
		case 0:
			c.Billing = w.billingFor(0, 50, nil)
		case 1:
			c.Billing = w.billingFor(60, 0, nil)
		}
	})
	l := echoListener(t, nodes[2])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := nodes[0].DialContext(ctx, "foxtrot", l.Addr().String())
	require.ErrorIs(t, err, route.ErrTooExpensive)
	require.Contains(t, err.Error(), "costs 60 sat/MiB, the limit is 50")
}

func TestAFreeRelayCarriesAPayingDiallerForNothing(t *testing.T) {
	w := newChainWorld(t)
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, func(i int, c *Config) {
		if i == 0 {
			c.Billing = w.billingFor(0, 100, w.wallet(1))
		}
	})
	l := echoListener(t, nodes[2])
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	c.Write([]byte("free"))
	_, err := io.ReadFull(c, make([]byte, 4))
	require.NoError(t, err)
	require.Zero(t, c.s.Hops()[0].Price)
	require.Empty(t, nodes[0].Channels(), "no channel was needed")
}

func TestARelayThatStopsPayingItsDownstreamIsCutOff(t *testing.T) {
	w := newChainWorld(t)
	sn := simnet.New(5, simnet.Line, simnet.Options{})
	nodes := startNet(t, sn, logOnFailure(t), func(i int, c *Config) {
		switch i {
		case 0:
			c.Billing = w.billingFor(0, 100, w.wallet(1))
		case 1, 3:
			c.Billing = w.billingFor(10, 0, w.wallet(1))
		case 2:
			c.Billing = w.billingFor(10, 0, nil) // charges, but never pays relay 3
		}
		// The cut-off ends the connection (its circuits close, and the
		// failover finds relay 3 refusing); a stall on a loaded machine
		// must not end it first.
		c.FailoverTimeout = time.Second
		c.StallTimeout = time.Minute
	})
	l := echoListener(t, nodes[4])
	c := dialT(t, nodes[0], l.Addr())
	defer c.Close()
	chunk := make([]byte, 256<<10)
	var err error
	for sent := 0; err == nil && sent < 64<<20; sent += len(chunk) {
		if _, err = c.Write(chunk); err == nil {
			_, err = io.ReadFull(c, chunk)
		}
	}
	require.Error(t, err, "the connection through the non-payer stops")
	r3 := account(nodes[3], nodes[2].Identity())
	require.True(t, r3.CutOff, "relay 3 cut off relay 2")
	require.Greater(t, r3.OwedToUs, int64(400), "past its credit limit")
	require.EqualValues(t, 1, nodes[3].Stats().CutOffs)
	require.Zero(t, account(nodes[3], nodes[2].Identity()).PaidToUs)
	require.Positive(t, account(nodes[2], nodes[1].Identity()).PaidToUs, "relay 2 itself was paid by relay 1")

	// New connections through relay 2 are refused at relay 3.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err = nodes[0].DialContext(ctx, "foxtrot", l.Addr().String())
	require.Error(t, err)
	require.Positive(t, nodes[3].Stats().RequestsRefusedCredit)
}

func TestARestartLosesNoMoney(t *testing.T) {
	w := newChainWorld(t)
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	dirs := []string{t.TempDir(), t.TempDir()}
	wallets := []*simchain.Wallet{w.wallet(1), w.wallet(1)}
	logs := logOnFailure(t)
	cfg := func(i int, c *Config) {
		logs(i, c)
		switch i {
		case 0:
			c.Billing = w.billingFor(0, 100, wallets[0])
		case 1:
			c.Billing = w.billingFor(30, 0, wallets[1])
		}
		if i < 2 {
			c.Billing.Dir = dirs[i]
		}
	}
	nodes := startNet(t, sn, cfg)
	key, _ := GenerateKey()
	l, err := nodes[2].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	sendThrough(t, nodes[0], l, 8<<20).Close()
	paid := func() bool { // paid up, and both ends agree
		a := account(nodes[1], nodes[0].Identity())
		return a.Ready && a.PaidToUs > 0 && a.OwedToUs < 50 && a.Local == account(nodes[0], nodes[1].Identity()).Remote
	}
	require.Eventually(t, paid, 30*time.Second, 10*time.Millisecond)
	before := account(nodes[1], nodes[0].Identity())

	// Both ends go down and come back with the same identity and state.
	require.NoError(t, nodes[0].Close())
	require.NoError(t, nodes[1].Close())
	for i := 0; i < 2; i++ {
		nodes[i] = newTestNode(t, netConfig(sn, i, cfg))
	}
	require.Eventually(t, func() bool { return len(nodes[1].Peers()) == 2 }, 10*time.Second, 5*time.Millisecond)
	after := account(nodes[1], nodes[0].Identity())
	require.Equal(t, before.ID, after.ID, "the same channel")
	require.GreaterOrEqual(t, after.Version, before.Version)
	require.GreaterOrEqual(t, after.Local, before.Local, "no satoshi the relay had is lost")
	// A payment that was half acknowledged when they stopped is finished
	// once they are linked again: then both agree.
	require.Eventually(t, func() bool {
		return account(nodes[1], nodes[0].Identity()).Local == account(nodes[0], nodes[1].Identity()).Remote
	}, 10*time.Second, 10*time.Millisecond, "the dialler agrees")

	// And the channel goes on carrying payments.
	sendThrough(t, nodes[0], l, 8<<20).Close()
	require.Eventually(t, func() bool {
		a := account(nodes[1], nodes[0].Identity())
		return a.Version > before.Version && a.Local > before.Local && a.OwedToUs < 50
	}, 30*time.Second, 10*time.Millisecond, "payments go on: relay %+v, dialler %+v",
		account(nodes[1], nodes[0].Identity()), account(nodes[0], nodes[1].Identity()))
}
