package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// processUDPDrops is how many datagrams the kernel dropped at this
// process's UDP sockets (full receive buffers: the "drops" column of
// /proc/net/udp and /proc/net/udp6, for the sockets whose inodes
// /proc/self/fd holds), or -1 where that cannot be read. These are losses
// the lines do not count: a reader that was not scheduled in time on a
// busy machine.
func processUDPDrops() int64 {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	mine := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var total int64
	for _, table := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(table)
		if err != nil {
			return -1
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 13 || !mine[fields[9]] {
				continue
			}
			if n, err := strconv.ParseInt(fields[len(fields)-1], 10, 64); err == nil {
				total += n
			}
		}
		f.Close()
	}
	return total
}
