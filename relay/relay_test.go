package relay_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/pipe"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/relay"
)

// pipeLink is a neighbour whose streams are in-memory pipes: the far end
// of each stream opened to it arrives on opened, with its header.
type pipeLink struct {
	id     addr.NodeID
	opened chan opened
	err    error // OpenStream fails with it if set
}

type opened struct {
	s   *pipe.Conn
	hdr wire.StreamHeader
}

func newLink(b byte) *pipeLink {
	return &pipeLink{id: addr.NodeID{b}, opened: make(chan opened, 4)}
}

func (l *pipeLink) ID() addr.NodeID { return l.id }

func (l *pipeLink) OpenStream(_ context.Context, h wire.StreamHeader) (relay.Stream, error) {
	if l.err != nil {
		return nil, l.err
	}
	near, far := pipe.New(pipe.Options{})
	l.opened <- opened{far, h}
	return near, nil
}

// countMeter counts bytes and Close calls, and hands over the circuit's
// stop function once the circuit is active.
type countMeter struct {
	n      atomic.Int64
	closes atomic.Int64
}

func (m *countMeter) Add(n int64) { m.n.Add(n) }
func (m *countMeter) Close()      { m.closes.Add(1) }

// harness is a table relaying from up to down, recording what it was told.
type harness struct {
	t        *relay.Table
	up, down *pipeLink
	key      relay.Key
	hdr      wire.StreamHeader
	meter    countMeter
	stops    chan func() // each active circuit's stop
	done     chan bool   // each circuit's outcome
}

func newHarness(t *testing.T, refuse func(relay.Link) bool) *harness {
	h := &harness{up: newLink(1), down: newLink(2), stops: make(chan func(), 1), done: make(chan bool, 1)}
	h.key = relay.Key{ID: addr.ConnID{7, 7}, Path: 3}
	h.hdr = wire.StreamHeader{Kind: wire.StreamCircuit, ID: h.key.ID, Path: h.key.Path}
	h.t = relay.New(relay.Config{
		Refuse: refuse,
		Meter: func(c relay.Circuit, stop func()) relay.Meter {
			if c.Up != relay.Link(h.up) || c.Down != relay.Link(h.down) || c.UpRate != 2 || c.DownRate != 1 {
				t.Errorf("metering circuit %+v, not the one added", c)
			}
			h.stops <- stop
			return &h.meter
		},
		Done: func(c relay.Circuit, ok bool) {
			if c.Target != [20]byte{9} {
				t.Errorf("outcome of circuit %+v, not the one added", c)
			}
			h.done <- ok
		},
	})
	t.Cleanup(func() { h.t.Close() })
	require.NoError(t, h.t.Add(h.key, relay.Circuit{Up: h.up, Down: h.down, Target: [20]byte{9},
		Expires: time.Unix(1000, 0), UpRate: 2, DownRate: 1}))
	return h
}

// start hands the table the upstream end of a new stream from up, as the
// peer layer would, and returns the dialler's end and Handle's answer.
func (h *harness) start(from relay.Link) (*pipe.Conn, <-chan bool) {
	client, upEnd := pipe.New(pipe.Options{})
	handled := make(chan bool, 1)
	go func() { handled <- h.t.Handle(from, upEnd, h.hdr) }()
	return client, handled
}

func random(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, uint64(n)))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSpliceCarriesBytesBothWaysAndHalfClosesOnEOF(t *testing.T) {
	h := newHarness(t, nil)
	client, handled := h.start(h.up)
	far := <-h.down.opened
	require.Equal(t, h.hdr, far.hdr, "the downstream stream carries the circuit's header")

	_, err := client.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, client.CloseWrite())
	got, err := io.ReadAll(far.s)
	require.NoError(t, err, "the dialler's half-close reaches the far end as EOF")
	require.Equal(t, "hello", string(got))

	// The other direction still works after the half-close.
	_, err = far.s.Write([]byte("and back"))
	require.NoError(t, err)
	require.NoError(t, far.s.CloseWrite())
	got, err = io.ReadAll(client)
	require.NoError(t, err)
	require.Equal(t, "and back", string(got))

	require.True(t, <-handled)
	require.True(t, <-h.done, "both directions ended with EOF")
	st := h.t.Stats()
	require.Equal(t, relay.Stats{Relayed: 1, Bytes: int64(len("hello") + len("and back"))}, st)
	require.False(t, h.t.Has(h.key), "an ended circuit is forgotten")
}

