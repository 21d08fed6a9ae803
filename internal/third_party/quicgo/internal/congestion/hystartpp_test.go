package congestion

// foxtrot patch: tests of HyStart++'s Conservative Slow Start (not
// upstream's; FORK.md).

import (
	"testing"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/internal/protocol"
)

// rounds drives s through n rounds of 10 packets each, every ack seeing
// rtt (the connection's minimum being minRTT, the window cwnd packets),
// and reports whether any ack said to leave slow start.
type hystartDriver struct {
	s  HybridSlowStart
	pn protocol.PacketNumber
}

func (d *hystartDriver) rounds(n int, rtt, minRTT time.Duration, cwnd protocol.ByteCount) (exit bool) {
	for range n {
		first := d.pn
		for range 10 {
			d.s.OnPacketSent(d.pn)
			d.pn++
		}
		for pn := first; pn < d.pn; pn++ {
			if d.s.ShouldExitSlowStart(rtt, minRTT, cwnd) {
				exit = true
			}
			d.s.OnPacketAcked(pn)
		}
	}
	return exit
}

func TestHyStartPlusPlusConservativeSlowStart(t *testing.T) {
	const minRTT = 100 * time.Millisecond
	up := minRTT + 20*time.Millisecond // above the 12.5 ms threshold

	var d hystartDriver
	if d.rounds(10, minRTT, minRTT, 100) || d.s.InCSS() {
		t.Fatal("a steady RTT keeps plain slow start")
	}
	if d.rounds(1, up, minRTT, 8) || d.s.InCSS() {
		t.Fatal("below 16 packets a delay increase changes nothing")
	}

	if d.rounds(1, up, minRTT, 100) {
		t.Fatal("a delay increase does not end slow start at once")
	}
	if !d.s.InCSS() {
		t.Fatal("a delay increase starts CSS")
	}
	if d.rounds(1, minRTT+5*time.Millisecond, minRTT, 100) || d.s.InCSS() {
		t.Fatal("a CSS round whose minimum RTT is back below CSS's baseline returns to slow start")
	}

	if d.rounds(1, up, minRTT, 100) || !d.s.InCSS() {
		t.Fatal("CSS again")
	}
	if d.rounds(cssRounds-1, up, minRTT, 100) {
		t.Fatal("CSS runs its rounds before slow start ends")
	}
	if !d.rounds(1, up, minRTT, 100) {
		t.Fatalf("after %d rounds of CSS slow start ends", cssRounds)
	}
	if d.s.InCSS() {
		t.Fatal("CSS is over once slow start ends")
	}
	d.s.Restart()
	if d.rounds(2, minRTT, minRTT, 100) || d.s.InCSS() {
		t.Fatal("after a restart, plain slow start again")
	}
}
