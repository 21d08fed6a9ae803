package route

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// holder is a node that takes every stream and never reads it.
type holder struct {
	*Router
	done chan struct{}
}

func (h holder) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) {
	<-h.done
	s.Close()
}

func TestCircuitsNobodyReadsStayWithinTheRelaysBudget(t *testing.T) {
	// 0 and 3 are one attacker on both sides of the victim relay 1: 0
	// asks for 1,000 circuits through 1 to a key on 3, writes into each
	// and 3 never reads. 2 meanwhile dials through 1 to 4.
	const perPeer = 16 << 20
	sn := simnet.New(5, simnet.Custom([][2]int{{0, 1}, {1, 3}, {2, 1}, {1, 4}}), simnet.Options{})
	done := make(chan struct{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		c.RequestRate, c.RequestBurst = 1e6, 1e6
		switch i {
		case 1:
			c.CircuitMemoryPerPeer = perPeer
		case 3:
			c.AcceptBacklog = 2000 // the attacker's target answers every request
		}
	}, func(i int, r *Router) peer.Handler {
		if i == 3 {
			return holder{r, done}
		}
		return nil
	})
	victim, attacker := nodes[1].r, nodes[0].r
	cost := victim.cfg.CircuitCost()
	fits := int(perPeer / cost)
	sink, err := nodes[3].r.Listen(newTestKey(t))
	require.NoError(t, err)
	far := echo(t, nodes[4])

	before := time.Now()
	s, err := dial(t, nodes[2], far.Addr(), 5*time.Second)
	require.NoError(t, err)
	calm := time.Since(before)
	roundTrip(t, s, "before")
	s.Close()

	heap0, g0 := heapInUse(), runtime.NumGoroutine()
	acks0 := victim.Stats().AcksRelayed
	dialCtx, stopDials := context.WithCancel(context.Background())
	defer stopDials()
	var (
		mu      sync.Mutex
		streams []*peer.Stream
		writers sync.WaitGroup
		writing atomic.Int64 // attacker writers whose stream was not reset
		dials   sync.WaitGroup
	)
	t.Cleanup(func() {
		close(done)
		mu.Lock()
		for _, s := range streams {
			s.Close()
		}
		mu.Unlock()
		writers.Wait()
	})
	chunk := make([]byte, 64<<10)
	flooded := time.Now()
	for i := 0; i < 1000; i++ {
		dials.Add(1)
		go func() {
			defer dials.Done()
			ctx := dialCtx
			d := attacker.newDial(wire.TargetAddr, sink.Addr())
			ev, err := attacker.awaitAck(ctx, d)
			attacker.forgetDial(d)
			if err != nil {
				return
			}
			st, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: ev.id, Path: ev.ack.Path})
			if err != nil {
				return
			}
			mu.Lock()
			streams = append(streams, st)
			mu.Unlock()
			writers.Add(1)
			writing.Add(1)
			go func() {
				defer writers.Done()
				defer writing.Add(-1)
				for {
					if _, err := st.Write(chunk); err != nil {
						return
					}
				}
			}()
		}()
	}
	// Every request reached the target and every ack it sent was relayed
	// or refused by the victim; the dials still waiting will get nothing.
	victimTo3 := func() int64 {
		for _, o := range victim.Observations() {
			if o.Peer == addr.NodeIDFromPubKey(sn.Keys[3].PubKey()) {
				return o.RequestsSent
			}
		}
		return -1
	}
	var last atomic.Value // the condition's last look (Eventually runs it on a goroutine of its own)
	defer func() {
		if t.Failed() {
			t.Log(last.Load())
		}
	}()
	require.Eventually(t, func() bool {
		vs, ts := victim.Stats(), nodes[3].r.Stats()
		last.Store(fmt.Sprintf("to3 %d\nvictim %+v\ntarget %+v", victimTo3(), vs, ts))
		return vs.RequestsSeen >= 1000 && victimTo3() == ts.RequestsSeen+ts.RequestsInvalid+ts.RequestsThrottled+ts.RequestsOverShare &&
			ts.AcksSent <= vs.AcksRelayed-acks0+vs.CircuitsRefused
	}, 240*time.Second, 10*time.Millisecond)
	t.Logf("all answered after %v", time.Since(flooded))
	stopDials()
	dials.Wait()
	mu.Lock()
	held := len(streams)
	mu.Unlock()
	// The attacker got acks and opened streams; the victim carries no
	// more of them than its per-peer memory budget (2's circuit, which
	// may not have ended yet, aside) and refused the rest.
	active := victim.Stats().CircuitsActive
	require.LessOrEqual(t, active, int64(fits+1), "no more active circuits than the per-peer budget")
	require.GreaterOrEqual(t, active, int64(fits-1))
	require.Positive(t, victim.Stats().CircuitsRefused)
	// The held circuits fill up: 3's window (at least yamux's initial
	// 256 KiB, as 3 never reads), then the victim's.
	require.Eventually(t, func() bool {
		return victim.Stats().BytesRelayed >= (active-1)*256<<10
	}, 20*time.Second, 10*time.Millisecond)

	before = time.Now()
	s, err = dial(t, nodes[2], far.Addr(), 5*time.Second)
	require.NoError(t, err, "a dial through the victim")
	t.Logf("dial through the victim holding %d unread circuits: %v (before: %v)", active, time.Since(before), calm)
	roundTrip(t, s, "during")
	s.Close()

	// A stream the victim refused after relaying its ack (its memory
	// budget filled meanwhile) is closed, and reset once the attacker
	// writes on past the muxer's close timeout (5 s): until then it pins
	// at most yamux's initial window. Measure once those are gone.
	require.Eventually(t, func() bool { return writing.Load() <= active+1 }, 60*time.Second, 10*time.Millisecond,
		"the attacker's refused streams are reset")
	heap1, g1 := heapInUse(), runtime.NumGoroutine()
	st := victim.Stats()
	t.Logf("%d streams opened by the attacker, %d circuits active, %d refused, %d bytes reserved at the victim; process heap %+d MiB, goroutines %+d",
		held, active, st.CircuitsRefused, victim.relay.Stats().Reserved, (int64(heap1)-int64(heap0))>>20, g1-g0)
	require.LessOrEqual(t, victim.relay.Stats().Reserved, perPeer+cost, "the attacker's share, and 2's circuit if it has not ended yet")
	// The process holds the victim's budget and the attacker's own
	// buffers (3's window for each circuit): without the budget it
	// would be about 2 GiB.
	require.Less(t, int64(heap1)-int64(heap0), int64(2*perPeer+32<<20))
	require.Less(t, g1-g0, 8*fits+64, "a few goroutines per circuit, on both sides")
}
