package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// star links node 0 to n others.
func star(n int) foxtrottest.Topology {
	var edges [][2]int
	for i := 1; i <= n; i++ {
		edges = append(edges, [2]int{0, i})
	}
	return foxtrottest.Custom(edges)
}

func startAdmin(tb testing.TB, fn *foxtrottest.Net) string {
	tb.Helper()
	return startAdminAt(tb, fn, 0)
}

// startAdminAt serves an admin socket for node i.
func startAdminAt(tb testing.TB, fn *foxtrottest.Net, i int) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "ftadmin")
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "admin.sock")
	l, err := listenAdminUnix(path)
	require.NoError(tb, err)
	s := newAdminServer(l, fn.Nodes[i], nodeInfo{Started: time.Now()}, "", slog.New(slog.DiscardHandler))
	tb.Cleanup(func() { s.Close() })
	return path
}

// TestAdminAnswersWith100PeersLinked: status, peers, circuits and routes
// of a hub with 100 linked peers (20 under the race detector, which
// makes linking a hundred take over half a minute) are complete and
// correct; the subcommands print them as JSON and as tables.
func TestAdminAnswersWith100PeersLinked(t *testing.T) {
	n := 100
	if raceEnabled {
		n = 20
	}
	fn := foxtrottest.New(t, n+1, star(n), foxtrottest.Options{})
	path := startAdmin(t, fn)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	res, err := adminCall(path, adminRequest{Cmd: "status"})
	require.NoError(t, err)
	var s statusJSON
	require.NoError(t, json.Unmarshal(res, &s))
	require.Equal(t, fn.Identity(0).String(), s.Address)
	require.Len(t, s.Peers, n)
	want := map[string]bool{}
	for i := 1; i <= n; i++ {
		want[fn.Identity(i).String()] = true
	}
	for _, p := range s.Peers {
		require.True(t, want[p.Address], p.Address)
		delete(want, p.Address)
	}

	var out bytes.Buffer
	require.NoError(t, cmdAdmin("peers", []string{"-admin", path}, &out, os.Stderr))
	require.Equal(t, n+1, strings.Count(out.String(), "\n"), "a header and a row per peer")
	for _, cmd := range []string{"status", "routes", "circuits", "channels"} {
		out.Reset()
		require.NoError(t, cmdAdmin(cmd, []string{"-admin", path, "-json"}, &out, os.Stderr), cmd)
		require.True(t, json.Valid(out.Bytes()), cmd)
		out.Reset()
		require.NoError(t, cmdAdmin(cmd, []string{"-admin", path}, &out, os.Stderr), cmd)
	}

	// disconnect: the peer goes (and, being a kept peer, comes back).
	require.NoError(t, cmdAdmin("disconnect", []string{"-admin", path, fn.Identity(5).String()}, &out, os.Stderr))
	err = cmdAdmin("disconnect", []string{"-admin", path, "nonsense"}, &out, os.Stderr)
	require.ErrorContains(t, err, "bad address")
}

// TestAdminListsEachCircuitARelayCarries: a relay carrying two live
// circuits lists both (JSON "list", one table row each), with their
// neighbours and bytes.
func TestAdminListsEachCircuitARelayCarries(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{})
	path := startAdminAt(t, fn, 1)
	l := foxtrottest.Echo(t, fn.Nodes[2])
	for range 2 {
		c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
		t.Cleanup(func() { c.Close() })
		_, err := c.Write([]byte("ping"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 4))
		require.NoError(t, err)
	}
	var cj circuitsJSON
	require.Eventually(t, func() bool { // counted just after each write
		res, err := adminCall(path, adminRequest{Cmd: "circuits"})
		require.NoError(t, err)
		cj = circuitsJSON{}
		require.NoError(t, json.Unmarshal(res, &cj))
		return len(cj.List) == 2 && cj.List[0].Received >= 4 && cj.List[1].Received >= 4
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, 2, cj.ListTotal)
	require.NotEqual(t, cj.List[0].ID, cj.List[1].ID)
	for _, c := range cj.List {
		require.Equal(t, fn.Identity(0).String(), c.From)
		require.Equal(t, fn.Identity(2).String(), c.To)
		require.GreaterOrEqual(t, c.Sent, int64(4))
		require.Len(t, c.ID, 40)
	}

	var out bytes.Buffer
	require.NoError(t, cmdAdmin("circuits", []string{"-admin", path}, &out, os.Stderr))
	rows := 0
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, fn.Identity(0).String()) && strings.Contains(line, fn.Identity(2).String()) {
			rows++
			require.True(t, strings.HasPrefix(line, cj.List[0].ID[:8]) || strings.HasPrefix(line, cj.List[1].ID[:8]), line)
		}
	}
	require.Equal(t, 2, rows, "one row per circuit:\n%s", out.String())
}

