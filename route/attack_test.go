package route

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/session"
)

// forger answers every request it sees with forged acks instead of
// forwarding it: one with its own key (which does not hash to the
// target), one with the target's real public key but its own signature.
type forger struct {
	*Router
	targetKey func() [33]byte
	sent      atomic.Int64
}

func (f *forger) HandleMessage(l *peer.Link, m wire.Message) {
	req, ok := m.(*wire.ConnectRequest)
	if !ok {
		f.Router.HandleMessage(l, m)
		return
	}
	me := f.id
	eph, _ := newKey(nil)
	own := newAck(req.ID(), req.Ephemeral, me, eph, 1)
	stolen := newAck(req.ID(), req.Ephemeral, me, eph, 2)
	stolen.TargetKey = f.targetKey()
	l.Send(own)
	l.Send(stolen)
	f.sent.Add(2)
}

func TestForgedAcksAreRejectedAndTheRealPathWins(t *testing.T) {
	// 0 - 1(forger) and 0 - 2 - 3(target): the forger answers first, and
	// falsely; the dialler must ignore it and connect through 2.
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {0, 2}, {2, 3}}), simnet.Options{})
	var target *Listener
	f := &forger{targetKey: func() [33]byte { return target.key.ser }}
	nodes := startNodes(t, sn, nil, func(i int, r *Router) peer.Handler {
		if i == 1 {
			f.Router = r
			return f
		}
		return nil
	})
	target = echo(t, nodes[3])

	s, err := dial(t, nodes[0], target.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, []addr.NodeID{addr.NodeIDFromPubKey(sn.Keys[2].PubKey())}, s.Path())
	roundTrip(t, s, "not fooled")
	require.Eventually(t, func() bool { return f.sent.Load() >= 2 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return nodes[0].r.Stats().AcksInvalid >= 2 }, 5*time.Second, time.Millisecond)
}

func TestAForgedAckAloneNeverConnects(t *testing.T) {
	sn := simnet.New(2, simnet.Line, simnet.Options{})
	victim := newTestKey(t)
	f := &forger{targetKey: func() [33]byte { return ser(victim.PubKey()) }}
	nodes := startNodes(t, sn, nil, func(i int, r *Router) peer.Handler {
		if i == 1 {
			f.Router = r
			return f
		}
		return nil
	})
	_, err := dial(t, nodes[0], addr.FromPubKey(victim.PubKey()).Hash160(), 300*time.Millisecond)
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrRefused)
	require.EqualValues(t, 2, nodes[0].r.Stats().AcksInvalid)
}

func TestReplayedAndStaleRequestsAreDropped(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[2])
	s, err := dial(t, nodes[0], l.Addr(), 5*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "first")
	s.Close()

	// A relay (1) replays a request to the target: the first copy is new,
	// the second a duplicate that nobody answers or forwards again.
	seenBefore := nodes[2].r.Stats()
	replay, _, err := newRequest(l.Addr(), 5, 0, 0, time.Now(), nil)
	require.NoError(t, err)
	link := linkTo(t, nodes[1], nodes[2])
	require.NoError(t, link.Send(replay))
	require.NoError(t, link.Send(replay))
	require.Eventually(t, func() bool {
		st := nodes[2].r.Stats()
		return st.RequestsSeen == seenBefore.RequestsSeen+1 && st.RequestsDuplicate >= seenBefore.RequestsDuplicate+1
	}, 5*time.Second, time.Millisecond, "the second copy is a duplicate")

	// A request signed two minutes ago is outside the skew window: a
	// replay after the seen table forgot it is still refused.
	stale, _, err := newRequest(l.Addr(), 5, 0, 0, time.Now().Add(-2*time.Minute), nil)
	require.NoError(t, err)
	before := nodes[2].r.Stats().RequestsInvalid
	require.NoError(t, link.Send(stale))
	require.Eventually(t, func() bool { return nodes[2].r.Stats().RequestsInvalid == before+1 }, 5*time.Second, time.Millisecond)

	// A tampered request (hop limit aside, every field is signed).
	bad, _, err := newRequest(l.Addr(), 5, 0, 0, time.Now(), nil)
	require.NoError(t, err)
	bad.MaxPrice = 1_000_000
	require.NoError(t, link.Send(bad))
	require.Eventually(t, func() bool { return nodes[2].r.Stats().RequestsInvalid == before+2 }, 5*time.Second, time.Millisecond)
}