func TestTheMeterSeesExactlyTheBytesRelayed(t *testing.T) {
	h := newHarness(t, nil)
	client, handled := h.start(h.up)
	far := <-h.down.opened
	upData, downData := random(3<<20+17), random(1<<20+5)

	var wg sync.WaitGroup
	var gotDown, gotUp []byte
	var errDown, errUp error
	wg.Add(2)
	go func() {
		defer wg.Done()
		gotDown, errDown = io.ReadAll(far.s)
	}()
	go func() {
		defer wg.Done()
		gotUp, errUp = io.ReadAll(client)
	}()
	writeAll := func(c *pipe.Conn, b []byte) {
		_, err := c.Write(b)
		require.NoError(t, err)
		require.NoError(t, c.CloseWrite())
	}
	go writeAll(far.s, downData)
	writeAll(client, upData)
	wg.Wait()
	require.NoError(t, errDown)
	require.NoError(t, errUp)
	require.True(t, bytes.Equal(upData, gotDown))
	require.True(t, bytes.Equal(downData, gotUp))
	require.True(t, <-handled)
	require.True(t, <-h.done)

	total := int64(len(upData) + len(downData))
	require.Equal(t, total, h.meter.n.Load())
	require.Equal(t, int64(1), h.meter.closes.Load(), "the meter is closed once when the circuit ends")
	require.Equal(t, total, h.t.Stats().Bytes)
}

func TestAStoppedCircuitClosesBothStreams(t *testing.T) {
	for _, how := range []string{"meter's stop", "Table.Stop"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t, nil)
			client, handled := h.start(h.up)
			far := <-h.down.opened
			stop := <-h.stops // the circuit is active
			require.Equal(t, int64(1), h.t.Stats().Active)
			if how == "Table.Stop" {
				require.True(t, h.t.Stop(h.key))
			} else {
				stop()
			}
			require.True(t, <-handled)
			require.False(t, <-h.done, "a stopped circuit did not end well")
			// Both ends see their stream gone: reads end, writes fail.
			_, err := io.ReadAll(client)
			require.NoError(t, err)
			_, err = io.ReadAll(far.s)
			require.NoError(t, err)
			_, err = client.Write([]byte("x"))
			require.Error(t, err)
			_, err = far.s.Write([]byte("x"))
			require.Error(t, err)
			require.Equal(t, int64(0), h.t.Stats().Active)
			require.False(t, h.t.Stop(h.key), "nothing left to stop")
		})
	}
}

func TestAnUnusedCircuitExpires(t *testing.T) {
	h := newHarness(t, nil)
	h.t.Expire(time.Unix(999, 0))
	require.True(t, h.t.Has(h.key), "not yet expired")
	h.t.Expire(time.Unix(1001, 0))
	require.False(t, h.t.Has(h.key))
	require.Equal(t, int64(0), h.t.Stats().Circuits)

	client, handled := h.start(h.up)
	require.False(t, <-handled, "its stream is no longer taken")
	_, err := client.Write([]byte("x"))
	require.NoError(t, err, "a stream not taken is left open for the caller")
}

func TestAnActiveCircuitDoesNotExpire(t *testing.T) {
	h := newHarness(t, nil)
	client, handled := h.start(h.up)
	far := <-h.down.opened
	<-h.stops
	h.t.Expire(time.Unix(2000, 0))
	require.True(t, h.t.Has(h.key))
	require.NoError(t, client.CloseWrite())
	require.NoError(t, far.s.CloseWrite())
	require.True(t, <-handled)
	require.True(t, <-h.done)
}

func TestAStreamForAnUnknownCircuitIsNotTaken(t *testing.T) {
	h := newHarness(t, nil)
	// Unknown key.
	client, upEnd := pipe.New(pipe.Options{})
	other := h.hdr
	other.Path++
	require.False(t, h.t.Handle(h.up, upEnd, other))
	// Known key, but from the wrong neighbour (the circuit's downstream).
	require.False(t, h.t.Handle(h.down, upEnd, h.hdr))
	_, err := client.Write([]byte("x"))
	require.NoError(t, err, "a stream not taken is left open for the caller")
	require.True(t, h.t.Has(h.key), "the circuit still waits for its stream")
	require.Empty(t, h.down.opened, "nothing was opened downstream")
	require.Equal(t, relay.Stats{Circuits: 1}, h.t.Stats())
}

