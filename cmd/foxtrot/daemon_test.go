package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// TestReloadLinksNewPeersAndSwapsTheAllowList: what SIGHUP applies, on a
// daemon in this process: a peer added to the config is linked, and the
// exit's allow-list is the new one.
func TestReloadLinksNewPeersAndSwapsTheAllowList(t *testing.T) {
	foxtrottest.VerifyNoLeaks(t)
	other, err := foxtrot.NewNode(foxtrot.Config{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })

	dir := t.TempDir()
	c := &config{fileConfig: fileConfig{Key: filepath.Join(dir, "id.key"), ExitAllow: []string{"example.com:443"}}, exitOpen: true}
	require.NoError(t, c.check())
	d, err := startDaemon(c, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	require.True(t, d.exit.allow.Load().allows("example.com", 443))
	require.Empty(t, d.node.Peers())

	nc := &config{fileConfig: fileConfig{Key: c.Key, Peers: other.ListenAddrs(), ExitAllow: []string{"127.0.0.1:80"}}, exitOpen: true}
	require.NoError(t, nc.check())
	d.reload(nc)
	require.Eventually(t, func() bool { return len(d.node.Peers()) == 1 }, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, other.Identity(), d.node.Peers()[0])
	require.False(t, d.exit.allow.Load().allows("example.com", 443))
	require.True(t, d.exit.allow.Load().allows("127.0.0.1", 80))

	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "idempotent")

	// The same key file: the same identity.
	d2, err := startDaemon(c, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, d.node.Identity(), d2.node.Identity())
	require.NoError(t, d2.Close())
}
