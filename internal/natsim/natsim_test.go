package natsim

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	ipS1   = netip.MustParseAddr("203.0.113.1")
	ipS2   = netip.MustParseAddr("203.0.113.2")
	ipNATA = netip.MustParseAddr("198.51.100.1")
	ipNATB = netip.MustParseAddr("198.51.100.2")
	ipA    = netip.MustParseAddr("10.0.0.2")
	ipB    = netip.MustParseAddr("10.1.0.2")
)

var kinds = []Behaviour{FullCone, RestrictedCone, PortRestrictedCone, Symmetric}

// clock is a settable fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, h *Host, port uint16) *Conn {
	t.Helper()
	c, err := h.ListenPacket(port)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func send(t *testing.T, from *Conn, to net.Addr, msg string) {
	t.Helper()
	_, err := from.WriteTo([]byte(msg), to)
	require.NoError(t, err)
}

// pending returns what c has been delivered, without waiting: delivery is
// synchronous, so whatever was let through is queued already.
func pending(t *testing.T, c *Conn) (msgs []string, from []net.Addr) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now()))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 1500)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			return msgs, from
		}
		msgs = append(msgs, string(buf[:n]))
		from = append(from, addr)
	}
}

func udp(ip netip.Addr, port uint16) net.Addr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port))
}

func TestMappingReusesAPortOnlyAsItsKindSays(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			n := New(Config{})
			h1 := n.Host(ipS1)
			s1, s1b, s2 := open(t, h1, 1000), open(t, h1, 1001), open(t, n.Host(ipS2), 1000)
			a := open(t, n.NAT(ipNATA, k).Host(ipA), 0)
			send(t, a, s1.LocalAddr(), "to s1")
			send(t, a, s1b.LocalAddr(), "to s1, another port")
			send(t, a, s2.LocalAddr(), "to s2")
			_, f1 := pending(t, s1)
			_, f1b := pending(t, s1b)
			_, f2 := pending(t, s2)
			require.Len(t, f1, 1)
			require.Len(t, f1b, 1)
			require.Len(t, f2, 1)
			require.Equal(t, ipNATA, f1[0].(*net.UDPAddr).AddrPort().Addr(), "the NAT's address is seen")
			switch k.Mapping {
			case EndpointIndependent:
				require.Equal(t, f1[0].String(), f1b[0].String())
				require.Equal(t, f1[0].String(), f2[0].String())
			case AddressAndPortDependent:
				require.NotEqual(t, f1[0].String(), f1b[0].String())
				require.NotEqual(t, f1[0].String(), f2[0].String())
			}
		})
	}
}

func TestFilteringLetsInOnlyWhatItsKindSays(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			n := New(Config{})
			h1 := n.Host(ipS1)
			s1, s1b, s2 := open(t, h1, 1000), open(t, h1, 1001), open(t, n.Host(ipS2), 1000)
			nat := n.NAT(ipNATA, k)
			a := open(t, nat.Host(ipA), 0)
			send(t, a, s1.LocalAddr(), "out")
			_, from := pending(t, s1)
			require.Len(t, from, 1)
			mapped := from[0]

			send(t, s1, mapped, "from the address and port it sent to")
			send(t, s1b, mapped, "from that address, another port")
			send(t, s2, mapped, "from another address")
			got, _ := pending(t, a)
			want := []string{"from the address and port it sent to"}
			if k.Filtering != AddressAndPortDependent {
				want = append(want, "from that address, another port")
			}
			if k.Filtering == EndpointIndependent {
				want = append(want, "from another address")
			}
			require.Equal(t, want, got)
			require.Equal(t, uint64(3-len(want)), nat.Stats().Filtered)
		})
	}
}

func TestMappingsExpireOnTheClock(t *testing.T) {
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	n := New(Config{Now: clk.Now})
	s := open(t, n.Host(ipS1), 1000)
	nat := n.NAT(ipNATA, Behaviour{Name: "short", Mapping: EndpointIndependent, Filtering: EndpointIndependent, Timeout: 30 * time.Second})
	a := open(t, nat.Host(ipA), 0)
	send(t, a, s.LocalAddr(), "out")
	_, from := pending(t, s)
	mapped := from[0]

	clk.Add(29 * time.Second)
	send(t, s, mapped, "in time")
	got, _ := pending(t, a)
	require.Equal(t, []string{"in time"}, got, "inbound does not refresh the mapping")

	clk.Add(time.Second)
	send(t, s, mapped, "too late")
	got, _ = pending(t, a)
	require.Empty(t, got)
	require.Equal(t, uint64(1), nat.Stats().Unmapped)

	send(t, a, s.LocalAddr(), "out again")
	_, from = pending(t, s)
	require.NotEqual(t, mapped.String(), from[0].String(), "a new mapping, a new port")

	clk.Add(20 * time.Second)
	send(t, a, s.LocalAddr(), "refresh")
	clk.Add(20 * time.Second)
	send(t, s, from[0], "kept alive by outbound")
	got, _ = pending(t, a)
	require.Equal(t, []string{"kept alive by outbound"}, got)
}

