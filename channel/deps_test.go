package channel_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestChannelIsPureAndImportsNothingAboveIt keeps the package free of
// network code and of foxtrot packages but the shared field reader
// (internal/codec): it sits below the routing layer.
func TestChannelIsPureAndImportsNothingAboveIt(t *testing.T) {
	list := func(args ...string) []string {
		out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
		require.NoError(t, err)
		return strings.Fields(string(out))
	}
	direct := list("-f", `{{join .Imports " "}}`, "github.com/foxtrotnet/foxtrot/channel")
	for _, p := range direct {
		require.NotContains(t, []string{"net", "net/http", "os/exec", "github.com/btcsuite/btcd/rpcclient", "log"}, p)
	}
	for _, pkg := range []string{"github.com/foxtrotnet/foxtrot/channel", "github.com/foxtrotnet/foxtrot/channel/simchain", "github.com/foxtrotnet/foxtrot/channel/rpcchain"} {
		for _, dep := range list("-deps", pkg) {
			if strings.HasPrefix(dep, "github.com/foxtrotnet/foxtrot") && !strings.HasPrefix(dep, "github.com/foxtrotnet/foxtrot/internal/codec") {
				require.True(t, dep == pkg || dep == "github.com/foxtrotnet/foxtrot/channel", "%s imports %s", pkg, dep)
			}
		}
	}
	for _, dep := range list("-deps", "github.com/foxtrotnet/foxtrot/channel") {
		require.NotEqual(t, "github.com/btcsuite/btcd/rpcclient", dep)
	}
}
