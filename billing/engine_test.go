package billing

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// At 1024 sat/MiB a KiB costs exactly one satoshi.
const (
	price = 1024
	kib   = 1 << 10
)

func relayConfig(chain channel.Chain) Config {
	return Config{Price: price, Chunk: 50, CreditLimit: 400, Chain: chain, ChannelAmount: 200_000}
}

func payerConfig(chain channel.Chain, w Wallet) Config {
	return Config{MaxPrice: price, Chunk: 50, CreditLimit: 400, Chain: chain, Wallet: w, ChannelAmount: 200_000}
}

func TestMeteringAsksForPaymentAtTheChunk(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	relay := newNode(t, relayConfig(chain))
	up, down := addr.NodeID{1}, addr.NodeID{2}
	l := newWireLink(up)
	relay.e.LinkUp(l)
	m := relay.e.Relay(up, down, price, 0, nil)
	defer m.Close()

	m.Add(49 * kib)
	require.EqualValues(t, 49, relay.status(up).OwedToUs)
	quiet(t, l)

	m.Add(kib) // the chunk: the meter nudges the loop, which asks
	require.EqualValues(t, 50, next[*wire.PaymentRequest](t, l).Owed)

	// One request at a time: more bytes do not ask again, even on a tick,
	// until the request has waited reaskAfter.
	m.Add(30 * kib)
	relay.tick(t)
	require.EqualValues(t, 80, relay.status(up).OwedToUs)
	quiet(t, l)
	relay.clock.Advance(reaskAfter + time.Millisecond)
	relay.tick(t)
	require.EqualValues(t, 80, next[*wire.PaymentRequest](t, l).Owed, "asked again for everything owed")
}

func TestARelayChargesItsUpstreamAndOwesItsDownstream(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	relay := newNode(t, relayConfig(chain))
	up, down := addr.NodeID{1}, addr.NodeID{2}
	m := relay.e.Relay(up, down, 3*price, 2*price, nil) // our price is the difference
	defer m.Close()
	m.Add(10 * kib)
	require.EqualValues(t, 30, relay.status(up).OwedToUs)
	require.EqualValues(t, 20, relay.status(down).OwedByUs)
	o := relay.e.Origin(down, price)
	o.Add(5 * kib)
	require.EqualValues(t, 25, relay.status(down).OwedByUs, "its own connections add to what it owes")
}

func TestANeighbourPastItsCreditIsCutOffAndReinstatedWhenItPays(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	w := newWallet(t, chain, 1)
	coin := w.Coins()[0]
	relay := newNode(t, relayConfig(chain))
	payer := newNode(t, payerConfig(chain, w))
	toPayer, _ := connect(relay, payer)

	stopped := make(chan struct{})
	var once sync.Once
	circuit := relay.e.Relay(payer.id, addr.NodeID{9}, price, 0, func() { once.Do(func() { close(stopped) }) })
	defer circuit.Close()
	conn := payer.e.Origin(relay.id, price)
	// The payer meters the same bytes (first: it never pays more than its
	// own metering says, so a request that overtook it would wait).
	move := func(n int64) { conn.Add(n); circuit.Add(n) }

	// A chunk: the relay asks, the payer opens a channel to pay it, and
	// the funding is broadcast, but nothing confirms it yet.
	move(50 * kib)
	require.EqualValues(t, 50, next[*wire.PaymentRequest](t, toPayer).Owed)
	spent(t, chain, coin)
	require.False(t, relay.e.CutOff(payer.id))

	// Past the credit limit the payer is cut off: its circuit stopped,
	// new ones stopped at once.
	move(360 * kib)
	select {
	case <-stopped:
	case <-time.After(wait):
		t.Fatal("the circuit of a neighbour past its credit was not stopped")
	}
	require.True(t, relay.e.CutOff(payer.id))
	s := relay.status(payer.id)
	require.True(t, s.CutOff)
	require.EqualValues(t, 410, s.OwedToUs)
	require.Zero(t, s.PaidToUs)
	late := make(chan struct{})
	relay.e.Relay(payer.id, addr.NodeID{9}, price, 0, func() { close(late) }).Close()
	<-late
	require.EqualValues(t, 1, relay.e.Stats().CutOffs)

	// The funding confirms; on its next tick the payer sees it and pays
	// what it was asked; the relay takes it and relays for it again.
	chain.MineTo(1, simchain.AnyoneCanSpendScript())
	payer.tick(t)
	nextChannel[channel.MsgAck](t, toPayer) // the relay signed the payment
	s = relay.status(payer.id)
	require.False(t, s.CutOff)
	require.False(t, relay.e.CutOff(payer.id))
	require.EqualValues(t, 50, s.PaidToUs)
	require.EqualValues(t, 360, s.OwedToUs)
	p := payer.status(relay.id)
	require.True(t, p.Ready)
	require.EqualValues(t, 50, p.PaidByUs)
	require.EqualValues(t, 360, p.OwedByUs)
	require.Equal(t, s.Local, p.Remote, "both ends agree on the balances")
}

