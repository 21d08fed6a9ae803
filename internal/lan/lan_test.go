package lan

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func beacon(t testing.TB, addrs ...string) Beacon {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	b := Beacon{Key: k.PubKey()}
	for _, s := range addrs {
		b.Addrs = append(b.Addrs, ma.StringCast(s))
	}
	return b
}

func TestBeaconRoundTripsPlainAndSealed(t *testing.T) {
	b := beacon(t, "/ip4/192.168.1.7/tcp/7000", "/ip4/0.0.0.0/udp/7001")
	netKey := []byte("a network key of 32 bytes long!!")
	for _, key := range [][]byte{nil, netKey} {
		p, err := Encode(b, key)
		require.NoError(t, err)
		got, err := Decode(p, key)
		require.NoError(t, err)
		require.True(t, got.Key.IsEqual(b.Key))
		require.Equal(t, len(b.Addrs), len(got.Addrs))
		for i := range b.Addrs {
			require.True(t, b.Addrs[i].Equal(got.Addrs[i]))
		}
	}
	sealed, err := Encode(b, netKey)
	require.NoError(t, err)
	require.False(t, bytes.Contains(sealed, b.Key.SerializeCompressed()), "a sealed beacon does not show the key")
	_, err = Decode(sealed, []byte("another network key, 32 bytes.."))
	require.ErrorIs(t, err, ErrMalformed, "another network's beacon")
	_, err = Decode(sealed, nil)
	require.ErrorIs(t, err, ErrMalformed, "a sealed beacon read as plain")
	plain, err := Encode(b, nil)
	require.NoError(t, err)
	_, err = Decode(plain, netKey)
	require.ErrorIs(t, err, ErrMalformed, "a plain beacon on a network with a key")
}

