// Command bench measures foxtrot beside the systems a user would otherwise
// pick, on one machine, in one process and one run, and prints a markdown
// table: throughput of one stream, connection setup, memory of idle links,
// and connection setup in simulated networks of 100 and 1,000 nodes.
//
//	cd bench && go run .            # the full run, about two minutes
//	cd bench && go run . -quick     # a smoke run: 2 rounds, small samples
//
// Timed rows run in interleaved rounds: each round runs every row once, in
// an order rotated by one per round, so slow minutes of a shared machine
// spread over all rows instead of landing on one. Medians and ratios come
// from the same run. Memory and scale rows count bytes, goroutines and
// messages; they run once, after the rounds. See README.md for what each
// row means and how go-libp2p is set up.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

type options struct {
	rounds       int
	tputBytes    int64         // at least this many bytes per throughput sample
	tputTime     time.Duration // and at least this long
	setupSamples int           // per setup row per round
	memLinks     int
	scaleSizes   []int
	only         string // run only timed rows whose name contains this
	skipMem      bool
	skipScale    bool
	cpuProfile   string
	// The WAN run (-wan): delay-line rows instead of the loopback run.
	wan     bool
	wanRTTs []time.Duration
	wanRate float64       // bytes per second per link and direction
	wanTime time.Duration // per throughput sample
	// wanUDPQueueBytes bounds each UDP line's queue per direction; 0: one
	// bandwidth-delay product of the row's RTT (see wanUDPQueue).
	wanUDPQueueBytes int
}

func main() {
	var o options
	var quick bool
	var sizes string
	flag.IntVar(&o.rounds, "rounds", 7, "interleaved rounds of the timed rows")
	flag.Int64Var(&o.tputBytes, "tput-bytes", 256<<20, "at least this many bytes per throughput sample")
	flag.DurationVar(&o.tputTime, "tput-time", 2*time.Second, "and at least this long per throughput sample")
	flag.IntVar(&o.setupSamples, "setup-samples", 200, "samples per setup row per round")
	flag.IntVar(&o.memLinks, "mem-links", 1000, "idle links (connections) for the memory rows")
	flag.StringVar(&sizes, "scale", "100,1000", "simulated network sizes, comma-separated (empty: none)")
	flag.StringVar(&o.only, "only", "", "run only the timed rows whose name contains this (alternatives separated by |)")
	flag.BoolVar(&o.skipMem, "skip-mem", false, "skip the memory rows")
	flag.BoolVar(&o.skipScale, "skip-scale", false, "skip the scale rows")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed rounds to this file")
	var rtts string
	flag.IntVar(&foxStreamWindow, "fox-stream-window", 0, "foxtrot nodes' Config.StreamWindow in bytes (0: the default)")
	flag.IntVar(&foxMaxWindow, "fox-max-window", 0, "foxtrot nodes' Config.MaxWindow in bytes (0: the default)")
	flag.BoolVar(&foxFixedWindows, "fox-fixed-windows", false, "foxtrot nodes' Config.FixedStreamWindows: hashicorp/yamux with fixed stream windows")
	flag.StringVar(&foxUDPCC, "fox-udp-cc", "", "foxtrot UDP nodes' Config.UDPCongestion: cubic, reno or bbr (empty: the default)")
	flag.BoolVar(&o.wan, "wan", false, "the WAN run: one stream through a delay line at each -wan-rtt (see README.md), instead of the loopback run")
	flag.StringVar(&rtts, "wan-rtt", "0ms,20ms,50ms,100ms", "round-trip times of the WAN run, comma-separated")
	flag.Float64Var(&o.wanRate, "wan-rate", 40e6, "the WAN run's rate cap per link and direction, bytes per second")
	flag.DurationVar(&o.wanTime, "wan-time", 3*time.Second, "the WAN run's time per throughput sample")
	flag.BoolVar(&quicTrace, "wan-quic-trace", false, "the WAN run's quic-go row logs its congestion window, losses and RTTs every 50 ms to stderr")
	var quicCC string
	flag.StringVar(&quicCC, "wan-quic-cc", "cubic", "the WAN run's quic-go row: congestion control, cubic (transport/quic's default) or reno (upstream quic-go's)")
	flag.IntVar(&o.wanUDPQueueBytes, "wan-udp-queue", 0, "the WAN run's UDP lines: drop-tail queue per direction in bytes (0: one bandwidth-delay product, rate × RTT, at least 128 KiB)")
	flag.BoolVar(&quick, "quick", false, "smoke run: 2 rounds, 32 MiB / 100 ms samples, 10 setup samples, 100 links, 100 nodes")
	flag.Parse()
	if quick {
		o.rounds, o.tputBytes, o.tputTime, o.setupSamples, o.memLinks = 2, 32<<20, 100*time.Millisecond, 10, 100
		sizes = "100"
	}
	for _, f := range strings.Split(sizes, ",") {
		if f = strings.TrimSpace(f); f != "" {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil || n < 10 {
				fatalf("bad -scale size %q", f)
			}
			o.scaleSizes = append(o.scaleSizes, n)
		}
	}
	switch quicCC {
	case "cubic":
	case "reno":
		quicReno = true
	default:
		fatalf("bad -wan-quic-cc %q (cubic or reno)", quicCC)
	}
	for _, f := range strings.Split(rtts, ",") {
		if f = strings.TrimSpace(f); f != "" {
			d, err := time.ParseDuration(f)
			if err != nil || d < 0 {
				fatalf("bad -wan-rtt %q", f)
			}
			o.wanRTTs = append(o.wanRTTs, d)
		}
	}
	if o.wan {
		if quick {
			o.rounds, o.wanTime = 1, time.Second
		}
		if err := runWAN(o); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

// progress reports to stderr, so stdout is the table alone.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(o options) error {
	start := time.Now()
	m := describeMachine()
	progress("machine: %s", m)

	res := newResults()
	rows, closeFixtures, err := timedRows(o)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			closeFixtures()
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			closeFixtures()
			return err
		}
		defer f.Close()
	}
	for r := 0; r < o.rounds; r++ {
		progress("round %d of %d", r+1, o.rounds)
		for i := range rows {
			row := rows[(i+r)%len(rows)]
			runtime.GC()
			if err := row.run(r, res); err != nil {
				pprof.StopCPUProfile()
				closeFixtures()
				return fmt.Errorf("%s: %w", row.name, err)
			}
		}
	}
	pprof.StopCPUProfile()
	closeFixtures()

	var mem []memResult
	if !o.skipMem {
		mem, err = memoryRows(o.memLinks)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	var scale []scaleResult
	if !o.skipScale {
		for _, n := range o.scaleSizes {
			progress("scale: %d nodes", n)
			s, err := scaleRun(n)
			if err != nil {
				return fmt.Errorf("scale %d: %w", n, err)
			}
			scale = append(scale, s)
		}
	}
	m.loadEnd = loadAvg()
	report(os.Stdout, o, m, res, mem, scale, time.Since(start))
	return nil
}
