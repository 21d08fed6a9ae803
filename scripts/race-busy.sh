#!/usr/bin/env bash
# race-busy.sh: the race-detector test run on a machine that is busy.
#
# Runs `go test -race -count=3 ./...` from the repository root while one
# busy-loop process per core (nproc of them) keeps every core busy, as on a
# shared CI runner or a developer's loaded laptop. Tests that depend on
# scheduling (who wins a race, how long a sleep lasts) fail here; tests that
# wait on events do not. Prints the result and the wall time, and exits
# with go test's status.
#
# Arguments replace ./... and are passed to go test as they are, so a
# subset can be run:
#
#	scripts/race-busy.sh                          # everything, 3 times
#	scripts/race-busy.sh ./route/ ./foxtrottest/
#	scripts/race-busy.sh -run 'Failover|Survives' .
#	COUNT=10 scripts/race-busy.sh -run TestARestartedRelay .
#
# Environment: COUNT (default 3) is go test's -count; BUSY (default
# nproc) is how many busy loops to run; TIMEOUT (default 60m) is go
# test's -timeout.
#
# The busy loops are killed when the script ends, whether the tests pass,
# fail, or the run is interrupted (Ctrl-C, kill).
set -u

cd "$(dirname "$0")/.." || exit 2

count=${COUNT:-3}
busy=${BUSY:-$(nproc)}
timeout=${TIMEOUT:-60m}

pids=""   # the busy loops
gotest="" # go test's process group, while it runs
stop_busy() {
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null
		wait $pids 2>/dev/null
		pids=""
	fi
}
stop_all() {
	if [ -n "$gotest" ]; then
		kill -TERM -- "-$gotest" 2>/dev/null # go test and the test binaries it runs
		wait "$gotest" 2>/dev/null
		gotest=""
	fi
	stop_busy
}
trap 'stop_all' EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM HUP

i=0
while [ "$i" -lt "$busy" ]; do
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done

if [ $# -eq 0 ]; then
	set -- ./...
fi
echo "race-busy: go test -race -count=$count -timeout $timeout $* with $busy busy loops on $(nproc) cores"
start=$(date +%s)
# go test runs as a job of its own (set -m: its own process group), so
# that the traps above run at once on a signal and can stop all of it.
set -m
go test -race -count="$count" -timeout "$timeout" "$@" &
gotest=$!
set +m
wait "$gotest"
status=$?
gotest=""
end=$(date +%s)
stop_busy

elapsed=$((end - start))
if [ "$status" -eq 0 ]; then
	result=PASS
else
	result="FAIL (go test exited $status)"
fi
printf 'race-busy: %s in %dm%02ds wall time (count %s, %s busy loops)\n' \
	"$result" $((elapsed / 60)) $((elapsed % 60)) "$count" "$busy"
exit "$status"
