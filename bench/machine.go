package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
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
	source             string // the library's commit, and whether its tree had changes
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
		source:    librarySource(),
	}
}

// librarySource names the foxtrot commit this binary was built from, as
// git sees the parent directory (the bench module replaces the library
// with ../), with the files changed since it, if any.
func librarySource() string {
	out, err := exec.Command("git", "-C", "..", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := "foxtrot at " + strings.TrimSpace(string(out))
	// Only what goes into this binary: not the examples, not tests.
	st, err := exec.Command("git", "-C", "..", "status", "--porcelain", "--untracked-files=no",
		"--", ".", ":!bench", ":!examples", ":!*_test.go").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		var files []string
		for _, l := range strings.Split(strings.TrimRight(string(st), "\n"), "\n") {
			if len(l) > 3 {
				files = append(files, l[3:])
			}
		}
		s += " plus uncommitted changes to " + strings.Join(files, ", ")
	}
	return s
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
