package foxtrottest

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// WaitBlocked waits until some goroutine is parked (on a channel, a
// select, a lock, a condition, the network poller) with function on its
// stack, for example "foxtrot.(*Listener).Accept": a test that must know a
// call is blocked before it unblocks it waits for this event instead of
// sleeping and hoping. function is matched against the stack's function
// names (package path included) as a substring.
func WaitBlocked(t testing.TB, function string) {
	t.Helper()
	waitFor(t, func() string {
		if blockedIn(function) {
			return ""
		}
		return fmt.Sprintf("no goroutine is blocked in %s", function)
	})
}

// blockedIn reports whether a goroutine other than the caller's is
// parked with function on its stack.
func blockedIn(function string) bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, stack, _ := strings.Cut(string(g), "\n")
		// goroutine 7 [chan receive]: or [select, 2 minutes]:
		lb, rb := strings.Index(header, "["), strings.Index(header, "]")
		if lb < 0 || rb < lb {
			continue
		}
		state, _, _ := strings.Cut(header[lb+1:rb], ",")
		switch state {
		case "running", "runnable", "syscall", "dead", "idle":
			continue
		}
		if strings.Contains(stack, function) {
			return true
		}
	}
	return false
}
