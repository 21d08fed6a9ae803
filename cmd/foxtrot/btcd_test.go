//go:build btcd

package main

// Daemons from config files paying each other over channels funded by
// their [billing] wallet on a real btcd (regtest, --addrindex).
// channel/testdata/run-btcd-test.sh runs it (.ci/run runs that).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/channel/btcdtest"
	"github.com/foxtrotnet/foxtrot/channel/rpcwallet"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// TestBtcdDaemonsPayFromTheirWalletKey: a client daemon whose [billing]
// names a wallet key and a btcd opens a channel to its relay, funded from
// the key's coins (found through btcd's address index), and pays the
// relay's price for the bytes relayed; `foxtrot channels` shows both
// sides. The relay has no wallet: it charges, and pays nobody.
func TestBtcdDaemonsPayFromTheirWalletKey(t *testing.T) {
	foxtrottest.VerifyNoLeaks(t)
	ctx := context.Background()
	dir := t.TempDir()
	walletFile := filepath.Join(dir, "wallet.key")
	wkey, _, err := foxtrot.LoadOrCreateKey(walletFile)
	require.NoError(t, err)
	waddr, err := rpcwallet.Address(wkey, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	chain, rpc := btcdtest.StartConfig(t, waddr.EncodeAddress(), "--addrindex")
	_, err = chain.Mine(ctx, 101) // the wallet's first coinbase matures
	require.NoError(t, err)

	logs := &syncWriter{w: &bytes.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon logs:\n%s", logs.String())
		}
	})
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := func(name, text string) *daemon {
		path := filepath.Join(dir, name+".toml")
		require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
		f := newNodeFlags(io.Discard)
		require.NoError(t, f.fs.Parse([]string{"-config", path}))
		c, err := f.load()
		require.NoError(t, err)
		d, err := startDaemon(c, log.With("node", name))
		require.NoError(t, err)
		t.Cleanup(func() { d.Close() })
		return d
	}
	echoL := echoTCP(t)
	chainSection := fmt.Sprintf("[billing.chain]\nhost = %q\nuser = %q\npassword = %q\nnotls = true\n", rpc.Host, rpc.User, rpc.Pass)
	relay := start("relay", fmt.Sprintf(`key = "relay.key"
listen = ["/ip4/127.0.0.1/tcp/0"]
admin = "relay.sock"
exit_allow = [%q]
[billing]
price = 30
exit_price = 20
chunk = 50
credit_limit = 2000
poll_interval = "20ms"
`, echoL.Addr().String())+chainSection)
	peer := relay.node.ListenAddrs()[0]
	client := start("client", fmt.Sprintf(`key = "client.key"
peers = [%q]
admin = "client.sock"
socks = "127.0.0.1:0"
exit = %q
[billing]
max_price = 100
exit_max_price = 50
chunk = 50
credit_limit = 2000
poll_interval = "20ms"
wallet_key = "wallet.key"
`, peer, relay.node.Identity().String())+chainSection)
	target, err := foxtrot.NewNode(foxtrot.Config{Peers: []string{peer}})
	require.NoError(t, err)
	t.Cleanup(func() { target.Close() })
	l := foxtrottest.Echo(t, target)
	require.Contains(t, logs.String(), "wallet="+waddr.EncodeAddress(), "the wallet's address is logged at start")
	require.Contains(t, logs.String(), "cannot pay", "the relay says it has no wallet")

	stopMining := btcdtest.MineEvery(ctx, chain, 100*time.Millisecond)
	defer stopMining()
	echo := func(n int) {
		c := foxtrottest.Dial(t, client.node, l.Addr())
		defer c.Close()
		go c.Write(make([]byte, n))
		_, err := io.ReadFull(c, make([]byte, n))
		require.NoError(t, err)
	}
	echo(4 << 20)
	acct := func(d *daemon, peer foxtrot.Addr) foxtrot.ChannelStatus {
		for _, c := range d.node.Channels() {
			if c.Peer == peer {
				return c
			}
		}
		return foxtrot.ChannelStatus{}
	}
	require.Eventually(t, func() bool { return acct(client, relay.node.Identity()).Ready }, 60*time.Second, 20*time.Millisecond,
		"the client's channel to the relay is funded from the wallet and confirmed")
	stopMining()
	echo(4 << 20)
	// Paid up: what is left owing is under a chunk (no more requests),
	// and both sides agree on what was paid.
	require.Eventually(t, func() bool {
		r, c := acct(relay, client.node.Identity()), acct(client, relay.node.Identity())
		return r.PaidToUs > 0 && r.OwedToUs < 50 && r.PaidToUs == c.PaidByUs
	}, 30*time.Second, 20*time.Millisecond, "the relay was paid")
	earned := acct(relay, client.node.Identity()).PaidToUs
	paid := acct(client, relay.node.Identity()).PaidByUs
	t.Logf("relay earned %d sat, client paid %d sat", earned, paid)
	require.Equal(t, earned, paid)
	require.GreaterOrEqual(t, earned, int64(16*30-50), "16 MiB relayed at 30 sat/MiB")

	var out bytes.Buffer
	require.NoError(t, cmdAdmin("channels", []string{"-admin", filepath.Join(dir, "relay.sock")}, &out, io.Discard))
	require.Contains(t, out.String(), client.node.Identity().String())
	require.Contains(t, out.String(), fmt.Sprint(earned), "the table shows the earnings")

	// The relay is also an exit at 20 sat/MiB; the client, linked to it,
	// pays that too for what goes through its SOCKS port.
	res, err := adminCall(filepath.Join(dir, "client.sock"), adminRequest{Cmd: "status"})
	require.NoError(t, err)
	var st statusJSON
	require.NoError(t, json.Unmarshal(res, &st))
	sc, code := socksConnect(t, st.Socks, "127.0.0.1", uint16(echoL.Addr().(*net.TCPAddr).Port))
	require.Equal(t, byte(repSucceeded), code)
	go sc.Write(make([]byte, 4<<20))
	_, err = io.ReadFull(sc, make([]byte, 4<<20))
	require.NoError(t, err)
	sc.Close()
	require.Eventually(t, func() bool {
		r, c := acct(relay, client.node.Identity()), acct(client, relay.node.Identity())
		return r.PaidToUs >= earned+8*20-50 && r.OwedToUs < 50 && r.PaidToUs == c.PaidByUs
	}, 30*time.Second, 20*time.Millisecond, "the exit was paid for 8 MiB at 20 sat/MiB")
	t.Logf("the exit earned %d sat more", acct(relay, client.node.Identity()).PaidToUs-earned)

	fund := acct(client, relay.node.Identity()).Funding
	n, err := chain.Confirmations(ctx, chainhash.Hash(fund))
	require.NoError(t, err)
	require.Positive(t, n, "btcd mined the funding the wallet paid for")
}

// syncWriter is a buffer the daemons' loggers share.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
