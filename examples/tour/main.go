// Command tour is a self-contained demo of foxtrot: it starts a small
// network of nodes on loopback TCP, listens on a fresh key, dials that key
// by its address through relays, and prints what happened.
//
//	go run ./examples/tour
//	go run ./examples/tour -mib 256
//	go run ./examples/tour -key bob.key   # bob's address survives restarts
//
// The network is two disjoint two-relay paths between alice and bob:
//
//	        r1 ── r2
//	       /        \
//	alice            bob
//	       \        /
//	        r3 ── r4
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.IntVar(&o.mib, "mib", 64, "MiB to send for the throughput test")
	flag.IntVar(&o.pings, "pings", 200, "round trips for the latency test")
	flag.StringVar(&o.keyFile, "key", "", "bob's key `FILE` (WIF, created if missing): the same address every run")
	flag.Parse()
	if err := run(os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}
