package billing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcwire "github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait for an event: past it the test has failed.
const wait = 20 * time.Second

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// node is an engine whose ticks and clock the test drives.
type node struct {
	e     *Engine
	id    addr.NodeID
	ticks chan time.Time
	clock *clock
}

func newNode(t *testing.T, cfg Config) *node {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	n := &node{id: addr.NodeIDFromPubKey(key.PubKey()), ticks: make(chan time.Time), clock: &clock{now: time.Unix(1_700_000_000, 0)}}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", n.id.String()[:6])
	n.e, err = New(cfg, Host{Identity: key, Ticks: n.ticks, Now: n.clock.Now, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { n.e.Close() })
	return n
}

// testWriter logs to the test.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// tick drives one tick of n's engine.
func (n *node) tick(t *testing.T) {
	t.Helper()
	select {
	case n.ticks <- n.clock.Now():
	case <-time.After(wait):
		t.Fatal("the engine's loop did not take a tick")
	}
}

// status is n's account with peer, read through its loop (so everything
// queued before it, and everything metered, is in it).
func (n *node) status(peer addr.NodeID) ChannelStatus {
	for _, s := range n.e.Channels() {
		if s.Peer == peer {
			return s
		}
	}
	return ChannelStatus{Peer: peer}
}

// wireLink carries messages from one engine to another as a peer link
// does: encoded and decoded by package wire, in order, and recorded for
// the test to watch. A link with no peer engine only records.
type wireLink struct {
	id   addr.NodeID // the neighbour's identity
	peer *Engine
	back *wireLink // the neighbour's link to us
	sent chan wire.Message
}

func newWireLink(id addr.NodeID) *wireLink {
	return &wireLink{id: id, sent: make(chan wire.Message, 4096)}
}

func (l *wireLink) ID() addr.NodeID { return l.id }

func (l *wireLink) Send(m wire.Message) error {
	b, err := wire.Append(nil, m)
	if err != nil {
		return err
	}
	got, err := wire.NewReader(bytes.NewReader(b)).Read()
	if err != nil {
		return err
	}
	select {
	case l.sent <- got:
	default:
		return errors.New("test link: record full")
	}
	if l.peer != nil {
		l.peer.HandleMessage(l.back, got)
	}
	return nil
}

// connect links two engines both ways.
func connect(a, b *node) (ab, ba *wireLink) {
	ab, ba = newWireLink(b.id), newWireLink(a.id)
	ab.peer, ba.peer = b.e, a.e
	ab.back, ba.back = ba, ab
	a.e.LinkUp(ab)
	b.e.LinkUp(ba)
	return ab, ba
}

// next returns the next message of type T l sends, skipping others.
func next[T wire.Message](t *testing.T, l *wireLink) T {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m := <-l.sent:
			if m, ok := m.(T); ok {
				return m
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T was sent", zero)
			return zero
		}
	}
}

// nextChannel returns the next channel message on l that decodes as T.
func nextChannel[T any, PT interface {
	*T
	UnmarshalBinary([]byte) error
}](t *testing.T, l *wireLink) PT {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case m := <-l.sent:
			if cm, ok := m.(*wire.ChannelMessage); ok {
				var v T
				if PT(&v).UnmarshalBinary(cm.Payload) == nil {
					return &v
				}
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T was sent", zero)
			return nil
		}
	}
}

// quiet asserts that l sent nothing (call it after a status barrier).
func quiet(t *testing.T, l *wireLink) {
	t.Helper()
	select {
	case m := <-l.sent:
		t.Fatalf("unexpected %T %+v", m, m)
	default:
	}
}

// newWallet mines n matured coins to a fresh key on chain.
func newWallet(t *testing.T, chain *simchain.Chain, n int) *simchain.Wallet {
	w, err := chain.NewWallet(n)
	require.NoError(t, err)
	return w
}

// spent waits until the chain's mempool or blocks spend op (a funding
// was broadcast) and returns the spending transaction.
func spent(t *testing.T, chain channel.Chain, op btcwire.OutPoint) *btcwire.MsgTx {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tx, err := chain.WatchSpend(ctx, op, 0)
	require.NoError(t, err, "the funding was never broadcast")
	return tx
}

// gatedChain is a chain whose Height blocks, after the first call, until
// the test releases it (or the caller's context ends): a Bitcoin node
// that hangs.
type gatedChain struct {
	channel.Chain
	mu      sync.Mutex
	calls   int
	entered chan struct{} // a blocked Height call began
	release chan struct{}
}

func (g *gatedChain) Height(ctx context.Context) (uint32, error) {
	g.mu.Lock()
	g.calls++
	first := g.calls == 1
	g.mu.Unlock()
	if !first {
		select {
		case g.entered <- struct{}{}:
		default:
		}
		select {
		case <-g.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return g.Chain.Height(ctx)
}
