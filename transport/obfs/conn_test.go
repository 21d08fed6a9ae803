package obfs_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/internal/natsim"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
	"github.com/foxtrotnet/foxtrot/transport/udp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var psk = []byte("the network's shared secret key")

// listen opens a loopback UDP socket, closed at cleanup.
func listen(t testing.TB) transport.PacketConn {
	t.Helper()
	c, err := udp.New().ListenPacket(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func wrap(t testing.TB, inner net.PacketConn, cfg obfs.Config) *obfs.Conn {
	t.Helper()
	c, err := obfs.New(inner, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func key(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return k
}

func read(t testing.TB, c net.PacketConn) (string, net.Addr) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 2048)
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err)
	return string(buf[:n]), from
}

// pingPong sends msg from a to b and back.
func pingPong(t testing.TB, a, b net.PacketConn, msg string) {
	t.Helper()
	_, err := a.WriteTo([]byte(msg), b.LocalAddr())
	require.NoError(t, err)
	got, from := read(t, b)
	require.Equal(t, msg, got)
	require.Equal(t, a.LocalAddr().String(), from.String())
	_, err = b.WriteTo([]byte("re: "+msg), from)
	require.NoError(t, err)
	got, _ = read(t, a)
	require.Equal(t, "re: "+msg, got)
}

func TestDatagramsTravelBothWays(t *testing.T) {
	bKey := key(t)
	for _, tc := range []struct {
		name       string
		a, b       obfs.Config
		byIdentity bool
	}{
		{"network key", obfs.Config{NetworkKey: psk}, obfs.Config{NetworkKey: psk}, false},
		{"network key, padded", obfs.Config{NetworkKey: psk, PadPackets: true}, obfs.Config{NetworkKey: psk, PadPackets: true}, false},
		{"identity", obfs.Config{Identity: key(t)}, obfs.Config{Identity: bKey}, true},
		{"identity and network key", obfs.Config{NetworkKey: psk, Identity: key(t)}, obfs.Config{NetworkKey: psk, Identity: bKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := wrap(t, listen(t), tc.a), wrap(t, listen(t), tc.b)
			if tc.byIdentity {
				require.NoError(t, a.AddPeer(b.LocalAddr(), bKey.PubKey()))
			}
			for i := range 5 {
				pingPong(t, a, b, fmt.Sprintf("ping %d", i))
			}
			require.Equal(t, uint64(5), b.Stats().Received)
			require.Zero(t, b.Stats().Unauthenticated+b.Stats().Replayed+b.Stats().Stale)
		})
	}
}

// recorder keeps a copy of every datagram written through it.
type recorder struct {
	net.PacketConn
	mu   sync.Mutex
	sent [][]byte
}

func (r *recorder) WriteTo(p []byte, addr net.Addr) (int, error) {
	r.mu.Lock()
	r.sent = append(r.sent, bytes.Clone(p))
	r.mu.Unlock()
	return r.PacketConn.WriteTo(p, addr)
}

func TestWrongKeysGetNoAnswer(t *testing.T) {
	bKey := key(t)
	b := wrap(t, listen(t), obfs.Config{NetworkKey: psk, Identity: bKey})
	wrongPSK := wrap(t, listen(t), obfs.Config{NetworkKey: []byte("some other network's key")})
	wrongID := wrap(t, listen(t), obfs.Config{NetworkKey: psk, Identity: key(t)})
	require.NoError(t, wrongID.AddPeer(b.LocalAddr(), key(t).PubKey())) // not b's key
	noPSK := wrap(t, listen(t), obfs.Config{Identity: key(t)})
	require.NoError(t, noPSK.AddPeer(b.LocalAddr(), bKey.PubKey())) // b's key, but not the network's
	for _, c := range []*obfs.Conn{wrongPSK, wrongID, noPSK} {
		_, err := c.WriteTo([]byte("let me in"), b.LocalAddr())
		require.NoError(t, err)
	}
	good := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	pingPong(t, good, b, "after them") // b read and dropped the three before this one
	require.Equal(t, uint64(3), b.Stats().Unauthenticated)
	require.Equal(t, uint64(1), b.Stats().Received)
}

func TestWritingToAnUnkeyedAddressFails(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{Identity: key(t)})
	_, err := a.WriteTo([]byte("x"), listen(t).LocalAddr())
	require.ErrorIs(t, err, obfs.ErrNoKey)
}

