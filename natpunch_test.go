package foxtrot

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/natsim"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/quic"
)

// natWorld is a simulated internet: two public relays, and a dialler A
// and a listener's node B, each behind a NAT of its own, both linked to
// both relays over UDP. Nothing else links them.
type natWorld struct {
	relays [2]*Node
	a, b   *Node
}

// natNode starts a node whose only transport is QUIC over host's sockets.
func natNode(t testing.TB, h *natsim.Host, listen string, peers []string, punch bool, punchTimeout time.Duration) *Node {
	t.Helper()
	key, err := GenerateKey()
	require.NoError(t, err)
	tr, err := quic.New(quic.Config{Identity: key, Packets: h.Transport()})
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() }) // after the node's Close (cleanups run last first)
	cfg := Config{Identity: key, Transports: []transport.Transport{tr},
		ListenAddrs: []string{listen}, Peers: peers, NAT: NATConfig{Punch: punch, PunchTimeout: punchTimeout}}
	if os.Getenv("FOXTROT_NAT_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return newTestNode(t, cfg)
}

// A test's punches get testPunchTimeout: time enough, on a loaded
// machine under -race, for a punch that can link to link, so that what a
// test asserts (direct or relayed, no byte lost) does not depend on the
// machine's speed. How fast a punch decides with the default PunchTimeout
// (2.5 s) is BenchmarkNATMatrix's to measure.
const testPunchTimeout = 20 * time.Second

func newNATWorld(t testing.TB, kindA, kindB natsim.Behaviour) *natWorld {
	return newNATWorldWith(t, kindA, kindB, true, testPunchTimeout)
}

// newNATWorldWith is newNATWorld with B punching or not, and the given
// PunchTimeout (0: the default).
func newNATWorldWith(t testing.TB, kindA, kindB natsim.Behaviour, bPunches bool, punchTimeout time.Duration) *natWorld {
	n := natsim.New(natsim.Config{})
	w := &natWorld{}
	var relayAddrs []string
	for i := range w.relays {
		h := n.Host(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + i)}))
		w.relays[i] = natNode(t, h, "/ip4/0.0.0.0/udp/4000", nil, false, 0)
		relayAddrs = append(relayAddrs, udpAddr(t, w.relays[i]))
	}
	na := n.NAT(netip.MustParseAddr("198.51.100.1"), kindA)
	nb := n.NAT(netip.MustParseAddr("198.51.100.2"), kindB)
	w.a = natNode(t, na.Host(netip.MustParseAddr("10.0.0.2")), "/ip4/10.0.0.2/udp/5000", relayAddrs, true, punchTimeout)
	w.b = natNode(t, nb.Host(netip.MustParseAddr("10.0.1.2")), "/ip4/10.0.1.2/udp/5000", relayAddrs, bPunches, punchTimeout)
	// Both relays have told both nodes where they see them.
	require.Eventually(t, func() bool {
		return w.a.nat.table.Reports() == 2 && w.b.nat.table.Reports() == 2
	}, 10*time.Second, 5*time.Millisecond)
	return w
}

// decided waits until the dialler's punch has an outcome (and, for a
// direct link, the move has had its chance), and returns its stats.
func (w *natWorld) decided(t testing.TB) NATStats {
	t.Helper()
	require.Eventually(t, func() bool {
		s := w.a.Stats().NAT
		return s.Failed == 1 || s.Direct == 1 && w.a.nat.punching() == 0
	}, testPunchTimeout+10*time.Second, 5*time.Millisecond)
	return w.a.Stats().NAT
}

