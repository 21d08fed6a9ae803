package udp_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/udp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type family struct {
	name   string
	listen string
}

func families(t *testing.T) []family {
	fs := []family{{"ip4", "/ip4/127.0.0.1/udp/0"}}
	if nettest.SupportsIPv6() {
		fs = append(fs, family{"ip6", "/ip6/::1/udp/0"})
	} else {
		t.Log("no IPv6 loopback: testing IPv4 only")
	}
	return fs
}

// pair opens two conns on loopback and returns them with the address
// each is reached at.
func pair(t *testing.T, tr *udp.Transport, listen string) (a, b transport.PacketConn, aAddr, bAddr net.Addr) {
	t.Helper()
	open := func() (transport.PacketConn, net.Addr) {
		c, err := tr.ListenPacket(ma.StringCast(listen))
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.True(t, tr.Match(c.Multiaddr()), "a conn's own address matches")
		require.NotContains(t, c.Multiaddr().String(), "/udp/0", "the port is resolved")
		na, err := tr.ResolveAddr(c.Multiaddr())
		require.NoError(t, err)
		require.Equal(t, c.LocalAddr().String(), na.String())
		return c, na
	}
	a, aAddr = open()
	b, bAddr = open()
	return a, b, aAddr, bAddr
}

func TestDatagramsTravelBothWays(t *testing.T) {
	tr := udp.New()
	for _, f := range families(t) {
		t.Run(f.name, func(t *testing.T) {
			a, b, aAddr, bAddr := pair(t, tr, f.listen)
			_, err := a.WriteTo([]byte("ping"), bAddr)
			require.NoError(t, err)
			buf := make([]byte, 64)
			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err := b.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf[:n]))
			require.Equal(t, aAddr.String(), from.String())

			_, err = b.WriteTo([]byte("pong"), from)
			require.NoError(t, err)
			a.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, from, err = a.ReadFrom(buf)
			require.NoError(t, err)
			require.Equal(t, "pong", string(buf[:n]))
			require.Equal(t, bAddr.String(), from.String())
		})
	}
}

// A batch goes out in one call and comes back whole, in order (loopback
// neither loses nor reorders a few small datagrams).
func TestBatchesTravelWhole(t *testing.T) {
	tr := udp.New()
	for _, f := range families(t) {
		t.Run(f.name, func(t *testing.T) {
			a, b, aAddr, bAddr := pair(t, tr, f.listen)
			require.Implements(t, (*transport.BatchConn)(nil), a)
			const count = 200 // more than one system call's worth
			out := make([]transport.Datagram, count)
			for i := range out {
				out[i] = transport.Datagram{Buf: []byte(fmt.Sprintf("datagram %d", i)), Addr: bAddr}
			}
			require.NoError(t, b.(*udp.Conn).SetReadBuffer(1<<20))
			n, err := transport.WriteBatch(a, out)
			require.NoError(t, err)
			require.Equal(t, count, n)

			b.SetReadDeadline(time.Now().Add(10 * time.Second))
			in := make([]transport.Datagram, 64)
			for i := range in {
				in[i].Buf = make([]byte, 64)
			}
			var got []string
			most := 0
			for len(got) < count {
				n, err := transport.ReadBatch(b, in)
				require.NoError(t, err)
				require.Positive(t, n)
				most = max(most, n)
				for _, d := range in[:n] {
					got = append(got, string(d.Buf[:d.N]))
					require.Equal(t, aAddr.String(), d.Addr.String())
				}
			}
			for i, s := range got {
				require.Equal(t, fmt.Sprintf("datagram %d", i), s)
			}
			if runtime.GOOS == "linux" {
				require.Greater(t, most, 1, "recvmmsg reads several datagrams per call")
			}
		})
	}
}

// plain hides a conn's batch ability, as a PacketConn without it is.
type plain struct{ net.PacketConn }

