//go:build unix

package route

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time this process has used, user and system:
// on a machine whose cores are shared, checks per CPU-second measure what
// one core does, where checks per wall-second measure the load too.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
