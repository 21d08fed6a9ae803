package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// wanRun drives a dialler sending to a target over a path with a one-way
// delay, on the fake clock, for the given time. The dialler writes
// whenever its queue has room; the target reads everything at once when
// read is set. It returns the bytes that arrived at the target.
func wanRun(t *testing.T, p *pair, oneWay, dur time.Duration, read bool) uint64 {
	t.Helper()
	type flight struct {
		at time.Time
		b  batch
		to *machine
	}
	var air []flight
	junk := make([]byte, 1<<20)
	buf := make([]byte, 1<<20)
	start := p.clk.now
	for p.clk.now.Sub(start) < dur {
		now := p.clk.advance(time.Millisecond)
		for p.d.write(junk) > 0 {
		}
		for _, m := range []*machine{p.d, p.g} {
			require.NoError(t, m.tick(now))
			to := p.g
			if m == p.g {
				to = p.d
			}
			for {
				b := m.next(now, 4*maxRecordData)
				if b.empty() {
					break
				}
				// Copy the data out of the send queue, as the path does.
				var own [][]byte
				for _, c := range b.data {
					own = append(own, append([]byte(nil), c...))
				}
				b.data = own
				air = append(air, flight{now.Add(oneWay), b, to})
			}
		}
		for len(air) > 0 && !air[0].at.After(now) {
			require.NoError(t, deliver(now, air[0].to, air[0].b))
			air = air[1:]
		}
		if read {
			for n, _ := p.g.read(buf); n > 0; n, _ = p.g.read(buf) {
			}
		}
	}
	return p.g.off
}

var wanLimits = limits{
	SendBuffer: 2 << 20, RecvBuffer: 2 << 20, MaxWindow: 16 << 20,
	Heartbeat: time.Second, StallTimeout: 4 * time.Second, FailoverTimeout: 20 * time.Second, Linger: 10 * time.Second,
}

func TestWindowsGrowToTheBandwidthDelayProduct(t *testing.T) {
	lim := wanLimits
	lim.Budget = NewBudget(256 << 20)
	p := newPair(t, lim)
	// 100 ms round trip, no rate cap: the window alone bounds the flight.
	got := wanRun(t, p, 50*time.Millisecond, 2*time.Second, true)
	require.Equal(t, 16<<20, p.g.rwnd, "the receive window grew to MaxWindow")
	require.Greater(t, p.d.txCredit, int64(0), "the send queue grew with the window")
	// At 2 MiB a round trip 2 s carry at most 40 MiB; grown, far more.
	require.Greater(t, got, uint64(100<<20), "more than the base window carries")
	require.Equal(t, lim.Budget.Used(), p.g.rxCredit+p.d.txCredit+p.d.rxCredit+p.g.txCredit)

	p.d.end(nil)
	p.g.end(nil)
	require.Zero(t, lim.Budget.Used(), "an ended session gives its credit back")
}

func TestASlowReaderKeepsItsBaseWindow(t *testing.T) {
	lim := wanLimits
	lim.Budget = NewBudget(256 << 20)
	p := newPair(t, lim)
	got := wanRun(t, p, 50*time.Millisecond, 2*time.Second, false)
	require.Equal(t, 2<<20, p.g.rwnd, "no growth while nothing is read")
	require.Equal(t, uint64(2<<20), got, "the sender stopped at the window")
	require.Equal(t, 2<<20, p.g.rqBytes)
	require.Zero(t, lim.Budget.Used(), "no credit taken")
	require.LessOrEqual(t, p.d.q.size, 2<<20, "the send queue stayed at SendBuffer")
	// Reading then lets the window grow.
	wanRun(t, p, 50*time.Millisecond, 2*time.Second, true)
	require.Greater(t, p.g.rwnd, 2<<20)
}

func TestTheBudgetBoundsGrowth(t *testing.T) {
	lim := wanLimits
	lim.Budget = NewBudget(3 << 20)
	a, b := newPair(t, lim), newPair(t, lim)
	wanRun(t, a, 50*time.Millisecond, 2*time.Second, true)
	wanRun(t, b, 50*time.Millisecond, 2*time.Second, true)
	require.LessOrEqual(t, lim.Budget.Used(), int64(3<<20))
	grown := a.g.rwnd + b.g.rwnd - 2*lim.RecvBuffer
	require.LessOrEqual(t, grown, 3<<20, "windows grew by no more than the budget")
	require.Positive(t, grown)
	require.Equal(t, 3<<20, int(lim.Budget.Used()), "the whole budget is in use")

	// Without a budget nothing grows.
	lim.Budget = nil
	c := newPair(t, lim)
	wanRun(t, c, 50*time.Millisecond, time.Second, true)
	require.Equal(t, 2<<20, c.g.rwnd)
}

func TestBudgetTakeAndGive(t *testing.T) {
	b := NewBudget(100)
	require.EqualValues(t, 60, b.take(60))
	require.EqualValues(t, 40, b.take(60), "what is left")
	require.Zero(t, b.take(1))
	b.give(30)
	require.EqualValues(t, 70, b.Used())
	require.EqualValues(t, 100, b.Limit())
	var nilB *Budget
	require.Zero(t, nilB.take(10))
	nilB.give(10)
	require.Zero(t, nilB.Used())
}
