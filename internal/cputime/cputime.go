// Package cputime reads the CPU time this process has used, user and
// system together. Benchmarks report it beside wall time: on a machine
// whose cores are shared, CPU time measures what the code does, where
// wall time measures the load too.
package cputime

import "time"

// Process returns the CPU time this process has used so far, user and
// system, and whether the system said (on Unix, getrusage; elsewhere it
// returns 0 and false).
func Process() (time.Duration, bool) { return process() }

// Since is the CPU time this process has used since Process returned t0
// (0 where the system does not say).
func Since(t0 time.Duration) time.Duration {
	t, _ := process()
	return t - t0
}