func TestConfigIsValidated(t *testing.T) {
	for _, cfg := range []obfs.Config{
		{},
		{NetworkKey: []byte("short")},
		{NetworkKey: psk, MaxSenders: -1},
	} {
		_, err := obfs.New(listen(t), cfg)
		require.ErrorIs(t, err, obfs.ErrConfig)
	}
}

// A datagram whose sender's clock is too far from the receiver's is
// dropped as stale; within MaxClockSkew it passes.
func TestDatagramsFromAnotherTimeAreStale(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		offset time.Duration
		stale  bool
	}{
		{-time.Minute - 2*time.Minute - time.Second, true}, // older than an epoch plus the skew
		{-2 * time.Minute, false},
		{2 * time.Minute, false},
		{2*time.Minute + 2*time.Second, true},
	} {
		t.Run(tc.offset.String(), func(t *testing.T) {
			a := wrap(t, listen(t), obfs.Config{NetworkKey: psk, Now: func() time.Time { return now.Add(tc.offset) }})
			b := wrap(t, listen(t), obfs.Config{NetworkKey: psk, Now: func() time.Time { return now }})
			good := wrap(t, listen(t), obfs.Config{NetworkKey: psk, Now: func() time.Time { return now }})
			_, err := a.WriteTo([]byte("then"), b.LocalAddr())
			require.NoError(t, err)
			_, err = good.WriteTo([]byte("now"), b.LocalAddr())
			require.NoError(t, err)
			got, _ := read(t, b)
			if tc.stale {
				require.Equal(t, "now", got)
				require.Equal(t, uint64(1), b.Stats().Stale)
			} else {
				require.Equal(t, "then", got)
				got, _ = read(t, b)
				require.Equal(t, "now", got)
			}
		})
	}
}

// recordedPair is a, whose inner conn is a recorder (which hides the UDP
// conn's abilities), and b, on a UDP conn that has ability (a pointer
// to an interface).
func recordedPair(t *testing.T, ability any) (rec *recorder, a, b *obfs.Conn) {
	t.Helper()
	rec = &recorder{PacketConn: listen(t)}
	a = wrap(t, rec, obfs.Config{NetworkKey: psk})
	inner := listen(t)
	require.Implements(t, ability, inner)
	return rec, a, wrap(t, inner, obfs.Config{NetworkKey: psk})
}

func TestBatchesAreObfuscatedToo(t *testing.T) {
	rec, a, b := recordedPair(t, (*transport.BatchConn)(nil))
	// rec hides the UDP conn's batches, so a's batch falls back to WriteTo
	// each, through the recorder.
	const count = 40
	out := make([]transport.Datagram, count)
	for i := range out {
		out[i] = transport.Datagram{Buf: []byte(fmt.Sprintf("datagram %d", i)), Addr: b.LocalAddr()}
	}
	n, err := a.WriteBatch(out)
	require.NoError(t, err)
	require.Equal(t, count, n)
	rec.mu.Lock()
	for i, d := range rec.sent {
		require.NotContains(t, string(d), "datagram", "datagram %d left in the clear", i)
	}
	rec.mu.Unlock()

	in := make([]transport.Datagram, 16)
	for i := range in {
		in[i].Buf = make([]byte, 64)
	}
	var got []string
	require.NoError(t, b.SetReadDeadline(time.Now().Add(10*time.Second)))
	for len(got) < count {
		n, err := b.ReadBatch(in)
		require.NoError(t, err)
		for _, d := range in[:n] {
			got = append(got, string(d.Buf[:d.N]))
			require.Equal(t, a.LocalAddr().String(), d.Addr.String())
		}
	}
	for i := range got {
		require.Equal(t, fmt.Sprintf("datagram %d", i), got[i])
	}

	// And back the other way through the UDP conn's own batches.
	back := []transport.Datagram{{Buf: []byte("one"), Addr: a.LocalAddr()}, {Buf: []byte("two"), Addr: a.LocalAddr()}}
	n, err = b.WriteBatch(back)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	s, _ := read(t, a)
	require.Equal(t, "one", s)
	s, _ = read(t, a)
	require.Equal(t, "two", s)
}

