package channel_test

import (
	"testing"

	"github.com/foxtrotnet/foxtrot/channel"
)

// BenchmarkStateUpdate measures one off-chain state update: the proposer
// builds and signs, the other side rebuilds, verifies, runs the script
// engine and countersigns, the proposer verifies and runs the engine.
func BenchmarkStateUpdate(b *testing.B) {
	w := newWorld(b)
	cfg := w.cfg()
	cfg.Lifetime, cfg.LockStep = 8000, 1
	open := func() (*channel.Channel, *channel.Channel) {
		return w.open(cfg, w.cfg(), w.contribution("a", 50_000_000), w.contribution("b", 50_000_000))
	}
	x, y := open()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if x.StatesLeft() == 0 {
			b.StopTimer()
			x, y = open()
			b.StartTimer()
		}
		p, q := x, y
		if i%2 == 1 {
			p, q = y, x
		}
		_, msg, err := p.Propose(channel.Pay{Amount: 1000})
		if err != nil {
			b.Fatal(err)
		}
		res, err := q.Receive(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Receive(res.Reply); err != nil {
			b.Fatal(err)
		}
	}
}
