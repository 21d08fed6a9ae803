package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot"
)

func TestTourRunsAndReportsWhatHappened(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	require.NoError(t, run(&out, options{mib: 2, pings: 10}))
	s := out.String()
	t.Log("\n" + s)
	require.Contains(t, s, "through 2 relays: alice → r")
	require.Contains(t, s, "SHA-256 identical on both ends")
	require.Regexp(t, `r[13] +requests seen 1, forwarded 1; circuits 1; 2\.0 MiB relayed`, s)
}

func TestTourWithAKeyFilePrintsTheSameAddressEachRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	path := filepath.Join(t.TempDir(), "bob.key")
	addrLine := regexp.MustCompile(`listens on the key in .*\n  (1\w+)\n`)
	var first, second bytes.Buffer
	require.NoError(t, run(&first, options{mib: 1, pings: 2, keyFile: path}))
	require.NoError(t, run(&second, options{mib: 1, pings: 2, keyFile: path}))
	a, b := addrLine.FindStringSubmatch(first.String()), addrLine.FindStringSubmatch(second.String())
	require.Len(t, a, 2, first.String())
	require.Len(t, b, 2, second.String())
	require.Equal(t, a[1], b[1])
	key, err := foxtrot.LoadKey(path)
	require.NoError(t, err)
	require.Equal(t, foxtrot.AddrFromPubKey(key.PubKey()).String(), a[1])
}
