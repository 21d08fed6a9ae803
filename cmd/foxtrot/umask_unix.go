//go:build unix

package main

import "syscall"

// privateUmask makes files created from now on private to their owner
// and returns a function that restores the previous umask.
func privateUmask() func() {
	old := syscall.Umask(0o177)
	return func() { syscall.Umask(old) }
}