func TestASecondStreamForAnActiveCircuitIsNotTaken(t *testing.T) {
	h := newHarness(t, nil)
	client, handled := h.start(h.up)
	far := <-h.down.opened
	<-h.stops
	_, second := pipe.New(pipe.Options{})
	require.False(t, h.t.Handle(h.up, second, h.hdr))
	require.NoError(t, client.CloseWrite())
	require.NoError(t, far.s.CloseWrite())
	require.True(t, <-handled)
	require.True(t, <-h.done, "the first stream was relayed to its end")
}

func TestARefusedStreamIsTakenAndClosed(t *testing.T) {
	h := newHarness(t, func(up relay.Link) bool { return up.ID() == addr.NodeID{1} })
	client, handled := h.start(h.up)
	require.True(t, <-handled)
	_, err := io.ReadAll(client)
	require.NoError(t, err, "the refused stream is closed")
	require.Equal(t, int64(1), h.t.Stats().Refused)
	require.Empty(t, h.down.opened)
	require.True(t, h.t.Has(h.key), "the circuit waits on until it expires")
}

func TestAnUnreachableNextHopClosesTheUpstream(t *testing.T) {
	h := newHarness(t, nil)
	h.down.err = errors.New("no way")
	client, handled := h.start(h.up)
	require.True(t, <-handled)
	_, err := io.ReadAll(client)
	require.NoError(t, err)
	require.False(t, h.t.Has(h.key))
	require.Equal(t, relay.Stats{}, h.t.Stats())
	require.Empty(t, h.done, "a circuit that never carried a stream has no outcome")
}

func TestLinkDownDropsCircuitsWaitingToGoOutOverIt(t *testing.T) {
	h := newHarness(t, nil)
	back := relay.Key{ID: addr.ConnID{8}, Path: 1}
	require.NoError(t, h.t.Add(back, relay.Circuit{Up: h.down, Down: h.up, Expires: time.Unix(1000, 0)}))
	h.t.LinkDown(h.down)
	require.False(t, h.t.Has(h.key), "its stream would go out over the lost link")
	require.True(t, h.t.Has(back), "its stream may already have come in over the lost link")
}

func TestAddRefusesDuplicatesAndAClosedTable(t *testing.T) {
	h := newHarness(t, nil)
	c := relay.Circuit{Up: h.up, Down: h.down}
	require.ErrorIs(t, h.t.Add(h.key, c), relay.ErrDuplicate)
	require.NoError(t, h.t.Close())
	require.NoError(t, h.t.Close(), "Close is idempotent")
	require.ErrorIs(t, h.t.Add(relay.Key{Path: 9}, c), relay.ErrClosed)
}

func TestSpliceReportsAnErrorAsABrokenCircuit(t *testing.T) {
	a, aFar := pipe.New(pipe.Options{})
	b, bFar := pipe.New(pipe.Options{})
	var moved atomic.Int64
	res := make(chan bool, 1)
	go func() { res <- relay.Splice(a, b, func(n int64) { moved.Add(n) }) }()
	_, err := aFar.Write([]byte("abc"))
	require.NoError(t, err)
	got := make([]byte, 3)
	_, err = io.ReadFull(bFar, got)
	require.NoError(t, err)
	require.Equal(t, "abc", string(got))
	require.NoError(t, a.SetReadDeadline(time.Unix(1, 0))) // a's next read fails
	require.False(t, <-res, "a read error breaks the circuit")
	_, err = io.ReadAll(bFar)
	require.NoError(t, err, "b was closed")
	_, err = aFar.Write([]byte("x"))
	require.Error(t, err, "a was closed")
	require.Equal(t, int64(3), moved.Load())
}