func TestMalformedBeaconsAreRefused(t *testing.T) {
	plain, err := Encode(beacon(t, "/ip4/10.0.0.1/tcp/1"), nil)
	require.NoError(t, err)
	cases := map[string][]byte{
		"empty":      nil,
		"no magic":   append([]byte("FXL0"), plain[4:]...),
		"truncated":  plain[:len(plain)-1],
		"trailing":   append(append([]byte{}, plain...), 0),
		"bad key":    append(append([]byte("FXL1"), 0x07), plain[5:]...),
		"oversize":   append(append([]byte{}, plain...), make([]byte, MaxBeacon)...),
		"many addrs": append(append([]byte{}, plain[:4+33]...), MaxAddrs+1),
	}
	for name, p := range cases {
		_, err := Decode(p, nil)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestEncodeLeavesOutWhatDoesNotFit(t *testing.T) {
	var addrs []string
	for i := range MaxAddrs + 3 {
		addrs = append(addrs, "/ip4/10.0.0.1/tcp/"+string(rune('1'+i%9)))
	}
	b := beacon(t, addrs...)
	p, err := Encode(b, nil)
	require.NoError(t, err)
	got, err := Decode(p, nil)
	require.NoError(t, err)
	require.Len(t, got.Addrs, MaxAddrs)
}

func FuzzDecode(f *testing.F) {
	b := beacon(f, "/ip4/192.168.1.7/tcp/7000", "/ip6/::1/udp/9")
	netKey := []byte("a network key of 32 bytes long!!")
	plain, _ := Encode(b, nil)
	sealed, _ := Encode(b, netKey)
	f.Add(plain, false)
	f.Add(sealed, true)
	f.Add([]byte("FXL1"), false)
	f.Fuzz(func(t *testing.T, p []byte, keyed bool) {
		var key []byte
		if keyed {
			key = netKey
		}
		got, err := Decode(p, key)
		if err != nil {
			return
		}
		if len(got.Addrs) > MaxAddrs {
			t.Fatalf("%d addresses", len(got.Addrs))
		}
		again, err := Encode(got, key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(again, key)
		if err != nil || !back.Key.IsEqual(got.Key) || len(back.Addrs) != len(got.Addrs) {
			t.Fatalf("re-encoded beacon does not read back: %v", err)
		}
	})
}

// bus is a segment in memory: what one member writes, every member
// (the writer too, as IP_MULTICAST_LOOP does) reads.
type bus struct {
	mu      sync.Mutex
	members []*busConn
}

type busConn struct {
	bus    *bus
	addr   *net.UDPAddr
	in     chan []byte
	closed chan struct{}
	once   sync.Once
}

func (b *bus) join(port int) *busConn {
	c := &busConn{bus: b, addr: &net.UDPAddr{IP: net.IPv4(10, 0, 0, byte(port)), Port: port},
		in: make(chan []byte, 64), closed: make(chan struct{})}
	b.mu.Lock()
	b.members = append(b.members, c)
	b.mu.Unlock()
	return c
}

func (c *busConn) ReadFrom(p []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		return copy(p, d[1:]), &net.UDPAddr{IP: net.IPv4(10, 0, 0, d[0]), Port: int(d[0])}, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *busConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	c.bus.mu.Lock()
	defer c.bus.mu.Unlock()
	for _, m := range c.bus.members {
		select {
		case m.in <- append([]byte{byte(c.addr.Port)}, p...):
		default: // a full queue drops, as a socket buffer does
		}
	}
	return len(p), nil
}

func (c *busConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *busConn) LocalAddr() net.Addr              { return c.addr }
func (c *busConn) SetDeadline(time.Time) error      { return nil }
func (c *busConn) SetReadDeadline(time.Time) error  { return nil }
func (c *busConn) SetWriteDeadline(time.Time) error { return nil }

type found struct {
	b    Beacon
	from net.Addr
}

func start(t *testing.T, conn net.PacketConn, b Beacon, netKey []byte) (*Beaconer, chan found) {
	ch := make(chan found, 16)
	bc, err := Start(Config{Key: b.Key, Addrs: func() []ma.Multiaddr { return b.Addrs }, NetworkKey: netKey,
		Conn: conn, Interval: time.Hour,
		Found: func(b Beacon, from net.Addr) {
			select {
			case ch <- found{b, from}:
			default:
			}
		}})
	require.NoError(t, err)
	t.Cleanup(func() { bc.Close() })
	return bc, ch
}

func waitFound(t *testing.T, ch chan found) found {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no beacon heard")
		return found{}
	}
}

// TestBeaconersOnASegmentHearEachOtherNotThemselves: two nodes on one
// segment each hear the other's beacon (key, addresses and where it came
// from), never their own; a node of another network hears neither.
func TestBeaconersOnASegmentHearEachOtherNotThemselves(t *testing.T) {
	netKey := []byte("a network key of 32 bytes long!!")
	var seg bus
	a, b := beacon(t, "/ip4/0.0.0.0/tcp/7000"), beacon(t, "/ip4/10.0.0.2/udp/7001")
	// All three join before any starts: a Beaconer sends its first
	// beacon as it starts, and the bus delivers only to those already on
	// it (a beacon sent before b joined would never reach b: the next is
	// an hour away).
	strangerConn, connA, connB := seg.join(3), seg.join(1), seg.join(2)
	_, fs := start(t, strangerConn, beacon(t), []byte("another network key, 32 bytes.."))
	_, fa := start(t, connA, a, netKey)
	_, fb := start(t, connB, b, netKey)
	got := waitFound(t, fa)
	require.True(t, got.b.Key.IsEqual(b.Key), "a hears b")
	require.Equal(t, "10.0.0.2:2", got.from.String())
	got = waitFound(t, fb)
	require.True(t, got.b.Key.IsEqual(a.Key), "b hears a")
	require.True(t, got.b.Addrs[0].Equal(a.Addrs[0]))
	// Every beacon has been delivered (delivery is synchronous) by the
	// time both were heard; the stranger heard none of them, and a and b
	// nothing more (their own beacons, or the stranger's).
	require.Empty(t, fs)
	require.Empty(t, fa)
	require.Empty(t, fb)
}

// TestRealMulticast runs two Beaconers on the default group over the
// machine's multicast; it skips where the machine has none.
func TestRealMulticast(t *testing.T) {
	group := &net.UDPAddr{IP: DefaultGroup.IP, Port: 17946}
	mk := func(b Beacon) (chan found, error) {
		ch := make(chan found, 16)
		bc, err := Start(Config{Key: b.Key, Addrs: func() []ma.Multiaddr { return b.Addrs }, Group: group,
			Interval: 200 * time.Millisecond,
			Found: func(b Beacon, from net.Addr) {
				select {
				case ch <- found{b, from}:
				default:
				}
			}})
		if err != nil {
			return nil, err
		}
		t.Cleanup(func() { bc.Close() })
		return ch, nil
	}
	a, b := beacon(t, "/ip4/127.0.0.1/tcp/1"), beacon(t, "/ip4/127.0.0.1/tcp/2")
	fa, err := mk(a)
	if err != nil {
		t.Skipf("no multicast here: %v", err)
	}
	if _, err := mk(b); err != nil {
		t.Skipf("no multicast here: %v", err)
	}
	select {
	case f := <-fa:
		require.True(t, f.b.Key.IsEqual(b.Key))
	case <-time.After(5 * time.Second):
		t.Skip("multicast joins but delivers nothing on this machine")
	}
}
