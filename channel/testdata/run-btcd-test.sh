#!/bin/sh
# Runs the integration tests against a real btcd (regtest, --rejectnonstd,
# loopback only): package channel's (channel/btcd_integration_test.go) and
# the network's (btcd_test.go: nodes paying for relayed bytes, closes), the
# wallet's (channel/rpcwallet) and the daemon's (cmd/foxtrot).
#
# Usage: channel/testdata/run-btcd-test.sh [extra go test flags]
#
# Uses $BTCD if set; otherwise $(go env GOPATH)/bin/btcd (or $GOBIN/btcd),
# installing btcd v0.26.2 there first if it is missing or another version.
# Building btcd takes about a minute once; the test itself takes about a
# second. btcd creates ~/.btcd whatever --datadir says.
set -eu

want=0.26.2
cd "$(dirname "$0")/../.."

if [ -z "${BTCD:-}" ]; then
	bin=$(go env GOBIN)
	[ -n "$bin" ] || bin=$(go env GOPATH)/bin
	BTCD=$bin/btcd
	if ! "$BTCD" --version 2>/dev/null | grep -q "version $want"; then
		echo "installing btcd v$want into $bin" >&2
		# Outside the module: btcd's own go.mod decides its dependencies.
		(cd / && GOBIN=$bin go install "github.com/btcsuite/btcd@v$want")
	fi
fi
export BTCD

exec go test -tags btcd -count=1 -run 'TestBtcd' "$@" ./channel/ ./channel/rpcwallet/ . ./cmd/foxtrot/