// A run of segments (what quic-go hands over when it packs for
// segmentation offload) leaves as datagrams sealed one by one, each as
// WriteTo would seal it: over a recorder, which lacks the ability, they
// fall back to single writes; over a UDP conn they go out as one run.
func TestSegmentRunsAreObfuscatedToo(t *testing.T) {
	rec, a, b := recordedPair(t, (*transport.SegmentConn)(nil))

	const count, size = 20, 100
	segments := func(tag string) []byte {
		var r []byte
		for i := range count {
			r = append(r, fmt.Sprintf("%s %-*d", tag, size-len(tag)-1, i)...)
		}
		return append(r, tag+" end"...)
	}
	readAll := func(c net.PacketConn, from net.Addr, tag string) {
		t.Helper()
		for i := range count {
			got, addr := read(t, c)
			require.Equal(t, fmt.Sprintf("%s %-*d", tag, size-len(tag)-1, i), got)
			require.Equal(t, from.String(), addr.String())
		}
		got, _ := read(t, c)
		require.Equal(t, tag+" end", got)
	}

	require.NoError(t, a.WriteSegments(segments("out"), size, b.LocalAddr()))
	readAll(b, a.LocalAddr(), "out")
	rec.mu.Lock()
	require.Len(t, rec.sent, count+1)
	for i, d := range rec.sent {
		require.NotContains(t, string(d), "out", "datagram %d left in the clear", i)
		if i < count {
			require.Len(t, d, size+obfs.Overhead, "every full segment seals to one size")
		}
	}
	rec.mu.Unlock()

	require.NoError(t, b.WriteSegments(segments("back"), size, a.LocalAddr()))
	readAll(a, b.LocalAddr(), "back")
	require.Equal(t, uint64(2*(count+1)), a.Stats().Sent+b.Stats().Sent)

	unkeyed := wrap(t, listen(t), obfs.Config{Identity: key(t)}) // no key for b
	require.ErrorIs(t, unkeyed.WriteSegments(segments("x"), size, b.LocalAddr()), obfs.ErrNoKey)
	require.Error(t, a.WriteSegments(segments("x"), 0, b.LocalAddr()))
}

func TestCloseUnblocksReadAndIsIdempotent(t *testing.T) {
	a := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	done := make(chan error)
	go func() {
		_, _, err := a.ReadFrom(make([]byte, 10))
		done <- err
	}()
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
	require.NoError(t, a.Close())
}

