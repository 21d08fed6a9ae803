package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

type machine struct {
	cpu                string
	cores, procs       int
	goVersion, os      string
	loadStart, loadEnd string
	date               time.Time
}

func describeMachine() *machine {
	return &machine{
		cpu:       cpuModel(),
		cores:     runtime.NumCPU(),
		procs:     runtime.GOMAXPROCS(0),
		goVersion: runtime.Version(),
		os:        runtime.GOOS + "/" + runtime.GOARCH,
		loadStart: loadAvg(),
		date:      time.Now().UTC(),
	}
}

func (m *machine) String() string {
	s := fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), %s %s, load average at start %s",
		m.cpu, m.cores, m.procs, m.goVersion, m.os, m.loadStart)
	if m.loadEnd != "" {
		s += ", at end " + m.loadEnd
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