func TestBatchHelpersFallBackWithoutTheAbility(t *testing.T) {
	a, b, aAddr, bAddr := pair(t, udp.New(), "/ip4/127.0.0.1/udp/0")
	pa, pb := plain{a}, plain{b}
	_, ok := net.PacketConn(pa).(transport.BatchConn)
	require.False(t, ok)
	n, err := transport.WriteBatch(pa, []transport.Datagram{{Buf: []byte("one"), Addr: bAddr}, {Buf: []byte("two"), Addr: bAddr}})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	pb.SetReadDeadline(time.Now().Add(10 * time.Second))
	in := []transport.Datagram{{Buf: make([]byte, 8)}, {Buf: make([]byte, 8)}}
	for _, want := range []string{"one", "two"} {
		n, err := transport.ReadBatch(pb, in)
		require.NoError(t, err)
		require.Equal(t, 1, n, "one datagram per call without the ability")
		require.Equal(t, want, string(in[0].Buf[:in[0].N]))
		require.Equal(t, aAddr.String(), in[0].Addr.String())
	}
	n, err = transport.ReadBatch(pb, nil)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestBatchReadHonoursDeadlinesAndClose(t *testing.T) {
	a, _, _, _ := pair(t, udp.New(), "/ip4/127.0.0.1/udp/0")
	in := []transport.Datagram{{Buf: make([]byte, 8)}}
	a.SetReadDeadline(time.Now().Add(-time.Second))
	n, err := transport.ReadBatch(a, in)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Zero(t, n, "a failed batch read read nothing")
	// A deadline that passes while the read waits (after recvmmsg said
	// EAGAIN, its -1 is what x/net passes on).
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	n, err = transport.ReadBatch(a, in)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Zero(t, n, "a failed batch read read nothing (not -1)")
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())

	a.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	nc := make(chan int, 1)
	go func() {
		n, err := transport.ReadBatch(a, in)
		nc <- n
		errc <- err
	}()
	require.NoError(t, a.Close())
	require.Zero(t, <-nc)
	require.ErrorIs(t, <-errc, net.ErrClosed, "Close unblocks a batch read")
	n, err = transport.WriteBatch(a, []transport.Datagram{{Buf: []byte("x"), Addr: a.LocalAddr()}})
	require.ErrorIs(t, err, net.ErrClosed)
	require.Zero(t, n)
}

func TestMatchTakesPlainUDPOnly(t *testing.T) {
	tr := udp.New()
	for addr, want := range map[string]bool{
		"/ip4/1.2.3.4/udp/5":         true,
		"/ip6/::1/udp/5":             true,
		"/ip4/1.2.3.4/tcp/5":         false,
		"/ip4/1.2.3.4/udp/5/quic-v1": false,
		"/dns4/example.com/udp/5":    false,
		"/mem/3":                     false,
	} {
		require.Equal(t, want, tr.Match(ma.StringCast(addr)), addr)
	}
	_, err := tr.ListenPacket(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	require.ErrorIs(t, err, transport.ErrNoTransport)
	_, err = tr.ResolveAddr(ma.StringCast("/ip4/127.0.0.1/tcp/1"))
	require.ErrorIs(t, err, transport.ErrNoTransport)
}

func TestPacketSetPicksByAddress(t *testing.T) {
	set := transport.PacketSet{udp.New()}
	tr, err := set.For(ma.StringCast("/ip4/127.0.0.1/udp/9"))
	require.NoError(t, err)
	require.IsType(t, &udp.Transport{}, tr)
	_, err = set.For(ma.StringCast("/ip4/127.0.0.1/tcp/9"))
	require.ErrorIs(t, err, transport.ErrNoTransport)
}

// run is n datagrams of size bytes and one of last bytes, each filled
// with its index, as one buffer.
func run(n, size, last int) []byte {
	var b []byte
	for i := range n + 1 {
		k := size
		if i == n {
			k = last
		}
		b = append(b, bytes.Repeat([]byte{byte(i)}, k)...)
	}
	return b
}

// readRun reads the datagrams of run(n, size, last) from c, in order.
func readRun(t *testing.T, c net.PacketConn, from net.Addr, n, size, last int) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 2*size)
	for i := range n + 1 {
		k, addr, err := c.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, from.String(), addr.String())
		want := size
		if i == n {
			want = last
		}
		require.Equal(t, bytes.Repeat([]byte{byte(i)}, want), buf[:k], "datagram %d", i)
	}
}

// A run of equal datagrams leaves as the datagrams it holds: with the
// kernel's segmentation offload (150 of them take three system calls of
// at most 64), without it, and through a conn that lacks the ability.
func TestSegmentRunsArriveAsDatagrams(t *testing.T) {
	for _, f := range families(t) {
		t.Run(f.name, func(t *testing.T) {
			a, b, aAddr, bAddr := pair(t, udp.New(), f.listen)
			ua := a.(*udp.Conn)
			require.NoError(t, ua.SetWriteBuffer(1<<20))
			require.NoError(t, b.(*udp.Conn).SetReadBuffer(1<<20))
			offload := udp.Segmenting(ua)
			t.Logf("segmentation offload: %v", offload)

			require.NoError(t, ua.WriteSegments(run(150, 1000, 123), 1000, bAddr))
			readRun(t, b, aAddr, 150, 1000, 123)
			require.Equal(t, offload, udp.Segmenting(ua), "the offload, where there, keeps working")

			udp.SetSegmenting(ua, false)
			require.NoError(t, ua.WriteSegments(run(70, 500, 500), 500, bAddr))
			readRun(t, b, aAddr, 70, 500, 500)

			require.NoError(t, transport.WriteSegments(plain{a}, run(3, 200, 1), 200, bAddr))
			readRun(t, b, aAddr, 3, 200, 1)

			require.Error(t, transport.WriteSegments(plain{a}, run(3, 200, 1), 0, bAddr))
		})
	}
}
