package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/examples/chat/chat"
)

const wait = 30 * time.Second

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startDaemon runs "chat" (the daemon) until stop or the end of the test
// and returns what it printed up to the join command, and that command's
// arguments.
func startDaemon(t *testing.T, args ...string) (printed string, join []string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, "chat", args, strings.NewReader(""), pw, io.Discard)
		pw.Close()
		done <- err
	}()
	var out strings.Builder
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if cmd, ok := strings.CutPrefix(lines.Text(), "  chat "); ok {
			join = strings.Fields(cmd)
			break
		}
	}
	require.NotEmpty(t, join, "the daemon printed:\n%s", out.String())
	go io.Copy(io.Discard, pr)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(wait):
				t.Error("the daemon did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return out.String(), join, stop
}

// person is someone running "chat -n NAME ..." in a terminal.
type person struct {
	in     *io.PipeWriter
	out    chan string
	stderr *syncBuffer
	done   chan error
	cancel context.CancelFunc
}

func startClient(t *testing.T, args ...string) *person {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &person{in: pw, out: make(chan string, 100), stderr: &syncBuffer{}, done: make(chan error, 1), cancel: cancel}
	out := &lineWriter{lines: p.out}
	go func() { p.done <- run(ctx, "chat", args, pr, out, p.stderr) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-p.done:
		case <-time.After(wait):
			t.Error("the client did not stop")
		}
	})
	return p
}

func (p *person) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-p.out:
			require.Equal(t, w, got, "stderr: %s", p.stderr.String())
		case <-time.After(wait):
			t.Fatalf("waited for %q; stderr: %s", w, p.stderr.String())
		}
	}
}

func (p *person) say(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(p.in, line+"\n")
	require.NoError(t, err)
}

func (p *person) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(wait):
		t.Fatal("the client did not return")
		return nil
	}
}

type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// The README's session, in one process over loopback TCP: the daemon
// prints a command; alice runs it, with -listen so that her node can
// relay; bob links to alice's node instead, so his connection runs
// through it; they talk; bob leaves; the daemon stops and alice is told.
func TestThePrintedCommandJoinsTheRoom(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	printed, join, stop := startDaemon(t, "-key", filepath.Join(dir, "chat.key"), "-listen", "/ip4/127.0.0.1/tcp/0")
	require.Regexp(t, `(?m)^key      new, saved in .*chat.key\naddress  1\w+\nnode     1\w+\nlinks on /ip4/127.0.0.1/tcp/\d+/foxtrot/1\w+\n`, printed)
	require.Equal(t, []string{"-n", "NAME", "-s"}, join[:3])
	require.Equal(t, "-peer", join[4])

	join[1] = "alice"
	alice := startClient(t, append(join, "-listen", "/ip4/127.0.0.1/tcp/0")...)
	alice.expect(t, "*** welcome alice; nobody else is here")
	require.Contains(t, alice.stderr.String(), "connected to "+join[3]+" directly (no relay)")
	aliceLinks := regexp.MustCompile(`takes links on (\S+)`).FindStringSubmatch(alice.stderr.String())
	require.Len(t, aliceLinks, 2, alice.stderr.String())

	bob := startClient(t, "-n", "bob", "-s", join[3], "-peer", aliceLinks[1])
	bob.expect(t, "*** welcome bob; here: alice")
	require.Contains(t, bob.stderr.String(), "through 1 relay(s)")
	alice.expect(t, "*** bob joined")
	bob.say(t, "hi alice, I came through your node")
	alice.expect(t, "bob: hi alice, I came through your node")

	// bob leaves first: alice's node is his relay, and once the room
	// closes alice's program exits, taking her node with it.
	bob.in.Close()
	require.NoError(t, bob.result(t))
	alice.expect(t, "*** bob left")
	stop()
	alice.expect(t, "*** server closing")
	require.ErrorIs(t, alice.result(t), chat.ErrHungUp)
	nodeLine := regexp.MustCompile(`(?m)^node     (1\w+)$`)
	before := nodeLine.FindStringSubmatch(printed)
	printed, _, _ = startDaemon(t, "-key", filepath.Join(dir, "chat.key"), "-listen", "/ip4/127.0.0.1/tcp/0")
	require.Contains(t, printed, "key      loaded from")
	require.Equal(t, before, nodeLine.FindStringSubmatch(printed), "the node's identity, which the join command names, survives a restart")
}

// ^C in a client leaves the room quietly; end of input too.
func TestAClientLeavesOnInterruptOrEndOfInput(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	_, join, _ := startDaemon(t, "-key", filepath.Join(t.TempDir(), "k"))
	join[1] = "alice"
	alice := startClient(t, join...)
	alice.expect(t, "*** welcome alice; nobody else is here")
	join[1] = "bob"
	bob := startClient(t, join...)
	bob.expect(t, "*** welcome bob; here: alice")
	alice.expect(t, "*** bob joined")
	start := time.Now()
	bob.cancel()
	require.NoError(t, bob.result(t))
	alice.expect(t, "*** bob left")
	require.Less(t, time.Since(start), 5*time.Second,
		"the room hears bob leave at once, though his node closes right after")
	alice.in.Close()
	require.NoError(t, alice.result(t))
}

// The environment configures the nodes when the flags do not.
func TestTheEnvironmentConfiguresTheNodes(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	t.Setenv("FOXTROT_LISTEN", "/ip4/127.0.0.1/tcp/0")
	t.Setenv("FOXTROT_PEERS", "")
	printed, join, _ := startDaemon(t, "-key", filepath.Join(t.TempDir(), "k"))
	require.Contains(t, printed, "links on /ip4/127.0.0.1/tcp/")
	t.Setenv("FOXTROT_LISTEN", "")
	t.Setenv("FOXTROT_PEERS", join[5])
	alice := startClient(t, "-n", "alice", "-s", join[3])
	alice.expect(t, "*** welcome alice; nobody else is here")
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("FOXTROT_PEERS", "")
	for _, tc := range []struct {
		args []string
		err  error
		msg  string
	}{
		{[]string{"-n", "alice"}, errUsage, "-n needs -s"},
		{[]string{"-s", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"}, errUsage, "-s needs -n"},
		{[]string{"extra"}, errUsage, `unexpected argument "extra"`},
		{[]string{"-bogus"}, errUsage, "flag provided but not defined"},
		{[]string{"-n", "a:b", "-s", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"}, chat.ErrBadName, ""},
		{[]string{"-n", "alice", "-s", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMJ"}, nil, "bad checksum"},
		{[]string{"-n", "alice", "-s", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"}, nil, "no node to link to"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), "chat", tc.args, strings.NewReader(""), io.Discard, &stderr)
		require.Error(t, err, "%v", tc.args)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%v", tc.args)
		}
		require.Contains(t, err.Error()+stderr.String(), tc.msg, "%v", tc.args)
	}
}

func TestKeyFileIsCreatedPrivateAndReused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.key")
	key, created, err := loadOrCreateKey(path)
	require.NoError(t, err)
	require.True(t, created)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{64}\n$`, string(b))

	again, created, err := loadOrCreateKey(path)
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, key.Serialize(), again.Serialize())
}

func TestKeyFileMustHoldAKey(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"short":  "abcd\n",
		"nothex": strings.Repeat("zz", 32),
		"zero":   strings.Repeat("00", 32),
		"over n": strings.Repeat("ff", 32),
	} {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		_, _, err := loadOrCreateKey(path)
		require.Error(t, err, name)
		require.Contains(t, err.Error(), path)
	}
}