// chunk is the i-th piece of the test stream: its index, then a pattern
// that depends on it.
func chunk(i int) []byte {
	b := make([]byte, 16<<10)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// echoAcrossTheMove writes chunks before the punch has decided, while it
// moves, and after, and checks that the echo brings every chunk back in
// order (io.ReadFull, byte for byte).
func echoAcrossTheMove(t testing.TB, w *natWorld, c net.Conn) NATStats {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	stop := make(chan struct{})
	go func() {
		i := 0
		write := func() error {
			_, err := c.Write(chunk(i))
			i++
			return err
		}
		for range 8 { // before (most of it, at least)
			if err := write(); err != nil {
				done <- result{i, err}
				return
			}
		}
		for { // during
			select {
			case <-stop:
				for range 8 { // after
					if err := write(); err != nil {
						done <- result{i, err}
						return
					}
				}
				done <- result{i, c.(*Conn).CloseWrite()}
				return
			default:
			}
			if err := write(); err != nil {
				done <- result{i, err}
				return
			}
		}
	}()
	read := make(chan error, 1)
	go func() {
		got := make([]byte, 16<<10)
		for i := 0; ; i++ {
			if _, err := io.ReadFull(c, got); err != nil {
				if err == io.EOF {
					err = nil
				}
				read <- err
				return
			}
			if !bytes.Equal(got, chunk(i)) {
				read <- fmt.Errorf("chunk %d came back as chunk %d", i, binary.BigEndian.Uint32(got))
				return
			}
		}
	}()
	st := w.decided(t)
	close(stop)
	r := <-done
	require.NoError(t, r.err)
	require.NoError(t, <-read, "the echo of %d chunks", r.n)
	return st
}

func dialNAT(t testing.TB, w *natWorld) net.Conn {
	key, err := GenerateKey()
	require.NoError(t, err)
	l, err := w.b.Listen(key)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go serveEcho(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := w.a.DialContext(ctx, "foxtrot", l.Addr().String())
	require.NoError(t, err, "a dial never fails because punching failed")
	t.Cleanup(func() { c.Close() })
	require.Len(t, c.(*Conn).Path(), 1, "first through one relay")
	return c
}

func TestAConnectionMovesFromTheRelayToAPunchedLink(t *testing.T) {
	verifyNoLeaks(t)
	w := newNATWorld(t, natsim.PortRestrictedCone, natsim.PortRestrictedCone)
	require.Len(t, w.a.PublicAddrs(), 1)
	require.True(t, strings.HasPrefix(w.a.PublicAddrs()[0], "/ip4/198.51.100.1/udp/"), w.a.PublicAddrs()[0])
	c := dialNAT(t, w)
	st := echoAcrossTheMove(t, w, c)
	require.EqualValues(t, 1, st.Direct)
	require.EqualValues(t, 1, st.Moved)
	require.Empty(t, c.(*Conn).Path(), "the connection runs over the direct link")
	t.Logf("punch decided in %v, the move took %v", st.MaxDecide, w.a.Stats().FailoverTime)
	// The relayed circuit is released.
	require.Eventually(t, func() bool {
		return w.relays[0].Stats().CircuitsActive+w.relays[1].Stats().CircuitsActive == 0
	}, 10*time.Second, 5*time.Millisecond)
}

func TestBothSymmetricStaysRelayedAndTheDialWorks(t *testing.T) {
	verifyNoLeaks(t)
	w := newNATWorldWith(t, natsim.Symmetric, natsim.Symmetric, true, 0) // it fails whatever the time
	require.Empty(t, w.a.PublicAddrs())
	require.True(t, w.a.Stats().NAT.Varies)
	c := dialNAT(t, w)
	st := echoAcrossTheMove(t, w, c)
	require.EqualValues(t, 1, st.Failed)
	require.Zero(t, st.Moved)
	require.Len(t, c.(*Conn).Path(), 1, "still relayed")
}

// punchable is what theory says of a pair (RFC 4787 terms): both
// mappings endpoint-independent, or one side's filtering admits the
// symmetric side's fresh port (endpoint-independent or address-dependent
// filtering).
func punchable(a, b natsim.Behaviour) bool {
	if a.Mapping == natsim.EndpointIndependent && b.Mapping == natsim.EndpointIndependent {
		return true
	}
	if a.Mapping != natsim.EndpointIndependent && b.Mapping != natsim.EndpointIndependent {
		return false
	}
	cone := a
	if a.Mapping != natsim.EndpointIndependent {
		cone = b
	}
	return cone.Filtering != natsim.AddressAndPortDependent
}

// natKinds are the four classic NAT kinds, and their short names.
var natKinds = []natsim.Behaviour{natsim.FullCone, natsim.RestrictedCone, natsim.PortRestrictedCone, natsim.Symmetric}

func natShort(b natsim.Behaviour) string {
	return map[string]string{"full cone": "FC", "restricted cone": "RC", "port-restricted cone": "PRC", "symmetric": "SYM"}[b.Name]
}

// natTry runs one fresh world of the pair (ka, kb) with the given
// PunchTimeout: a dial, an echo across the punch, and whether the
// connection moved onto a direct link (checking its path either way).
func natTry(t testing.TB, ka, kb natsim.Behaviour, punchTimeout time.Duration) (moved bool, st NATStats) {
	w := newNATWorldWith(t, ka, kb, true, punchTimeout)
	c := dialNAT(t, w)
	st = echoAcrossTheMove(t, w, c)
	if st.Moved == 1 {
		require.Empty(t, c.(*Conn).Path())
	} else {
		require.Len(t, c.(*Conn).Path(), 1)
	}
	return st.Moved == 1, st
}

// The NAT matrix: every pair of the four kinds, FOXTROT_NAT_TRIES fresh
// worlds each (default 1). Every dial works and every echo arrives whole;
// pairs that can be punched get a direct link and move onto it (>= 95%),
// the others stay relayed. Punches that can link get testPunchTimeout, so
// the outcome does not depend on the machine's speed; the others the
// default, since they fail whatever the time. BenchmarkNATMatrix measures
// the rates and decision times with the default PunchTimeout.
func TestNATMatrix(t *testing.T) {
	tries := 1
	if s := os.Getenv("FOXTROT_NAT_TRIES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		tries = n
	}
	var table strings.Builder
	for _, ka := range natKinds {
		for _, kb := range natKinds {
			direct := 0
			t.Run(natShort(ka)+"-"+natShort(kb), func(t *testing.T) {
				timeout := time.Duration(0)
				if punchable(ka, kb) {
					timeout = testPunchTimeout
				}
				for range tries {
					t.Run("try", func(t *testing.T) {
						verifyNoLeaks(t)
						if moved, _ := natTry(t, ka, kb, timeout); moved {
							direct++
						}
					})
				}
				if punchable(ka, kb) {
					require.GreaterOrEqual(t, float64(direct)/float64(tries), 0.95, "direct rate")
				} else {
					require.Zero(t, direct, "a pair that cannot be punched stays relayed")
				}
			})
			fmt.Fprintf(&table, "%s->%s %d/%d  ", natShort(ka), natShort(kb), direct, tries)
		}
		table.WriteString("\n")
	}
	t.Logf("direct links per pair (dialler->listener):\n%s", table.String())
}

// BenchmarkNATMatrix runs each iteration's 16 pairs of NAT kinds with the
// default PunchTimeout (2.5 s) and reports the share of punchable pairs
// that moved onto a direct link, the share of the others that (wrongly)
// did, and the decision times: the longest of all, and the median and
// longest of punches that linked. The targets: >= 95% direct
// where punchable, every decision within 3 s.
//
//	go test -run XXX -bench NATMatrix -benchtime 5x .
func BenchmarkNATMatrix(b *testing.B) {
	var punchable0, direct, others, othersDirect int
	var decide, decideDirect []time.Duration
	for range b.N {
		for _, ka := range natKinds {
			for _, kb := range natKinds {
				moved, st := natTry(b, ka, kb, 0)
				decide = append(decide, st.MaxDecide)
				switch {
				case punchable(ka, kb):
					punchable0++
					if moved {
						direct++
						decideDirect = append(decideDirect, st.MaxDecide)
					}
				default:
					others++
					if moved {
						othersDirect++
					}
				}
			}
		}
	}
	slices.Sort(decide)
	slices.Sort(decideDirect)
	b.ReportMetric(float64(direct)/float64(max(punchable0, 1)), "direct/punchable")
	b.ReportMetric(float64(othersDirect)/float64(max(others, 1)), "direct/unpunchable")
	if len(decide) > 0 {
		b.ReportMetric(decide[len(decide)-1].Seconds(), "max-decide-s")
	}
	if len(decideDirect) > 0 {
		b.ReportMetric(decideDirect[len(decideDirect)/2].Seconds(), "median-direct-decide-s")
		b.ReportMetric(decideDirect[len(decideDirect)-1].Seconds(), "max-direct-decide-s")
	}
	b.ReportMetric(0, "ns/op")
}

// fakeClock is a clock that moves only when Advance says.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Unix(1_000_000, 0), timers: make(map[*fakeTimer]struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers[t] = struct{}{}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		_, ok := c.timers[t]
		delete(c.timers, t)
		return ok
	}
}

