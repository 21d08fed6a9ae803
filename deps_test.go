package foxtrot

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/foxtrotnet/foxtrot"

// layers is DESIGN.md's picture, bottom up: a package may import only
// packages of a lower layer, or its own parent (channel/simchain imports
// channel); an example may import its own subpackages. The utilities under
// internal/ are the floor (pipe builds on deadline and signal); addr sits
// on them, and everything that names a node, address or connection sits on
// addr; simnet, which lays out networks over the mem transport for tests,
// and natsim, which simulates NATs, sit just above the transports.
var layers = []struct {
	rank     int
	prefixes []string
}{
	{0, []string{"internal/deadline", "internal/signal", "internal/bufpool", "internal/ecdh", "internal/codec", "internal/budget", "internal/cputime"}},
	{1, []string{"internal/third_party/yamux"}},  // go-yamux v5.1.0, patched (internal/third_party/yamux/FORK.md): on internal/bufpool
	{0, []string{"internal/third_party/quicgo"}}, // quic-go v0.65.0, patched (internal/third_party/quicgo/FORK.md): upstream's own package graph inside, not checked
	{1, []string{"addr"}},
	{2, []string{"internal/wire"}}, // on internal/codec and addr
	{1, []string{"internal/pipe"}}, // on deadline and signal
	{2, []string{"transport"}},
	{3, []string{"internal/simnet", "internal/natsim"}}, // natsim: NATs in user space for tests
	{3, []string{"internal/lan"}},                       // LAN beacons: on internal/codec
	{3, []string{"transport/quic"}},                     // QUIC links over transport/obfs and transport/udp
	{3, []string{"peer/noise"}},                         // the links' handshake and framing: on internal/ only
	{4, []string{"peer"}},
	{5, []string{"channel"}},
	{6, []string{"channel/btcdtest", "channel/rpcwallet", "dht", "stealth", "billing"}}, // btcdtest drives channel/rpcchain, rpcwallet asks it for coins; billing drives channels
	{6, []string{"session"}}, // knows paths, not how they were found
	{6, []string{"nat"}},     // NAT traversal's messages and reflexive-address table: on peer's wire, beside dht
	{6, []string{"relay"}},   // circuits and splicing; beside billing, so it cannot import it
	{7, []string{"route"}},
	{8, []string{""}},                        // the root package
	{9, []string{"examples", "foxtrottest"}}, // foxtrottest builds networks of root Nodes for tests
	{9, []string{"cmd"}},                     // the foxtrot command: the root, stealth and route
}

// inFork reports whether pkg is part of a forked module kept verbatim
// (internal/third_party/quicgo): its packages import each other as upstream's do.
func inFork(pkg string) bool {
	return strings.HasPrefix(pkg, module+"/internal/third_party/quicgo/") || pkg == module+"/internal/third_party/quicgo"
}

func rankOf(t *testing.T, pkg string) int {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	best, bestLen := -1, -1
	for _, l := range layers {
		for _, p := range l.prefixes {
			if (rel == p || strings.HasPrefix(rel, p+"/") || p == "") && len(p) > bestLen {
				best, bestLen = l.rank, len(p)
			}
		}
	}
	require.GreaterOrEqual(t, best, 0, "package %s has no layer: add it to deps_test.go", pkg)
	return best
}

// TestArrowsPointDown checks every package's imports (not test imports)
// against the layers, and that transport imports nothing above addr.
func TestArrowsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		r := rankOf(t, pkg)
		for _, imp := range imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if strings.HasPrefix(pkg, imp+"/") || strings.HasPrefix(imp, pkg+"/") && strings.Contains(pkg, "/examples/") {
				continue // a subpackage may use its parent; an example its own parts
			}
			if inFork(pkg) && inFork(imp) {
				continue // a fork keeps upstream's package graph
			}
			require.Less(t, rankOf(t, imp), r, "%s imports %s, which is not below it", pkg, imp)
		}
	}
}