// TestAdminAnswersBadRequestsWithJSONErrors: garbage, unknown commands,
// oversized requests and a wrong token each get {"ok":false,...}, and the
// server keeps answering.
func TestAdminAnswersBadRequestsWithJSONErrors(t *testing.T) {
	fn := foxtrottest.New(t, 2, foxtrottest.Custom([][2]int{{0, 1}}), foxtrottest.Options{})
	path := startAdmin(t, fn)
	for _, req := range []string{"garbage\n", `{"cmd":"reboot"}` + "\n", `{"cmd":"status","x":1}` + "\n",
		`{"cmd":"status","arg":"` + strings.Repeat("a", maxAdminRequest) + `"}` + "\n", "\n"} {
		c, err := net.Dial("unix", path)
		require.NoError(t, err)
		go c.Write([]byte(req)) // an oversized request is not read to its end
		var resp adminResponse
		require.NoError(t, json.NewDecoder(c).Decode(&resp))
		require.False(t, resp.OK)
		require.NotEmpty(t, resp.Error)
		c.Close()
	}
	_, err := adminCall(path, adminRequest{Cmd: "status"})
	require.NoError(t, err, "still answering")

	// TCP with a token.
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := newAdminServer(tl, fn.Nodes[0], nodeInfo{}, "0123456789abcdef", slog.New(slog.DiscardHandler))
	t.Cleanup(func() { s.Close() })
	_, err = adminCall("tcp:"+tl.Addr().String(), adminRequest{Cmd: "status", Token: "wrong"})
	require.ErrorContains(t, err, errAdminToken.Error())
	_, err = adminCall("tcp:"+tl.Addr().String(), adminRequest{Cmd: "status", Token: "0123456789abcdef"})
	require.NoError(t, err)
}

// TestAdminSocketReplacesAStaleOne: a socket left by a crashed node is
// removed at start; one a live node answers on is not taken over.
func TestAdminSocketReplacesAStaleOne(t *testing.T) {
	dir, err := os.MkdirTemp("", "ftadmin")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "a.sock")
	live, err := listenAdminUnix(path)
	require.NoError(t, err)
	_, err = listenAdminUnix(path)
	require.ErrorContains(t, err, "in use")
	live.(*net.UnixListener).SetUnlinkOnClose(false)
	live.Close() // as a crash leaves it: the file stays
	_, err = os.Stat(path)
	require.NoError(t, err)
	l, err := listenAdminUnix(path)
	require.NoError(t, err)
	l.Close()
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "removed on close")
}

// BenchmarkAdminStatus100Peers is one status call (connect, request,
// answer) to a node with 100 linked peers.
func BenchmarkAdminStatus100Peers(b *testing.B) {
	fn := foxtrottest.New(b, 101, star(100), foxtrottest.Options{})
	path := startAdmin(b, fn)
	for b.Loop() {
		if _, err := adminCall(path, adminRequest{Cmd: "status"}); err != nil {
			b.Fatal(err)
		}
	}
}