// Advance moves the clock on by d and runs the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
			delete(c.timers, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// A punch that gets no answer (the listener's node does not punch) gives
// up when its clock passes PunchTimeout, not before, and the connection
// carries on over the relay.
func TestAnUnansweredPunchGivesUpOnItsClock(t *testing.T) {
	verifyNoLeaks(t)
	w := newNATWorldWith(t, natsim.PortRestrictedCone, natsim.PortRestrictedCone, false, 0)
	clk := newFakeClock()
	w.a.nat.clock = clk // before the dial that starts the punch
	c := dialNAT(t, w)
	// The offer went through the relay and the punch waits.
	require.Eventually(t, func() bool {
		return w.relays[0].Stats().NAT.Relayed+w.relays[1].Stats().NAT.Relayed >= 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, 1, w.a.nat.punching())
	clk.Advance(2499 * time.Millisecond) // offers resent, still undecided
	require.Zero(t, w.a.Stats().NAT.Failed)
	clk.Advance(time.Millisecond)
	st := w.decided(t)
	require.EqualValues(t, 1, st.Failed)
	require.Equal(t, 2500*time.Millisecond, st.MaxDecide, "decided at PunchTimeout on the punch's clock")
	require.Zero(t, w.b.Stats().NAT.Punches, "B does not punch")
	echoOver(t, w.a, w.b)
	require.Len(t, c.(*Conn).Path(), 1)
}
