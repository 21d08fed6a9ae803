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

	"github.com/foxtrotnet/foxtrot"
)

// cli runs one command to completion and returns its stdout.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	require.NoError(t, err, "multisig %s\nstderr: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// daemon runs "multisig serve" until the test ends. It returns the
// multiaddrs its node takes peer links on and a function that returns its
// output so far, once the co-signer listens.
func daemon(t *testing.T, stdin io.Reader, args ...string) (links []string, output func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"serve"}, args...), stdin, pw, io.Discard)
		pw.CloseWithError(err)
		done <- err
	}()
	var mu sync.Mutex
	var out strings.Builder
	lines := bufio.NewScanner(pr)
	listening := false
	for !listening && lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if a, ok := strings.CutPrefix(lines.Text(), "peer links on "); ok {
			links = append(links, a)
		}
		listening = strings.HasPrefix(lines.Text(), "listening on ")
	}
	require.True(t, listening, "serve printed: %s", out.String())
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
	return links, func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
}

// foxtrotAddr returns the foxtrot address of a public key in hex.
func foxtrotAddr(t *testing.T, pubHex string) string {
	t.Helper()
	a, err := foxtrot.ParseAddr(pubHex)
	require.NoError(t, err)
	return a.String()
}

// The session the README describes, run in one process over loopback TCP:
// three co-signers make a 2-of-3 wallet; bob approves, carol refuses,
// alice proposes and gets a transaction. carol's node links to bob's and
// alice's to carol's only, so alice reaches bob through carol's node.
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
	show := cli(t, "wallet", "show", "-wallet", path("wallet.json"))
	require.Contains(t, show, "2-of-3 P2WSH")
	require.Contains(t, show, pub["bob"]+"  foxtrot "+foxtrotAddr(t, pub["bob"]), "the wallet is the address book")

	bobLinks, bobOut := daemon(t, nil, "-wallet", path("wallet.json"), "-key", path("bob.key"),
		"-listen", "/ip4/127.0.0.1/tcp/0", "-approve")
	require.Len(t, bobLinks, 1)
	require.Contains(t, bobOut(), "listening on "+foxtrotAddr(t, pub["bob"]), "a co-signer listens on its wallet key")
	carolLinks, carolOut := daemon(t, nil, "-wallet", path("wallet.json"), "-key", path("carol.key"),
		"-listen", "/ip4/127.0.0.1/tcp/0", "-peer", bobLinks[0], "-reject", "-reason", "not before the audit")
	require.Contains(t, carolOut(), "linked to node ")

	require.NoError(t, os.WriteFile(path("utxos.json"), []byte(`[
		{"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": 0, "amount_sat": 100000000}
	]`), 0o644))
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"propose",
		"-wallet", path("wallet.json"), "-key", path("alice.key"), "-utxos", path("utxos.json"),
		"-pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080=25000000",
		"-fee", "1500", "-memo", "invoice 7",
		"-peer", carolLinks[0],
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
	carolNode := strings.TrimPrefix(carolLinks[0][strings.LastIndex(carolLinks[0], "/"):], "/")
	require.Contains(t, report, foxtrotAddr(t, pub["bob"])+" reached through 1 relay(s): node "+carolNode)
	require.Contains(t, report, foxtrotAddr(t, pub["carol"])+" reached directly")
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
	bobLinks, bobOut := daemon(t, strings.NewReader("y\n"), "-wallet", path("wallet.json"), "-key", path("bob.key"),
		"-listen", "/ip4/127.0.0.1/tcp/0")
	require.NoError(t, os.WriteFile(path("utxos.json"), []byte(
		`[{"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": 1, "amount_sat": 50000}]`), 0o644))

	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"propose",
		"-wallet", path("wallet.json"), "-key", path("alice.key"), "-utxos", path("utxos.json"),
		"-pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080=40000", "-fee", "10000",
		"-peer", bobLinks[0],
	}, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, bobOut(), "approve? [y/N")
	require.NotEmpty(t, strings.TrimSpace(stdout.String()))
}

// bob's co-signer is not running: nobody answers for his key, so propose
// gives up on him after -dial-timeout, says so, and finishes with carol.
// A -peer that cannot be linked is reported too, as long as one can.
func TestProposeReportsAnOfflineCosignerAndFinishes(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	pub := map[string]string{}
	for _, n := range []string{"alice", "bob", "carol"} {
		pub[n] = strings.TrimSpace(cli(t, "keygen", "-out", path(n+".key")))
	}
	cli(t, "wallet", "create", "-m", "2", "-out", path("wallet.json"), pub["alice"], pub["bob"], pub["carol"])
	carolLinks, _ := daemon(t, nil, "-wallet", path("wallet.json"), "-key", path("carol.key"),
		"-listen", "/ip4/127.0.0.1/tcp/0", "-approve")
	require.NoError(t, os.WriteFile(path("utxos.json"), []byte(
		`[{"txid": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "vout": 1, "amount_sat": 50000}]`), 0o644))

	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"propose",
		"-wallet", path("wallet.json"), "-key", path("alice.key"), "-utxos", path("utxos.json"),
		"-pay", "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080=40000", "-fee", "10000",
		"-peer", carolLinks[0], "-peer", "/ip4/127.0.0.1/tcp/1", "-dial-timeout", "4s",
	}, nil, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Less(t, time.Since(start), 20*time.Second)
	report := stderr.String()
	require.Contains(t, report, "cannot link to /ip4/127.0.0.1/tcp/1")
	require.Contains(t, report, "@"+foxtrotAddr(t, pub["bob"])+": cosign: co-signer offline")
	require.Contains(t, report, "@"+foxtrotAddr(t, pub["carol"])+": approved")
	require.NotEmpty(t, strings.TrimSpace(stdout.String()))
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"keygen"},
		{"serve", "-wallet", "w.json", "-key", "k.key", "-listen", "/ip4/127.0.0.1/tcp/0", "-approve", "-reject"},
		{"serve", "-wallet", "w.json", "-key", "k.key"}, // no way to reach it
		{"propose", "-wallet", "w.json"},
		{"propose", "-wallet", "w.json", "-key", "k.key", "-utxos", "u.json", "-fee", "0"}, // no -peer
		{"wallet", "create", "-m", "2"},
	} {
		err := run(context.Background(), args, nil, io.Discard, io.Discard)
		require.ErrorIs(t, err, errUsage, "%q", args)
	}
}
