package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

func gbps(bps float64) string { return fmt.Sprintf("%.2f GB/s", bps/1e9) }

func dur(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case math.IsNaN(sec):
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// cpuCell is the median per-round CPU time per unit, scaled.
func cpuCell(s *series, scale float64, unit string) string {
	if len(s.cpu) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f %s", median(s.cpu)*scale, unit)
}

func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// perRoundRatio is a/b computed within each round: the figures of one
// round ran minutes apart at most, so machine drift cancels best there.
func perRoundRatio(a, b *series) []float64 {
	var out []float64
	for r := 0; r < len(a.rounds) && r < len(b.rounds); r++ {
		if len(a.rounds[r]) > 0 && len(b.rounds[r]) > 0 {
			out = append(out, median(a.rounds[r])/median(b.rounds[r]))
		}
	}
	return out
}

func report(w io.Writer, o options, m *machine, res *results, mem []memResult, scale []scaleResult, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("## foxtrot beside go-libp2p, one run (%s)", m.date.Format("2006-01-02 15:04 UTC"))
	p("")
	p("Machine: %s.  ", m)
	p("Code: %s; go-libp2p v0.51.0.  ", m.source)
	p("Run: %d interleaved rounds (each runs every timed row once, order rotated per round); throughput samples of at least %d MiB and %v; %d setup samples per row per round; the whole run took %v.",
		o.rounds, o.tputBytes>>20, o.tputTime, o.setupSamples, took.Round(time.Second))
	p("")

	// Throughput.
	base := res.get(tpLibp2p)
	var tp []*series
	for _, name := range res.order {
		if s := res.get(name); s.kind == throughput {
			tp = append(tp, s)
		}
	}
	if len(tp) > 0 {
		var spreads []float64
		p("### Throughput of one stream (64 KiB writes; 1 GB = 10^9 bytes)")
		p("")
		p("| stream | median | per-round min – max | spread | ÷ go-libp2p direct | CPU per GB (all ends and relays) |")
		p("|---|--:|--:|--:|--:|--:|")
		for _, s := range tp {
			pr := s.perRound()
			ratio := "–"
			if base != nil {
				ratio = fmt.Sprintf("%.2f", median(pr)/median(base.perRound()))
			}
			p("| %s | %s | %s – %s | %.0f%% | %s | %s |", s.name, gbps(median(pr)), gbps(slices.Min(pr)), gbps(slices.Max(pr)), 100*spread(pr), ratio, cpuCell(s, 1e9, "s"))
			spreads = append(spreads, spread(pr))
		}
		p("")
		p("Noise: the spread, (max − min) ÷ median of the per-round figures, was %.0f%% – %.0f%% across these rows (median %.0f%%).",
			100*slices.Min(spreads), 100*slices.Max(spreads), 100*median(spreads))
		p("")
	}

	// Setup.
	var su []*series
	for _, name := range res.order {
		if s := res.get(name); s.kind == latency {
			su = append(su, s)
		}
	}
	if len(su) > 0 {
		p("### Connection setup (all samples of all rounds)")
		p("")
		p("| setup | p50 | p99 | per-round p50 min – max | samples | CPU per sample (both ends, teardown included) |")
		p("|---|--:|--:|--:|--:|--:|")
		for _, s := range su {
			all, pr := s.all(), s.perRound()
			cpu := "–"
			if len(s.cpu) > 0 {
				cpu = dur(median(s.cpu))
			}
			p("| %s | %s | %s | %s – %s | %d | %s |", s.name, dur(quantile(all, 0.5)), dur(quantile(all, 0.99)),
				dur(slices.Min(pr)), dur(slices.Max(pr)), len(all), cpu)
		}
		p("")
	}

	// Memory.
	if len(mem) > 0 {
		p("### Idle links: %d links over loopback TCP, figures per link end (a link has two ends; double for a link)", mem[0].links)
		p("")
		p("| link | heap | heap in use | stack | heap + stack | goroutines | setup time per link (4 at a time) |")
		p("|---|--:|--:|--:|--:|--:|--:|")
		for _, r := range mem {
			note := ""
			if !r.settled {
				note = " (goroutines still moving at the snapshot)"
			}
			p("| %s%s | %s | %s | %s | %s | %.2f | %s |", r.name, note, kib(r.heap), kib(r.heapInuse), kib(r.stack),
				kib(r.heap+r.stack), r.goroutines, dur(r.setupPerLink.Seconds()))
		}
		p("")
	}

	// Scale.
	if len(scale) > 0 {
		p("### Scale: simulated networks in this process (mem transport, random graph of average degree 4, hop limit 12)")
		p("")
		p("| nodes | links | hops to target | first contact: messages | first: time | repeat: messages (median of 5) | repeat: time (median) | repeat ÷ first | farthest node's first contact: messages | its time |")
		p("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, s := range scale {
			p("| %d | %d | %d | %d | %s | %d | %s | %.1f%% | %d | %s |", s.nodes, s.links, s.hops, s.firstMsgs, dur(s.firstTime.Seconds()),
				s.repeatMsgs, dur(s.repeatTime.Seconds()), 100*float64(s.repeatMsgs)/float64(s.firstMsgs), s.otherMsgs, dur(s.otherTime.Seconds()))
		}
		p("")
	}

	targets(p, res, mem, scale)
}

func status(met bool) string {
	if met {
		return "**met**"
	}
	return "**not met**"
}

func targets(p func(string, ...any), res *results, mem []memResult, scale []scaleResult) {
	p("### The issue's targets, from this run")
	p("")
	p("| target | measured | status |")
	p("|---|---|---|")
	// tpTarget compares rows a and b against goal, and stretch unless 0.
	tpTarget := func(what string, a, b string, goal, stretch float64) {
		sa, sb := res.get(a), res.get(b)
		if sa == nil || sb == nil {
			return
		}
		r := median(sa.perRound()) / median(sb.perRound())
		pr := perRoundRatio(sa, sb)
		// Met only if both readings of the run agree: the ratio of the
		// medians and the median of the per-round ratios.
		verdict := func(goal float64) string {
			switch a, b := r >= goal, median(pr) >= goal; {
			case a && b:
				return "**met**"
			case !a && !b:
				return "**not met**"
			}
			return "**a tie within the noise**"
		}
		st := verdict(goal)
		if stretch > 0 {
			st += fmt.Sprintf("; stretch (%.1f×): ", stretch) + strings.Trim(verdict(stretch), "*")
		}
		p("| %s | %.2f× (ratio of medians; per round %.2f – %.2f, median %.2f) | %s |", what, r, slices.Min(pr), slices.Max(pr), median(pr), st)
	}
	tpTarget("foxtrot direct ≥ 1.3× go-libp2p one stream (issue 11; stretch 1.5×)", tpFox0, tpLibp2p, 1.3, 1.5)
	tpTarget("foxtrot through 3 relays ≥ 1.3× go-libp2p through 1 relay (issue 11; stretch 2×)", tpFox3, tpLibp2pRly, 1.3, 2)
	tpTarget("foxtrot direct over a UDP link ≥ 0.8 of foxtrot direct over a TCP link (issue 14)", tpFoxUDP, tpFox0, 0.8, 0)
	tpTarget("(beside issue 14: the ceiling) quic-go alone at 1280-byte packets ≥ 0.8 of foxtrot direct over a TCP link", tpQUIC, tpFox0, 0.8, 0)
	tpTarget("(beside issue 14) foxtrot direct over a UDP link ≥ 0.8 of quic-go alone", tpFoxUDP, tpQUIC, 0.8, 0)

	p50 := func(name string) float64 {
		if s := res.get(name); s != nil {
			return quantile(s.all(), 0.5)
		}
		return math.NaN()
	}
	if d, st := p50(suFox2), p50(suLibp2pStream); !math.IsNaN(d) && !math.IsNaN(st) {
		p("| Dial through 2 relays, p50 < go-libp2p new stream p50 + 1 ms | %s vs %s + 1 ms = %s | %s |", dur(d), dur(st), dur(st+1e-3), status(d < st+1e-3))
	}
	if d, rp := p50(suFox2), p50(suFox2Ticket); !math.IsNaN(d) && !math.IsNaN(rp) {
		p("| Repeat Dial through 2 relays (ticket), p50 ≤ 1/3 of a first Dial's | %s vs %s (%.2f×) | %s |", dur(rp), dur(d), rp/d, status(rp <= d/3))
	}
	if d, rl := p50(suFox2), p50(suLibp2pRelay); !math.IsNaN(d) && !math.IsNaN(rl) {
		p("| Dial through 2 relays, p50 < go-libp2p relayed connection p50 | %s vs %s (%.2f×) | %s |", dur(d), dur(rl), d/rl, status(d < rl))
	}
	var lp *memResult
	for i := range mem {
		if strings.HasPrefix(mem[i].name, "go-libp2p") {
			lp = &mem[i]
		}
	}
	for _, r := range mem {
		if lp == nil || strings.HasPrefix(r.name, "go-libp2p") {
			continue
		}
		fs, ls := r.heap+r.stack, lp.heap+lp.stack
		p("| Idle link: less heap + stack, no more goroutines than go-libp2p's connection — %s | %s vs %s (%.2f×); %.2f vs %.2f goroutines per end | %s |",
			r.name, kib(fs), kib(ls), fs/ls, r.goroutines, lp.goroutines, status(fs < ls && r.goroutines <= lp.goroutines+0.005))
	}
	for _, s := range scale {
		if s.nodes != 1000 {
			continue
		}
		f := float64(s.repeatMsgs) / float64(s.firstMsgs)
		p("| Repeat connect in a 1,000-node network < 5%% of first contact's control messages | %d of %d = %.1f%% | %s |", s.repeatMsgs, s.firstMsgs, 100*f, status(f < 0.05))
	}
	p("")
}
