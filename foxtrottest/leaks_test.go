package foxtrottest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// recordingTB runs cleanups when told and records errors instead of
// failing the real test.
type recordingTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (r *recordingTB) Helper()          {}
func (r *recordingTB) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) runCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestVerifyNoLeaksReportsAGoroutineLeftRunning(t *testing.T) {
	rec := &recordingTB{TB: t}
	release := make(chan struct{})
	exited := make(chan struct{})
	verifyNoLeaks(rec, time.Second)
	go func() {
		defer close(exited)
		<-release
	}()
	rec.runCleanups()
	close(release)
	<-exited
	require.Len(t, rec.errs, 1)
	require.Contains(t, rec.errs[0], "TestVerifyNoLeaksReportsAGoroutineLeftRunning", "the leaked goroutine's stack names where it started")
}

func TestVerifyNoLeaksIgnoresGoroutinesThatPredateIt(t *testing.T) {
	release := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		<-release
	}()
	rec := &recordingTB{TB: t}
	verifyNoLeaks(rec, time.Second)
	rec.runCleanups()
	close(release)
	<-exited
	require.Empty(t, rec.errs)
}
