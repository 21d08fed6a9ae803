package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
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