func TestASlowChainBlocksNeitherMeteringNorAnotherNeighbour(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	wMid, wPayer := newWallet(t, chain, 1), newWallet(t, chain, 1)
	slow := &gatedChain{Chain: chain, entered: make(chan struct{}, 1), release: make(chan struct{})}
	// mid relays for payer and pays far; its Bitcoin node hangs.
	cfg := relayConfig(slow)
	cfg.Wallet = wMid
	mid := newNode(t, cfg)
	far := newNode(t, relayConfig(chain))
	payer := newNode(t, payerConfig(chain, wPayer))
	midToFar, farToMid := connect(mid, far)
	midToPayer, _ := connect(mid, payer)

	// far asks mid to pay; mid sets out to open a channel, and its chain
	// hangs on the height the open needs.
	farCircuit := far.e.Relay(mid.id, addr.NodeID{9}, price, 0, nil)
	defer farCircuit.Close()
	mid.e.Origin(far.id, price).Add(50 * kib)
	farCircuit.Add(50 * kib)
	require.EqualValues(t, 50, next[*wire.PaymentRequest](t, farToMid).Owed)
	select {
	case <-slow.entered:
	case <-time.After(wait):
		t.Fatal("mid never asked its chain")
	}
	mid.tick(t) // a poll joins the hung one, or waits for it

	// Meanwhile mid meters payer's bytes, asks it to pay, and takes the
	// channel payer opens: the hung chain holds none of it up.
	payerCircuit := mid.e.Relay(payer.id, far.id, price, 0, nil)
	defer payerCircuit.Close()
	payer.e.Origin(mid.id, price).Add(50 * kib)
	payerCircuit.Add(50 * kib)
	require.EqualValues(t, 50, next[*wire.PaymentRequest](t, midToPayer).Owed)
	nextChannel[channel.MsgAccept](t, midToPayer)
	quiet(t, midToFar) // mid's own open still waits for the chain

	// Once the chain answers, mid's open goes ahead.
	close(slow.release)
	nextChannel[channel.MsgOpen](t, midToFar)
	nextChannel[channel.MsgAccept](t, farToMid)
}

func TestAFullQueueDropsMessagesAndNeverBlocksTheReader(t *testing.T) {
	n := newNode(t, Config{}) // no chain: nothing but the test queues events
	l := newWireLink(addr.NodeID{1})
	n.e.LinkUp(l)
	busy, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // runs before the engine's Close
	// The loop is stuck, as in a slow fsync.
	go n.e.do(func() { close(busy); <-release })
	<-busy
	const extra = 10
	for range messageQueue + extra {
		n.e.HandleMessage(l, &wire.PaymentRequest{Owed: 1})
	}
	require.EqualValues(t, extra, n.e.Stats().Dropped)
	free()
	n.status(l.id) // the queued requests are handled
}

func TestLinkChurnAndConcurrentMeteringAddUp(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	n := newNode(t, Config{Price: price, Chunk: 1 << 30, CreditLimit: 1 << 40, Chain: chain})
	up, down := addr.NodeID{1}, addr.NodeID{2}
	const workers, rounds = 8, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := n.e.Relay(up, down, price, price/2, nil)
			defer m.Close()
			for range rounds {
				m.Add(kib)
				n.e.Origin(down, price).Add(kib)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			l := newWireLink(up)
			n.e.LinkUp(l)
			n.e.HandleMessage(l, &wire.PaymentRequest{Owed: 1})
			n.e.LinkDown(l)
			n.e.Channels()
		}
	}()
	wg.Wait()
	require.EqualValues(t, workers*rounds, n.status(up).OwedToUs)
	// Half a satoshi per KiB to the downstream, one on our own connection.
	require.EqualValues(t, workers*rounds*3/2, n.status(down).OwedByUs)
}

func TestCloseIsIdempotentAndEndsTheAPI(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	n := newNode(t, relayConfig(chain))
	require.NoError(t, n.e.Close())
	require.NoError(t, n.e.Close())
	require.Nil(t, n.e.Channels())
	require.ErrorIs(t, n.e.CloseChannel(addr.NodeID{1}, 1000), ErrClosed)
	_, err := n.e.ForceCloseChannel(addr.NodeID{1})
	require.ErrorIs(t, err, ErrClosed)
	n.e.LinkUp(newWireLink(addr.NodeID{1})) // returns
	n.e.HandleMessage(newWireLink(addr.NodeID{1}), &wire.PaymentRequest{Owed: 1})
}

func TestConfigDefaultsAndErrors(t *testing.T) {
	c, err := Config{}.withDefaults()
	require.NoError(t, err)
	require.EqualValues(t, 1000, c.Chunk)
	require.EqualValues(t, 4000, c.CreditLimit)
	require.Equal(t, 10*time.Minute, c.QuoteTTL)
	require.EqualValues(t, 1_000_000, c.ChannelAmount)
	require.EqualValues(t, 1, c.MinConfirmations)
	require.Equal(t, time.Second, c.PollInterval)
	_, err = Config{Price: 1}.withDefaults()
	require.ErrorIs(t, err, ErrConfig, "charging needs a chain")
	_, err = Config{Chunk: -1}.withDefaults()
	require.ErrorIs(t, err, ErrConfig)
	_, err = New(Config{}, Host{})
	require.ErrorIs(t, err, ErrConfig, "no identity")
}
