package dht

import (
	"context"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// TestNodeRepublishesWhatItPublished: a storer that lost a record (as
// after a restart) has it again after the publisher's next maintenance
// round; after the record expires it is published no more.
func TestNodeRepublishesWhatItPublished(t *testing.T) {
	clk := newFakeClock()
	sn := simnet.New(2, simnet.Line, simnet.Options{Seed: 11})
	var nodes []*Node
	for i := range 2 {
		s, err := peer.NewSet(peer.Config{Identity: sn.Keys[i], Transports: transport.Set(sn.Transports())})
		require.NoError(t, err)
		_, err = s.Listen(ma.StringCast(sn.Listen(i)))
		require.NoError(t, err)
		n, err := NewNode(Config{Set: s, Key: sn.Keys[i].PubKey(), Clock: clk})
		require.NoError(t, err)
		n.rounds = make(chan struct{})
		nodes = append(nodes, n)
		t.Cleanup(func() {
			n.Close()
			s.Close()
		})
	}
	ctx := context.Background()
	_, err := nodes[0].dht.cfg.Set.Connect(ctx, ma.StringCast(sn.Addr(1)))
	require.NoError(t, err)
	require.NoError(t, nodes[0].Start(ctx))
	require.NoError(t, nodes[1].Start(ctx))
	every := nodes[0].dht.cfg.Maintain

	rec := signed(t, testKey(t, 80), nil, 1, clk.Now().Add(every+every/2), "v")
	stored, err := nodes[0].Publish(ctx, rec)
	require.NoError(t, err)
	require.Equal(t, 1, stored)
	got, err := nodes[1].Lookup(ctx, rec.Target())
	require.NoError(t, err)
	require.Equal(t, "v", string(got[0].Value))

	b := nodes[1].dht
	b.mu.Lock()
	b.store = NewStore(b.cfg.Store) // the storer forgets
	b.mu.Unlock()
	clk.waitTimer(every)
	clk.waitTimer(every)
	clk.Advance(every)
	<-nodes[0].rounds
	<-nodes[1].rounds
	require.Equal(t, 1, b.Stats().Records, "republished")

	// Past its expiry it is dropped by the storer and not republished.
	clk.waitTimer(every)
	clk.waitTimer(every)
	clk.Advance(every)
	<-nodes[0].rounds
	<-nodes[1].rounds
	require.Zero(t, b.Stats().Records)
	nodes[0].mu.Lock()
	require.Empty(t, nodes[0].published)
	nodes[0].mu.Unlock()
}
