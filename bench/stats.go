package main

import (
	"math"
	"slices"
)

type kind int

const (
	throughput kind = iota // samples in bytes per second
	latency                // samples in seconds
)

// series is one table row's samples, kept per round.
type series struct {
	name   string
	kind   kind
	rounds [][]float64
	// cpu is the process CPU time per unit (per byte for throughput, per
	// sample for setup), one figure per round.
	cpu []float64
}

func (s *series) all() []float64 {
	var out []float64
	for _, r := range s.rounds {
		out = append(out, r...)
	}
	slices.Sort(out)
	return out
}

// perRound returns each round's median.
func (s *series) perRound() []float64 {
	var out []float64
	for _, r := range s.rounds {
		if len(r) > 0 {
			out = append(out, median(r))
		}
	}
	return out
}

// results holds every series in the order rows first reported.
type results struct {
	m     map[string]*series
	order []string
}

func newResults() *results { return &results{m: map[string]*series{}} }

func (r *results) add(name string, k kind, round int, v float64) {
	s := r.m[name]
	if s == nil {
		s = &series{name: name, kind: k}
		r.m[name] = s
		r.order = append(r.order, name)
	}
	for len(s.rounds) <= round {
		s.rounds = append(s.rounds, nil)
	}
	s.rounds[round] = append(s.rounds[round], v)
}

func (r *results) addCPU(name string, v float64) {
	if s := r.m[name]; s != nil {
		s.cpu = append(s.cpu, v)
	}
}

func (r *results) get(name string) *series { return r.m[name] }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile is the nearest-rank quantile of sorted xs: the smallest
// sample with at least q of the samples at or below it.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// spread is (max-min)/median of per-round figures: how much the machine
// moved under this row during the run.
func spread(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	return (slices.Max(xs) - slices.Min(xs)) / median(xs)
}