func TestARequestStormIsThrottledWithoutDisturbingOthers(t *testing.T) {
	// 0 storms 1 with requests; 2 meanwhile connects through 1 to 3.
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {2, 1}, {1, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		c.RequestRate, c.RequestBurst = 50, 100
	}, nil)
	l := echo(t, nodes[3])
	storm := linkTo(t, nodes[0], nodes[1])
	stop := make(chan struct{})
	stormDone := make(chan int)
	// An attacker need not sign: the limiter runs before any check. Each
	// copy varies the nonce, so none is a duplicate.
	proto, _, err := newRequest([20]byte{9}, 8, 0, 0, time.Now(), nil)
	require.NoError(t, err)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				stormDone <- n
				return
			default:
			}
			req := *proto
			req.Nonce[0], req.Nonce[1], req.Nonce[2] = byte(n), byte(n>>8), byte(n>>16)
			if storm.Send(&req) == nil {
				n++
			} else {
				time.Sleep(time.Millisecond) // the send queue is full
			}
		}
	}()
	// The storm is in full force: 1 has throttled a thousand requests.
	require.Eventually(t, func() bool { return nodes[1].r.Stats().RequestsThrottled > 1000 }, 30*time.Second, time.Millisecond)
	for i := 0; i < 5; i++ {
		s, err := dial(t, nodes[2], l.Addr(), 5*time.Second)
		if err != nil {
			for i, n := range nodes {
				t.Logf("node %d: %+v", i, n.r.Stats())
			}
		}
		require.NoError(t, err, "a connection during the storm")
		roundTrip(t, s, "calm")
		s.Close()
	}
	close(stop)
	sent := <-stormDone
	var st Stats
	require.Eventually(t, func() bool {
		st = nodes[1].r.Stats()
		handled := st.RequestsThrottled + st.RequestsInvalid + st.RequestsSeen + st.RequestsDuplicate
		return handled >= int64(sent)
	}, 30*time.Second, 10*time.Millisecond, "the storm is worked through")
	t.Logf("storm: %d requests sent, %d throttled, %d checked and dropped", sent, st.RequestsThrottled, st.RequestsInvalid)
	require.Greater(t, sent, 1000)
	require.Greater(t, st.RequestsThrottled, int64(sent/2), "most of the storm is dropped unexamined")
	require.Positive(t, st.RequestsNotForwarded, "what was let in is not all passed on: the storm gets one peer's share")
}

// flipper wraps a relay's upstream stream and flips one bit of the data
// it forwards, after the first kilobyte.
type flipper struct {
	stream
	n atomic.Int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.stream.Read(p)
	before := f.n.Add(int64(n)) - int64(n)
	if before < 2048 && before+int64(n) > 2048 {
		p[2048-before] ^= 0x40
	}
	return n, err
}

type tamperingRelay struct{ *Router }

func (t tamperingRelay) HandleStream(l *peer.Link, s *peer.Stream, h wire.StreamHeader) {
	t.handleStream(l, &flipper{stream: s}, h)
}

func TestARelayThatFlipsAByteBreaksTheConnectionNeverTheData(t *testing.T) {
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, func(i int, r *Router) peer.Handler {
		if i == 1 {
			return tamperingRelay{r}
		}
		return nil
	})
	lst, err := nodes[2].r.Listen(newTestKey(t))
	require.NoError(t, err)
	defer lst.Close()
	received := make(chan []byte, 1)
	readErr := make(chan error, 1)
	go func() {
		s, err := lst.Accept()
		if err != nil {
			readErr <- err
			return
		}
		defer s.Close()
		b, err := io.ReadAll(s)
		received <- b
		readErr <- err
	}()
	s, err := dial(t, nodes[0], lst.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer s.Close()
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i)
	}
	s.Write(data)
	s.CloseWrite()
	got := <-received
	err = <-readErr
	require.ErrorIs(t, err, ErrTampered)
	require.Equal(t, data[:len(got)], got, "every byte delivered is the byte sent")
	require.Less(t, len(got), len(data))
}

