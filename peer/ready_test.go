package peer

import (
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/transport/mem"
)

func TestWaitLinkWakesWhenAKeptPeerLinks(t *testing.T) {
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a := newTestSet(t, tr, nil, func(c *Config) { c.RedialMin = time.Millisecond; c.RedialMax = 5 * time.Millisecond })
	b := newTestSet(t, tr, nil, nil)
	require.False(t, a.Expecting())
	a.Keep(ma.StringCast("/mem/7"))
	require.True(t, a.Expecting())

	done := make(chan error, 1)
	go func() { done <- a.WaitLink(ctxT(t)) }()
	require.Eventually(t, func() bool {
		u := a.Unlinked()
		return len(u) == 1 && u[0].Attempts >= 2 && u[0].LastError != nil
	}, 10*time.Second, time.Millisecond, "the kept peer is reported while it cannot be reached")
	select {
	case err := <-done:
		t.Fatalf("woke without a link: %v", err)
	default:
	}
	listen(t, b, "/mem/7")
	require.NoError(t, <-done)
	require.Eventually(t, func() bool { return len(a.Unlinked()) == 0 }, 10*time.Second, time.Millisecond)
}

func TestWaitLinkEndsWithItsContextOrTheSet(t *testing.T) {
	s := newTestSet(t, mem.NewNetwork(mem.Options{}).Transport(), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.WaitLink(ctx)
	require.ErrorIs(t, err, ErrNoLink)
	require.ErrorIs(t, err, context.Canceled)
	done := make(chan error, 1)
	go func() { done <- s.WaitLink(context.Background()) }()
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-done, ErrLinkClosed)
}