// The prober of the issue: a node hears 100,000 random datagrams, 10,000
// replays of genuine datagrams it has accepted, and truncated, extended
// and bit-flipped copies of them, all from a stranger's socket. Not one
// byte goes back to the stranger, every datagram is counted as dropped,
// and a genuine peer keeps exchanging datagrams with the node throughout.
func TestProberGetsNothing(t *testing.T) {
	random, replays, mangled := 100_000, 10_000, 10_000
	if testing.Short() {
		random, replays, mangled = 10_000, 1_000, 1_000
	}
	bKey := key(t)
	// A clock that stands still: the ECDHs junk may cost are bounded by
	// MaxKeyAgreements a second (TestKeyAgreementsAreRateLimited), so on
	// a still clock only the first burst is spent and this test's time
	// goes to the drops; and replays stay within the epoch check, so
	// they are caught by the replay window however slow the machine.
	now := time.Now()
	still := func() time.Time { return now }
	for _, tc := range []struct {
		name string
		b    obfs.Config
		peer obfs.Config
	}{
		{"network key", obfs.Config{NetworkKey: psk, Now: still}, obfs.Config{NetworkKey: psk, Now: still}},
		{"identity only", obfs.Config{Identity: bKey, MaxKeyAgreements: 100, Now: still}, obfs.Config{Identity: key(t), Now: still}},
		{"both", obfs.Config{NetworkKey: psk, Identity: bKey, MaxKeyAgreements: 100, Now: still}, obfs.Config{NetworkKey: psk, Identity: key(t), Now: still}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wrap(t, listen(t), tc.b)
			// b echoes whatever it accepts, until it is closed.
			echoed := make(chan struct{})
			go func() {
				defer close(echoed)
				buf := make([]byte, 2048)
				for {
					n, from, err := b.ReadFrom(buf)
					if err != nil {
						return
					}
					if _, err := b.WriteTo(buf[:n], from); err != nil && errors.Is(err, net.ErrClosed) {
						return
					}
				}
			}()
			t.Cleanup(func() { b.Close(); <-echoed })

			rec := &recorder{PacketConn: listen(t)}
			peer := wrap(t, rec, tc.peer)
			if tc.b.Identity != nil {
				require.NoError(t, peer.AddPeer(b.LocalAddr(), bKey.PubKey()))
			}
			round := 0
			echo := func() { // one exchange with b, which has then read all sent before
				t.Helper()
				msg := fmt.Sprintf("round %d", round)
				round++
				_, err := peer.WriteTo([]byte(msg), b.LocalAddr())
				require.NoError(t, err)
				got, _ := read(t, peer)
				require.Equal(t, msg, got)
			}
			for range 100 {
				echo()
			}
			rec.mu.Lock()
			genuine := rec.sent
			rec.mu.Unlock()

			prober := listen(t)
			rng := mrand.New(mrand.NewPCG(1, 2))
			sent := 0
			send := func(d []byte) {
				_, err := prober.WriteTo(d, b.LocalAddr())
				require.NoError(t, err)
				sent++
				if sent%64 == 0 { // paced so that no socket buffer overflows
					echo()
				}
			}
			for range random {
				d := make([]byte, 1+rng.IntN(1500))
				rand.Read(d)
				send(d)
			}
			for i := range replays {
				send(genuine[i%len(genuine)])
			}
			for i := range mangled {
				g := genuine[i%len(genuine)]
				switch i % 3 {
				case 0:
					send(g[:rng.IntN(len(g))])
				case 1:
					extra := make([]byte, 1+rng.IntN(64))
					rand.Read(extra)
					send(append(bytes.Clone(g), extra...))
				default:
					d := bytes.Clone(g)
					d[rng.IntN(len(d))] ^= 1 << rng.IntN(8)
					send(d)
				}
			}
			echo()

			st := b.Stats()
			require.Equal(t, uint64(sent), st.Unauthenticated+st.Replayed+st.Stale, "%+v", st)
			require.GreaterOrEqual(t, st.Replayed, uint64(replays))
			require.Equal(t, uint64(round), st.Received, "every genuine datagram, and nothing else, reached b's reader")

			// b has read everything the prober sent (the last echo came
			// after it); anything b sent the prober would be queued on
			// loopback by now.
			require.NoError(t, prober.SetReadDeadline(time.Now()))
			n, _, err := prober.ReadFrom(make([]byte, 2048))
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.Zero(t, n, "bytes came back to the prober")
			t.Logf("%s: %d probes, %+v", tc.name, sent, st)
		})
	}
}