func TestCopiesOfAForgedRequestAreNotAnsweredEither(t *testing.T) {
	// 0 and 1 both link to the target 2; a forged request reaches 2 over
	// both links. Neither copy may be answered.
	sn := simnet.New(3, simnet.Custom([][2]int{{0, 2}, {1, 2}}), simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[2])
	forged, _, err := newRequest(l.Addr(), 5, 0, 0, time.Now(), nil)
	require.NoError(t, err)
	forged.Sig[5] ^= 1
	require.NoError(t, linkTo(t, nodes[0], nodes[2]).Send(forged))
	require.NoError(t, linkTo(t, nodes[1], nodes[2]).Send(forged))
	require.Eventually(t, func() bool {
		st := nodes[2].r.Stats()
		return st.RequestsInvalid == 1 && st.RequestsDuplicate == 1
	}, 5*time.Second, time.Millisecond)
	nodes[2].r.mu.Lock()
	require.Empty(t, nodes[2].r.inbound, "nothing was answered")
	nodes[2].r.mu.Unlock()
}

func TestAForgedResumeCannotTakeOverAConnection(t *testing.T) {
	// 0 is the victim's node, 1 a relay that turns attacker: it knows the
	// victim's connection ID (it relays it) and makes a path of its own
	// to the target, then claims the victim's connection on it.
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, nil, nil)
	l := echo(t, nodes[2])
	victim, err := dial(t, nodes[0], l.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer victim.Close()
	roundTrip(t, victim, "before")

	attacker := nodes[1].r
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := attacker.newDial(wire.TargetAddr, l.Addr())
	ev, err := attacker.awaitAck(ctx, d)
	require.NoError(t, err)
	master := dialerSecret(ev.id, ev.eph, ev.tKey, ev.tEph)
	st, err := ev.link.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: ev.id, Path: ev.ack.Path})
	require.NoError(t, err)
	p := attacker.newPath(st, ev.link, nil, ev.id, ev.ack.Path, master, true, 0, false)
	require.NoError(t, p.SendResume(&session.Resume{ID: victim.ID()})) // a guessed (zero) proof
	_, err = st.Read(make([]byte, 1))
	require.Error(t, err, "the target drops the stream")
	require.Eventually(t, func() bool { return nodes[2].r.Stats().AcceptsFailed == 1 }, 5*time.Second, time.Millisecond)

	roundTrip(t, victim, "after: still mine")
	require.Equal(t, []addr.NodeID{addr.NodeIDFromPubKey(sn.Keys[1].PubKey())}, victim.Path(), "the victim's path never moved")
}

func TestARelayNeverRoutesByAForgedAck(t *testing.T) {
	// 0 dials through relay 1, which links to a forger (2) and, via 3, to
	// the target (4). Relay 1 checks every ack before it records a
	// circuit or learns a route from it, so it drops the forger's and
	// sends the next request only toward the target.
	sn := simnet.New(5, simnet.Custom([][2]int{{0, 1}, {1, 2}, {1, 3}, {3, 4}}), simnet.Options{})
	var target *Listener
	f := &forger{targetKey: func() [33]byte { return target.key.ser }}
	nodes := startNodes(t, sn, nil, func(i int, r *Router) peer.Handler {
		if i == 2 {
			f.Router = r
			return f
		}
		return nil
	})
	target = echo(t, nodes[4])
	s, err := dial(t, nodes[0], target.Addr(), 5*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "first")
	s.Close()
	require.Eventually(t, func() bool { return f.sent.Load() == 2 }, 5*time.Second, time.Millisecond)

	s, err = dial(t, nodes[0], target.Addr(), 5*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "second")
	s.Close()
	require.EqualValues(t, 2, f.sent.Load(), "the second request never went to the forger")
	require.Positive(t, nodes[1].r.Stats().AcksInvalid, "the relay dropped the forgeries")
}
