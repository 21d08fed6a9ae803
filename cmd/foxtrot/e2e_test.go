package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The end-to-end test runs the built command as separate processes.

const e2eWait = 20 * time.Second // bound on every wait of the test

type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs `foxtrot node -config cfg`; the test's cleanup kills it
// if it still runs and prints its log if the test failed.
func startNode(t *testing.T, bin, name, cfg string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "node", "-config", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's log:\n%s", name, p.log.String())
		}
	})
	return p
}

// stop sends SIGTERM and requires exit status 0 within 5 s.
func (p *proc) stop() {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
		require.NoError(p.t, p.err, "%s exits 0 on SIGTERM", p.name)
	case <-time.After(5 * time.Second):
		p.t.Fatalf("%s still running 5 s after SIGTERM", p.name)
	}
}

// status runs `foxtrot status -admin sock -json` until it answers with
// a status cond accepts, within e2eWait.
func status(t *testing.T, bin, sock string, cond func(statusJSON) bool) statusJSON {
	t.Helper()
	var got statusJSON
	var last string
	ok := assert.Eventually(t, func() bool {
		out, err := exec.Command(bin, "status", "-admin", sock, "-json").CombinedOutput()
		last = string(out)
		if err != nil {
			return false
		}
		var s statusJSON
		if json.Unmarshal(out, &s) != nil {
			return false
		}
		got = s
		return cond(s)
	}, e2eWait, 50*time.Millisecond)
	require.True(t, ok, "status of %s never became what was wanted; last: %s", sock, last)
	return got
}

// curl fetches url through the SOCKS proxy, letting the proxy resolve
// names, and returns the body and curl's exit code.
func curl(t *testing.T, socks, url string) (string, int) {
	t.Helper()
	cmd := exec.Command("curl", "-sS", "--max-time", "15", "--socks5-hostname", socks, url)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Logf("curl %s: exit %d: %s", url, ee.ExitCode(), strings.TrimSpace(stderr.String()))
		return string(out), ee.ExitCode()
	}
	if err != nil { // curl did not run; called from Eventually's goroutine, so no FailNow
		t.Errorf("curl: %v", err)
		return "", -1
	}
	return string(out), 0
}