func BenchmarkWrap(b *testing.B) {
	for _, size := range []int{64, 1200} {
		b.Run(fmt.Sprintf("seal and write %d bytes", size), func(b *testing.B) {
			a := wrap(b, discard{}, obfs.Config{NetworkKey: psk})
			payload := make([]byte, size)
			to := &net.UDPAddr{IP: net.IP{127, 0, 0, 1}, Port: 9}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ReportMetric(obfs.Overhead, "overhead-bytes")
			for b.Loop() {
				if _, err := a.WriteTo(payload, to); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discard is an inner conn that drops what is written.
type discard struct{ net.PacketConn }

func (discard) WriteTo(p []byte, _ net.Addr) (int, error) { return len(p), nil }
func (discard) LocalAddr() net.Addr                       { return &net.UDPAddr{} }
func (discard) Close() error                              { return nil }

// Junk that might be a new initiator's first datagram costs an ECDH; a
// flood of it spends at most MaxKeyAgreements a second. A new initiator
// caught in the flood gets through once the limit refills; a known one is
// never held up.
func TestKeyAgreementsAreRateLimited(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	bKey := key(t)
	b := wrap(t, listen(t), obfs.Config{Identity: bKey, MaxKeyAgreements: 5, Now: clock})
	known := wrap(t, listen(t), obfs.Config{Identity: key(t), Now: clock})
	require.NoError(t, known.AddPeer(b.LocalAddr(), bKey.PubKey()))
	pingPong(t, known, b, "before the flood")

	junk := listen(t)
	for range 20 {
		d := make([]byte, 300)
		rand.Read(d)
		_, err := junk.WriteTo(d, b.LocalAddr())
		require.NoError(t, err)
	}
	pingPong(t, known, b, "during the flood") // b has read the junk
	st := b.Stats()
	require.Equal(t, uint64(1+4), st.KeyAgreements, "the known peer's one, then the rest of the burst")
	require.Equal(t, uint64(16), st.KeyAgreementsRefused)

	late := wrap(t, listen(t), obfs.Config{Identity: key(t), Now: clock})
	require.NoError(t, late.AddPeer(b.LocalAddr(), bKey.PubKey()))
	_, err := late.WriteTo([]byte("refused"), b.LocalAddr())
	require.NoError(t, err)
	pingPong(t, known, b, "still flooded")
	require.Equal(t, uint64(17), b.Stats().KeyAgreementsRefused)

	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	pingPong(t, late, b, "a second later")
}

// quic-go takes a conn with SyscallConn, ReadMsgUDP and WriteMsgUDP for a
// UDP socket it may read and write directly, past the wrapper; a Conn must
// not look like one, even over a *net.UDPConn.
func TestConnDoesNotLetQUICBypassIt(t *testing.T) {
	c := wrap(t, listen(t), obfs.Config{NetworkKey: psk})
	_, ok := any(c).(interface {
		SyscallConn() (syscall.RawConn, error)
	})
	require.False(t, ok)
	_, ok = any(c).(interface {
		ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error)
	})
	require.False(t, ok)
	require.NoError(t, c.SetReadBuffer(1<<16), "buffer sizes still reach the socket")
}

// Obfuscated datagrams cross NATs as plain ones do: two nodes behind NATs
// learn their public addresses from a rendezvous node, dial each other by
// identity and punch through, where the NATs allow it at all.
func TestObfuscatedDatagramsPunchThroughNATs(t *testing.T) {
	for _, tc := range []struct {
		a, b natsim.Behaviour
		ok   bool
	}{
		{natsim.PortRestrictedCone, natsim.PortRestrictedCone, true},
		{natsim.Symmetric, natsim.RestrictedCone, true},
		{natsim.Symmetric, natsim.Symmetric, false},
	} {
		t.Run(tc.a.Name+" to "+tc.b.Name, func(t *testing.T) {
			n := natsim.New(natsim.Config{})
			open := func(h *natsim.Host, cfg obfs.Config) *obfs.Conn {
				pc, err := h.ListenPacket(0)
				require.NoError(t, err)
				return wrap(t, pc, cfg)
			}
			aKey, bKey := key(t), key(t)
			rv := open(n.Host(netip.MustParseAddr("203.0.113.1")), obfs.Config{NetworkKey: psk})
			natA := n.NAT(netip.MustParseAddr("198.51.100.1"), tc.a)
			natB := n.NAT(netip.MustParseAddr("198.51.100.2"), tc.b)
			a := open(natA.Host(netip.MustParseAddr("10.0.0.2")), obfs.Config{NetworkKey: psk, Identity: aKey})
			b := open(natB.Host(netip.MustParseAddr("10.1.0.2")), obfs.Config{NetworkKey: psk, Identity: bKey})

			_, err := a.WriteTo([]byte("a"), rv.LocalAddr())
			require.NoError(t, err)
			_, err = b.WriteTo([]byte("b"), rv.LocalAddr())
			require.NoError(t, err)
			_, aPub := read(t, rv)
			_, bPub := read(t, rv)
			require.NoError(t, a.AddPeer(bPub, bKey.PubKey()))
			require.NoError(t, b.AddPeer(aPub, aKey.PubKey()))

			for range 2 {
				_, err = a.WriteTo([]byte("punch from a"), bPub)
				require.NoError(t, err)
				_, err = b.WriteTo([]byte("punch from b"), aPub)
				require.NoError(t, err)
			}
			// natsim delivers synchronously and hands out what is queued
			// even past a deadline: drain without waiting.
			drain := func(c *obfs.Conn) (got []string, from net.Addr) {
				require.NoError(t, c.SetReadDeadline(time.Now()))
				defer c.SetReadDeadline(time.Time{})
				buf := make([]byte, 100)
				for {
					n, addr, err := c.ReadFrom(buf)
					if err != nil {
						require.ErrorIs(t, err, os.ErrDeadlineExceeded)
						return got, from
					}
					got, from = append(got, string(buf[:n])), addr
				}
			}
			gotA, fromB := drain(a)
			gotB, fromA := drain(b)
			if fromA != nil && len(gotA) == 0 { // b heard a from a new port: answer there
				require.NoError(t, b.AddPeer(fromA, aKey.PubKey()))
				_, err = b.WriteTo([]byte("answer from b"), fromA)
				require.NoError(t, err)
				gotA, _ = drain(a)
			}
			_ = fromB
			require.Equal(t, tc.ok, len(gotA) > 0 && len(gotB) > 0, "a heard %q, b heard %q", gotA, gotB)
			if !tc.ok {
				require.Positive(t, natA.Stats().Filtered+natB.Stats().Filtered)
			}
			require.Zero(t, a.Stats().Unauthenticated+b.Stats().Unauthenticated)
		})
	}
}

func TestTransportListensObfuscated(t *testing.T) {
	_, err := obfs.NewTransport(udp.New(), obfs.Config{})
	require.ErrorIs(t, err, obfs.ErrConfig)
	tr, err := obfs.NewTransport(udp.New(), obfs.Config{NetworkKey: psk, PadPackets: true})
	require.NoError(t, err)
	listenObfs := func() *obfs.Conn {
		pc, err := tr.ListenPacket(ma.StringCast("/ip4/127.0.0.1/udp/0"))
		require.NoError(t, err)
		t.Cleanup(func() { pc.Close() })
		require.True(t, tr.Match(pc.Multiaddr()))
		return pc.(*obfs.Conn)
	}
	a, b := listenObfs(), listenObfs()
	raw := listen(t)
	to, err := tr.ResolveAddr(b.Multiaddr())
	require.NoError(t, err)
	require.Equal(t, b.LocalAddr().String(), to.String())
	pingPong(t, a, b, "through the transport")
	_, err = raw.WriteTo([]byte("plain"), to)
	require.NoError(t, err)
	pingPong(t, a, b, "after a plain datagram")
	require.Equal(t, uint64(1), b.Stats().Unauthenticated)
}
