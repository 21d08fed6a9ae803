//go:build !unix

package main

// privateUmask does nothing where there is no umask; the socket's
// directory must be private instead.
func privateUmask() func() { return func() {} }
