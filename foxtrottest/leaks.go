package foxtrottest

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// LeakTimeout is how long VerifyNoLeaks lets goroutines that are still
// ending take to go before it reports them.
const LeakTimeout = 10 * time.Second

// VerifyNoLeaks makes t fail if, once its cleanups have run, a goroutine
// started after this call is still running. Call it first in a test, so
// that its check runs after every cleanup registered later (nodes closed,
// listeners closed): cleanups run last-registered first.
//
// Goroutines that existed when it was called (the testing framework's,
// those of earlier tests still winding down) are not counted. Goroutines
// of tests running at the same time would be, and goleak cannot tell whose
// a goroutine is, so a test that calls t.Parallel must not use it; the
// package's TestMain (goleak.VerifyTestMain) covers those.
func VerifyNoLeaks(t testing.TB) {
	t.Helper()
	verifyNoLeaks(t, LeakTimeout)
}

func verifyNoLeaks(t testing.TB, timeout time.Duration) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		deadline := time.Now().Add(timeout)
		for {
			// Find retries for a few hundred milliseconds itself.
			err := goleak.Find(before)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("foxtrottest: goroutines leaked: %v", err)
				return
			}
		}
	})
}
