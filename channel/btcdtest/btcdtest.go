// Package btcdtest runs a real btcd for integration tests: regtest,
// --rejectnonstd (so non-final transactions are refused, as on mainnet),
// loopback only, in a temporary directory, stopped at the test's cleanup.
//
// The binary is $BTCD, else btcd on PATH, else $(go env GOPATH)/bin/btcd;
// install it with `go install github.com/btcsuite/btcd@v0.26.2` (see
// channel/testdata/run-btcd-test.sh). btcd creates ~/.btcd whatever
// --datadir says.
package btcdtest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
)

// Path finds the btcd binary.
func Path(t testing.TB) string {
	if p := os.Getenv("BTCD"); p != "" {
		return p
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	require.NoError(t, err)
	p := filepath.Join(string(bytes.TrimSpace(gopath)), "bin", "btcd")
	_, err = os.Stat(p)
	require.NoError(t, err, "btcd not found: go install github.com/btcsuite/btcd@v0.26.2 (or set $BTCD)")
	return p
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs btcd --regtest --rejectnonstd on loopback, mining to
// miningAddr (a regtest address), and returns a chain client once btcd
// answers. Both stop at cleanup; on failure the log tail is printed.
// extra are more btcd flags (such as --addrindex).
func Start(t testing.TB, miningAddr string, extra ...string) *rpcchain.Chain {
	c, _ := StartConfig(t, miningAddr, extra...)
	return c
}

// StartConfig is Start that also returns how to reach the node, for a
// second client (a daemon's config file).
func StartConfig(t testing.TB, miningAddr string, extra ...string) (*rpcchain.Chain, rpcchain.Config) {
	dir := t.TempDir()
	port := freePort(t)
	conf := filepath.Join(dir, "btcd.conf")
	require.NoError(t, os.WriteFile(conf, nil, 0o600))
	logf, err := os.Create(filepath.Join(dir, "stdout.log"))
	require.NoError(t, err)
	cmd := exec.Command(Path(t), append([]string{
		"--regtest", "--rejectnonstd", "--notls", "--txindex", "--nolisten",
		"--configfile=" + conf, "--datadir=" + filepath.Join(dir, "data"), "--logdir=" + filepath.Join(dir, "logs"),
		"--rpcuser=foxtrot", "--rpcpass=foxtrot", "--rpclisten=127.0.0.1:" + strconv.Itoa(port),
		"--miningaddr=" + miningAddr, "--debuglevel=info"}, extra...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("btcd log tail:\n%s", b)
		}
	})

	cfg := rpcchain.Config{Host: "127.0.0.1:" + strconv.Itoa(port), User: "foxtrot", Pass: "foxtrot",
		NoTLS: true, PollInterval: 20 * time.Millisecond}
	c, err := rpcchain.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err = c.Height(context.Background()); err == nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "btcd did not answer: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
	return c, cfg
}

// MineEvery mines a block every interval until the returned stop is
// called (or ctx ends), so fundings waiting for a confirmation get one.
// stop waits for the miner to return; it is idempotent.
func MineEvery(ctx context.Context, chain *rpcchain.Chain, interval time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				chain.Mine(ctx, 1)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