// curlUntil retries curl until its exit code is want (a path may take a
// moment to exist after the links are up), within e2eWait.
func curlUntil(t *testing.T, socks, url string, want int) string {
	t.Helper()
	var body string
	var code int
	ok := assert.Eventually(t, func() bool {
		body, code = curl(t, socks, url)
		return code == want
	}, e2eWait, 100*time.Millisecond)
	require.True(t, ok, "curl %s: exit %d, want %d", url, code, want)
	return body
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestThreeDaemons runs a client, a relay and an exit as separate
// processes from config files on loopback TCP: status -json shows each
// one's peers; curl --socks5-hostname through the client fetches a page
// from an HTTP server on 127.0.0.1 via the exit, and one served on a
// foxtrot address; after SIGHUP empties the exit's allow-list the exit
// refuses; SIGTERM stops each with status 0 within 5 s; a restarted
// node has the same identity and address.
func TestThreeDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs processes")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (apt-get install -y curl): the end-to-end test needs it")
	}
	tmp := t.TempDir()
	dir, err := os.MkdirTemp("", "fte2e") // short: unix socket paths are at most 107 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(tmp, "foxtrot")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from 127.0.0.1")
	}))
	t.Cleanup(web.Close)
	webHost := strings.TrimPrefix(web.URL, "http://")

	out, err := exec.Command(bin, "keygen", "-o", filepath.Join(dir, "web.key")).Output()
	require.NoError(t, err)
	webAddr := strings.TrimSpace(string(out))

	sock := func(name string) string { return filepath.Join(dir, name+".sock") }
	cfg := func(name string) string { return filepath.Join(dir, name+".toml") }

	writeConfig(t, cfg("relay"), `
key = "relay.key"
listen = ["/ip4/127.0.0.1/tcp/0"]
admin = "relay.sock"
log_level = "debug"
`)
	relay := startNode(t, bin, "relay", cfg("relay"))
	rs := status(t, bin, sock("relay"), func(s statusJSON) bool { return len(s.ListenAddrs) == 1 })
	relayAddr := rs.ListenAddrs[0]

	exitCfg := func(allow string) string {
		return fmt.Sprintf(`
key = "exit.key"
listen = ["/ip4/127.0.0.1/tcp/0"]
peers = [%q]
admin = "exit.sock"
exit_allow = %s
log_level = "debug"
[[service]]
key = "web.key"
forward = %q
`, relayAddr, allow, webHost)
	}
	writeConfig(t, cfg("exit"), exitCfg(quoteList([]string{webHost})))
	exit := startNode(t, bin, "exit", cfg("exit"))
	es := status(t, bin, sock("exit"), func(s statusJSON) bool { return len(s.Peers) == 1 })
	require.Equal(t, rs.Address, es.Peers[0].Address)
	require.True(t, es.ExitOpen)
	require.Equal(t, []string{webAddr}, es.Listens)

	writeConfig(t, cfg("client"), fmt.Sprintf(`
key = "client.key"
peers = [%q]
admin = "client.sock"
socks = "127.0.0.1:0"
metrics = "127.0.0.1:0"
exit = %q
log_level = "debug"
`, relayAddr, es.Address))
	client := startNode(t, bin, "client", cfg("client"))
	cs := status(t, bin, sock("client"), func(s statusJSON) bool { return len(s.Peers) == 1 })
	require.Equal(t, rs.Address, cs.Peers[0].Address)
	rs = status(t, bin, sock("relay"), func(s statusJSON) bool { return len(s.Peers) == 2 })
	got := []string{rs.Peers[0].Address, rs.Peers[1].Address}
	require.ElementsMatch(t, []string{cs.Address, es.Address}, got)

	// Through the exit to 127.0.0.1, and to a foxtrot address.
	require.Equal(t, "hello from 127.0.0.1", curlUntil(t, cs.Socks, web.URL+"/", 0))
	require.Equal(t, "hello from 127.0.0.1", curlUntil(t, cs.Socks, "http://"+webAddr+"/", 0))

	// The metrics endpoint counts both.
	resp, err := http.Get("http://" + cs.Metrics + "/metrics")
	require.NoError(t, err)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.GreaterOrEqual(t, metricValue(t, fams, "foxtrot_socks_dials_total", "outcome", "ok"), 2.0)
	require.Equal(t, 1.0, metricValue(t, fams, "foxtrot_links"))

	// SIGHUP with an empty allow-list: the exit refuses (curl's exit 97:
	// the proxy refused the request).
	writeConfig(t, cfg("exit"), exitCfg("[]"))
	require.NoError(t, exit.cmd.Process.Signal(syscall.SIGHUP))
	curlUntil(t, cs.Socks, web.URL+"/", 97)
	// The exit logs its refusal as it refuses: the line may land just
	// after the client's answer.
	require.Eventually(t, func() bool { return strings.Contains(exit.log.String(), "exit: target not allowed") },
		10*time.Second, 10*time.Millisecond, "the exit logs the refusal")

	client.stop()
	exit.stop()
	relay.stop()
	for _, name := range []string{"relay", "exit", "client"} {
		_, err := os.Stat(sock(name))
		require.ErrorIs(t, err, os.ErrNotExist, "%s's admin socket is removed on exit", name)
	}

	// Restart: the same identity and address.
	exit = startNode(t, bin, "exit (restarted)", cfg("exit"))
	es2 := status(t, bin, sock("exit"), func(statusJSON) bool { return true })
	require.Equal(t, es.Address, es2.Address)
	require.Equal(t, []string{webAddr}, es2.Listens)
	exit.stop()
}