// punch is a hole punch as two peers coordinate it through a rendezvous
// server: each learns the other's address as the server saw it, both send
// to it twice, then each answers whatever source it heard the other
// from. It reports whether both ends heard the other.
func punch(t *testing.T, ka, kb Behaviour) bool {
	n := New(Config{})
	rv := open(t, n.Host(ipS1), 3478)
	a := open(t, n.NAT(ipNATA, ka).Host(ipA), 0)
	b := open(t, n.NAT(ipNATB, kb).Host(ipB), 0)
	send(t, a, rv.LocalAddr(), "a")
	send(t, b, rv.LocalAddr(), "b")
	_, seen := pending(t, rv)
	require.Len(t, seen, 2)
	aPub, bPub := seen[0], seen[1]

	for range 2 {
		send(t, a, bPub, "punch from a")
		send(t, b, aPub, "punch from b")
	}
	heardA, fromB := pending(t, a)
	heardB, fromA := pending(t, b)
	if len(fromA) > 0 {
		send(t, b, fromA[0], "answer from b")
	}
	if len(fromB) > 0 {
		send(t, a, fromB[0], "answer from a")
	}
	moreA, _ := pending(t, a)
	moreB, _ := pending(t, b)
	return len(heardA)+len(moreA) > 0 && len(heardB)+len(moreB) > 0
}

// The known matrix of UDP hole punching: it works unless one side is
// symmetric and the other filters by port (or is symmetric too).
func TestSimultaneousOpenAcrossEveryPairOfNATs(t *testing.T) {
	for _, ka := range kinds {
		for _, kb := range kinds {
			want := true
			if (ka.Mapping == AddressAndPortDependent && kb.Filtering == AddressAndPortDependent) ||
				(kb.Mapping == AddressAndPortDependent && ka.Filtering == AddressAndPortDependent) {
				want = false
			}
			t.Run(fmt.Sprintf("%s to %s", ka.Name, kb.Name), func(t *testing.T) {
				require.Equal(t, want, punch(t, ka, kb))
			})
		}
	}
}

func TestNeighboursBehindOneNATTalkPrivately(t *testing.T) {
	n := New(Config{})
	nat := n.NAT(ipNATA, Symmetric)
	a := open(t, nat.Host(ipA), 0)
	b := open(t, nat.Host(netip.MustParseAddr("10.0.0.3")), 5000)
	send(t, a, b.LocalAddr(), "hi")
	got, from := pending(t, b)
	require.Equal(t, []string{"hi"}, got)
	require.Equal(t, a.LocalAddr().String(), from[0].String())
	require.Zero(t, nat.Stats().Mappings)
}

func TestConnKeepsThePacketConnContract(t *testing.T) {
	n := New(Config{QueueLen: 2})
	h := n.Host(ipS1)
	a, b := open(t, h, 1), open(t, h, 2)
	_, err := h.ListenPacket(1)
	require.ErrorIs(t, err, ErrPortInUse)

	for range 3 {
		send(t, a, b.LocalAddr(), "x")
	}
	got, _ := pending(t, b)
	require.Len(t, got, 2, "a full queue drops")

	done := make(chan error)
	go func() {
		_, _, err := b.ReadFrom(make([]byte, 10))
		done <- err
	}()
	require.NoError(t, b.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
	require.NoError(t, b.Close())
	send(t, a, udp(ipS1, 2), "to nobody") // silently dropped, as UDP does
	_, err = b.WriteTo([]byte("x"), a.LocalAddr())
	require.ErrorIs(t, err, net.ErrClosed)

	require.NoError(t, a.SetWriteDeadline(time.Now().Add(-time.Second)))
	_, err = a.WriteTo([]byte("x"), b.LocalAddr())
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
