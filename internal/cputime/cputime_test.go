package cputime_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/cputime"
)

// Work on the CPU shows in Process, where the system says.
func TestProcessCountsWork(t *testing.T) {
	before, ok := cputime.Process()
	if !ok {
		if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
			t.Fatalf("no CPU time on %s", runtime.GOOS)
		}
		return // not measured on this system: Process says so
	}
	// Spin until the process has used 20 ms of CPU more, or fail after
	// 10 s of wall time.
	x := 0
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		for i := range 1 << 16 {
			x += i
		}
		if now, _ := cputime.Process(); now-before >= 20*time.Millisecond {
			return
		}
	}
	t.Fatalf("10 s of spinning (%d) did not show as 20 ms of CPU time", x)
}