func TestListShowsLiveCircuitsOldestFirstWithBytesEachWay(t *testing.T) {
	up, down := newLink(1), newLink(2)
	t0 := time.Unix(5000, 0)
	var ticks atomic.Int64
	tb := relay.New(relay.Config{Now: func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * time.Second) }})
	t.Cleanup(func() { tb.Close() })
	keys := []relay.Key{{ID: addr.ConnID{0xbb}, Path: 1}, {ID: addr.ConnID{0xaa}, Path: 2}}
	for i, k := range keys {
		require.NoError(t, tb.Add(k, relay.Circuit{Up: up, Down: down, Target: [20]byte{9}, Expires: t0.Add(time.Hour),
			UpRate: uint64(10 + i), DownRate: 1}))
	}
	list, total := tb.List(0)
	require.Empty(t, list, "circuits waiting for their stream are not relaying yet")
	require.Zero(t, total)

	type live struct {
		client, far *pipe.Conn
		handled     chan bool
	}
	var ls []live
	for i, k := range keys {
		client, upEnd := pipe.New(pipe.Options{})
		handled := make(chan bool, 1)
		go func() {
			handled <- tb.Handle(up, upEnd, wire.StreamHeader{Kind: wire.StreamCircuit, ID: k.ID, Path: k.Path})
		}()
		far := <-down.opened
		ls = append(ls, live{client, far.s, handled})
		// Circuit i carries 100+i bytes toward the target and 10+i back.
		_, err := client.Write(random(100 + i))
		require.NoError(t, err)
		_, err = io.ReadFull(far.s, make([]byte, 100+i))
		require.NoError(t, err)
		_, err = far.s.Write(random(10 + i))
		require.NoError(t, err)
		_, err = io.ReadFull(client, make([]byte, 10+i))
		require.NoError(t, err)
	}
	// A chunk is counted just after it is written: wait for the counts.
	require.Eventually(t, func() bool {
		list, _ := tb.List(0)
		return len(list) == 2 && list[0].DownUp == 10 && list[1].DownUp == 11
	}, 5*time.Second, time.Millisecond)
	list, total = tb.List(0)
	require.Equal(t, 2, total)
	for i, s := range list {
		require.Equal(t, keys[i], s.Key, "oldest first")
		require.Equal(t, t0.Add(time.Duration(i+1)*time.Second), s.Started)
		require.Equal(t, int64(100+i), s.UpDown)
		require.Equal(t, int64(10+i), s.DownUp)
		require.Equal(t, relay.Link(up), s.Up)
		require.Equal(t, relay.Link(down), s.Down)
		require.Equal(t, uint64(10+i), s.UpRate)
	}
	list, total = tb.List(1)
	require.Equal(t, 2, total, "the total counts what was left out")
	require.Len(t, list, 1)
	require.Equal(t, keys[0], list[0].Key)

	for _, l := range ls {
		l.client.Close()
		l.far.Close()
		require.True(t, <-l.handled)
	}
	list, total = tb.List(0)
	require.Empty(t, list, "ended circuits are not listed")
	require.Zero(t, total)
}

// BenchmarkList1000Circuits is one List of a table relaying 1000
// circuits (the admin's bound): the table's lock is held only to copy
// them out.
func BenchmarkList1000Circuits(b *testing.B) {
	const n = 1000
	up, down := newLink(1), &pipeLink{id: addr.NodeID{2}, opened: make(chan opened, n)}
	tb := relay.New(relay.Config{})
	defer tb.Close()
	var clients []*pipe.Conn
	var wg sync.WaitGroup
	for i := range n {
		k := relay.Key{ID: addr.ConnID{byte(i), byte(i >> 8)}, Path: 1}
		require.NoError(b, tb.Add(k, relay.Circuit{Up: up, Down: down, Expires: time.Now().Add(time.Hour)}))
		client, upEnd := pipe.New(pipe.Options{})
		clients = append(clients, client)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tb.Handle(up, upEnd, wire.StreamHeader{Kind: wire.StreamCircuit, ID: k.ID, Path: k.Path})
		}()
	}
	var fars []*pipe.Conn
	for range n {
		fars = append(fars, (<-down.opened).s)
	}
	for {
		if _, total := tb.List(1); total == n {
			break
		}
		time.Sleep(time.Millisecond) // setup only: the benchmark waits for its circuits
	}
	for b.Loop() {
		if list, _ := tb.List(n); len(list) != n {
			b.Fatal(len(list))
		}
	}
	b.StopTimer()
	for i := range clients {
		clients[i].Close()
		fars[i].Close()
	}
	wg.Wait()
}
