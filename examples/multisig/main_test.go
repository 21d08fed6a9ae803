package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// cli runs one command to completion and returns its stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err, "multisig %s\nstderr: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// daemon runs "multisig serve" until the test ends and returns the address
// it listens on, and its output so far.
func daemon(t *testing.T, stdin io.Reader, args ...string) (addr string, output func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve"}, args...), stdin, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	var mu sync.Mutex
	var out strings.Builder
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if a, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
			addr = a
			break
		}
	}
	require.NotEmpty(t, addr, "serve printed: %s", out.String())
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for lines.Scan() {
			mu.Lock()
			out.WriteString(lines.Text() + "\n")
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		<-drained
	})
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
}

// The session the README describes, run in one process: three co-signers
// make a 2-of-3 wallet; bob approves, carol refuses, alice proposes and
// gets a transaction.
func TestCommandLineSession(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }

	pub := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol"} {
		pub[n] = strings.TrimSpace(cli(t, "keygen", "-out", path(n+".key")))
		require.Equal(t, pub[n], strings.TrimSpace(cli(t, "pubkey", "-key", path(n+".key"))))
	}
	addr := strings.TrimSpace(cli(t, "wallet", "create", "-m", "2", "-out", path("wallet.json"),
		pub["alice"], pub["bob"], pub["carol"]))
	require.True(t, strings.HasPrefix(addr, "bcrt1q"), addr)
	require.Contains(t, cli(t, "wallet", "show", "-wallet", path("wallet.json")), "2-of-3 P2WSH")

	bobAddr, bobOut := daemon(t, nil, "-wallet", path("wallet.json"), "-key", path("bob.key"), "-approve")
	carolAddr, carolOut := daemon(t, nil, "-wallet", path("wallet.json"), "-key", path("carol.key"),
		"-reject", "-reason", "not before the audit")

	require.NoError(t, os.WriteFile(path("utxos.json"), []byte(`[
		{"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": 0, "amount_sat": 100000000}
	]`), 0o644))
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"propose",
		"-wallet", path("wallet.json"), "-key", path("alice.key"), "-utxos", path("utxos.json"),
		"-pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080=25000000",
		"-fee", "1500", "-memo", "invoice 7",
		"-cosigner", pub["bob"] + "@" + bobAddr,
		"-cosigner", pub["carol"] + "@" + carolAddr,
		"-timeout", "30s",
	}, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())

	raw, err := hex.DecodeString(strings.TrimSpace(stdout.String()))
	require.NoError(t, err, "stdout is the transaction in hex and nothing else")
	var tx wire.MsgTx
	require.NoError(t, tx.Deserialize(bytes.NewReader(raw)))
	require.Len(t, tx.TxIn[0].Witness, 4)
	require.Len(t, tx.TxOut, 2, "payee and change")

	report := stderr.String()
	require.Contains(t, report, "approved")
	require.Contains(t, report, "not before the audit")
	require.Contains(t, report, "passes the script engine")
	require.Eventually(t, func() bool { return strings.Contains(bobOut(), "=> approved") }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		return strings.Contains(carolOut(), "=> refused: not before the audit")
	}, 5*time.Second, 10*time.Millisecond)
	require.Contains(t, bobOut(), "invoice 7", "the co-signer is shown the memo")
}

func TestServePromptsTheOperator(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	pub := map[string]string{}
	for _, n := range []string{"alice", "bob"} {
		pub[n] = strings.TrimSpace(cli(t, "keygen", "-out", path(n+".key")))
	}
	cli(t, "wallet", "create", "-m", "2", "-out", path("wallet.json"), pub["alice"], pub["bob"])
	bobAddr, bobOut := daemon(t, strings.NewReader("y\n"), "-wallet", path("wallet.json"), "-key", path("bob.key"))
	require.NoError(t, os.WriteFile(path("utxos.json"), []byte(
		`[{"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": 1, "amount_sat": 50000}]`), 0o644))

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"propose",
		"-wallet", path("wallet.json"), "-key", path("alice.key"), "-utxos", path("utxos.json"),
		"-pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080=40000", "-fee", "10000",
		"-cosigner", pub["bob"] + "@" + bobAddr,
	}, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, bobOut(), "approve? [y/N")
	require.NotEmpty(t, strings.TrimSpace(stdout.String()))
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"keygen"},
		{"serve", "-wallet", "w.json", "-key", "k.key", "-approve", "-reject"},
		{"propose", "-wallet", "w.json"},
		{"wallet", "create", "-m", "2"},
	} {
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		require.ErrorIs(t, err, errUsage, "%q", args)
	}
}
