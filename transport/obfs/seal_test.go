package obfs

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
)

func TestSealOpensOnlyWithTheSameKeyAndPrefix(t *testing.T) {
	k := networkKey([]byte("sixteen byte key"))
	other := networkKey([]byte("another key, too"))
	h := header{sender: 7, seq: 1<<32 | 3}
	d, err := k.seal(nil, nil, h, []byte("hello"), false, rand.Reader)
	require.NoError(t, err)
	require.Len(t, d, Overhead+5)

	scratch := make([]byte, len(d))
	gh, p, err := k.open(scratch, d, nil)
	require.NoError(t, err)
	require.Equal(t, h, gh)
	require.Equal(t, "hello", string(p))

	_, _, err = other.open(scratch, d, nil)
	require.ErrorIs(t, err, errOpen)
	_, _, err = k.open(scratch, d, []byte("prefix"))
	require.ErrorIs(t, err, errOpen)
	for i := range d { // every byte is covered
		bad := bytes.Clone(d)
		bad[i] ^= 1
		_, _, err = k.open(scratch, bad, nil)
		require.ErrorIs(t, err, errOpen, "byte %d flipped", i)
	}
	_, _, err = k.open(scratch, d, nil)
	require.NoError(t, err, "a failed open leaves the datagram intact")
}

func TestPaddingRoundsUpToFixedSizes(t *testing.T) {
	k := networkKey([]byte("sixteen byte key"))
	for _, n := range []int{0, 1, 200, 256 - Overhead, 256 - Overhead + 1, 1000, 1300, 1452 - Overhead, 1452 - Overhead + 1, 4000} {
		d, err := k.seal(nil, nil, header{}, make([]byte, n), true, rand.Reader)
		require.NoError(t, err)
		require.Equal(t, padTo(n+Overhead), len(d), "payload %d", n)
		if n+Overhead <= 1452 {
			require.Contains(t, padSizes[:], len(d))
		}
		_, p, err := k.open(make([]byte, len(d)), d, nil)
		require.NoError(t, err)
		require.Len(t, p, n)
	}
}

func TestIdentityKeysAgree(t *testing.T) {
	r, _ := btcec.NewPrivateKey()
	for range 20 { // both parities of the ephemeral's y
		ell, x, err := initiate(r.PubKey(), rand.Reader)
		require.NoError(t, err)
		rx, err := respond(ell, r)
		require.NoError(t, err)
		require.Equal(t, x, rx)
	}
	other, _ := btcec.NewPrivateKey()
	ell, x, err := initiate(r.PubKey(), rand.Reader)
	require.NoError(t, err)
	ox, err := respond(ell, other)
	require.NoError(t, err)
	require.NotEqual(t, x, ox, "only the responder the initiator meant derives its key")
}

// Nothing on the wire is fixed: over many datagrams of one payload, every
// byte position takes many values (a cleartext header or a constant
// length field would not).
func TestNoBytePositionIsFixed(t *testing.T) {
	r, _ := btcec.NewPrivateKey()
	ell, x, err := initiate(r.PubKey(), rand.Reader)
	require.NoError(t, err)
	ik := identityKey(x, ell, r.PubKey(), nil)
	nk := networkKey([]byte("sixteen byte key"))
	conn, err := New(nopConn{}, Config{NetworkKey: []byte("sixteen byte key"), PadPackets: true}) // nonces from its ChaCha8
	require.NoError(t, err)
	to := &net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: 1}
	for name, seal := range map[string]func() []byte{
		"conn": func() []byte {
			d, _ := conn.seal(nil, []byte("same payload"), to)
			return d
		},
		"network": func() []byte {
			d, _ := nk.seal(nil, nil, header{sender: 1, seq: 1 << 32}, []byte("same payload"), true, rand.Reader)
			return d
		},
		"initiator": func() []byte {
			ell, x, _ := initiate(r.PubKey(), rand.Reader) // a new initiator each time
			k := identityKey(x, ell, r.PubKey(), nil)
			d, _ := k.seal(nil, ell[:], header{sender: 1, seq: 1 << 32}, []byte("same payload"), true, rand.Reader)
			return d
		},
		"responder": func() []byte {
			d, _ := ik.seal(nil, nil, header{sender: 1, seq: 1 << 32}, []byte("same payload"), true, rand.Reader)
			return d
		},
	} {
		const count = 400
		values := make([]map[byte]bool, 256)
		for i := range values {
			values[i] = map[byte]bool{}
		}
		for range count {
			d := seal()
			require.Len(t, d, 256)
			for i, b := range d {
				values[i][b] = true
			}
		}
		for i := range values {
			// 400 uniform draws of a byte take about 200 values; a
			// fixed byte takes 1.
			require.Greater(t, len(values[i]), 150, "%s: byte %d", name, i)
		}
	}
}

// counting is a Config.Rand whose stream is 0, 1, 2, ... (mod 256).
type counting struct{ next byte }

func (c *counting) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.next
		c.next++
	}
	return len(p), nil
}

// With Config.Rand set, every nonce is read from it (the vectors and
// tests rely on that); without, nonces come from the Conn's own
// generator, and no two conns share a nonce.
func TestNoncesComeFromConfigRandOrTheConnsOwnGenerator(t *testing.T) {
	to := &net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: 1}
	c, err := New(nopConn{}, Config{NetworkKey: []byte("sixteen byte key"), Rand: &counting{}})
	require.NoError(t, err) // the sender id took bytes 0-7
	for i := range 3 {
		d, err := c.seal(nil, []byte("x"), to)
		require.NoError(t, err)
		want := make([]byte, nonceSize)
		(&counting{next: byte(8 + i*nonceSize)}).Read(want)
		require.Equal(t, want, d[:nonceSize], "datagram %d", i)
	}

	seen := map[[nonceSize]byte]bool{}
	for range 2 {
		c, err := New(nopConn{}, Config{NetworkKey: []byte("sixteen byte key")})
		require.NoError(t, err)
		for range 1000 {
			d, err := c.seal(nil, []byte("x"), to)
			require.NoError(t, err)
			n := [nonceSize]byte(d[:nonceSize])
			require.False(t, seen[n], "a nonce repeated")
			seen[n] = true
		}
	}
}

// FuzzOpen feeds the decoder arbitrary datagrams, seeded with genuine
// ones of every kind: it must never panic, accept a datagram at most
// once, and never return more than the datagram carried.
func FuzzOpen(f *testing.F) {
	id, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	psk := []byte("sixteen byte key")
	recv, err := New(nopConn{}, Config{NetworkKey: psk, Identity: id})
	require.NoError(f, err)
	send, err := New(nopConn{}, Config{NetworkKey: psk, Identity: id})
	require.NoError(f, err)
	require.NoError(f, send.AddPeer(fuzzDialled, id.PubKey()))
	for _, to := range []fakeAddr{fuzzDialled, "10.0.0.9:1"} {
		for _, n := range []int{0, 1, 100, 1400} {
			for _, pad := range []bool{false, true} {
				send.cfg.PadPackets = pad
				d, err := send.seal(nil, make([]byte, n), to)
				require.NoError(f, err)
				f.Add(d)
			}
		}
	}
	f.Add([]byte{})
	f.Add(make([]byte, InitiatorOverhead))
	f.Fuzz(func(t *testing.T, d []byte) {
		scratch := make([]byte, len(d))
		p, ok := recv.open(scratch, d, fakeAddr("10.0.0.1:1"))
		if !ok {
			return
		}
		require.LessOrEqual(t, len(p), len(d)-Overhead)
		_, again := recv.open(scratch, d, fakeAddr("10.0.0.2:2"))
		require.False(t, again, "a datagram is accepted once, from any address")
	})
}

// countingAEAD counts the Open calls of the AEAD it wraps.
type countingAEAD struct {
	cipher.AEAD
	opens *int
}

func (a countingAEAD) Open(dst, nonce, ct, ad []byte) ([]byte, error) {
	*a.opens++
	return a.AEAD.Open(dst, nonce, ct, ad)
}

// An initiator's datagrams, once its key is agreed, cost the responder
// one AEAD open each: the key its ell selects is tried first, before the
// network key and the key learned for its address (which cannot open
// them). Before, each took three.
func TestAnInitiatorsDatagramsAreOpenedOnce(t *testing.T) {
	id, _ := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	psk := []byte("sixteen byte key")
	recv, err := New(nopConn{}, Config{NetworkKey: psk, Identity: id})
	require.NoError(t, err)
	send, err := New(nopConn{}, Config{NetworkKey: psk})
	require.NoError(t, err)
	to, from := fakeAddr("10.0.0.8:1"), fakeAddr("10.0.0.9:1")
	require.NoError(t, send.AddPeer(to, id.PubKey()))

	d, err := send.seal(nil, []byte("hello"), to)
	require.NoError(t, err)
	p, ok := recv.open(make([]byte, len(d)), d, from)
	require.True(t, ok)
	require.Equal(t, "hello", string(p))
	require.Equal(t, uint64(1), recv.ecdhs.Load())

	opens := 0
	count := func(k key) key { return key{countingAEAD{k.aead, &opens}} }
	recv.mu.Lock()
	require.Len(t, recv.ells, 1)
	for e, k := range recv.ells {
		recv.ells[e] = count(k)
	}
	ak := keyOf(from)
	require.Contains(t, recv.learned, ak)
	recv.learned[ak] = count(recv.learned[ak])
	recv.mu.Unlock()
	c := count(*recv.psk)
	recv.psk = &c

	const n = 10
	for i := range n {
		d, err := send.seal(nil, fmt.Appendf(nil, "datagram %d", i), to)
		require.NoError(t, err)
		p, ok := recv.open(make([]byte, len(d)), d, from)
		require.True(t, ok)
		require.Equal(t, fmt.Sprintf("datagram %d", i), string(p))
	}
	require.Equal(t, n, opens, "AEAD opens for %d datagrams", n)
	require.Equal(t, uint64(1), recv.ecdhs.Load(), "no new key agreement")
}

const fuzzDialled = fakeAddr("10.0.0.8:1")

type fakeAddr string

func (a fakeAddr) Network() string { return "udp" }
func (a fakeAddr) String() string  { return string(a) }

// nopConn is an inner conn for tests that call seal and open directly.
type nopConn struct{ net.PacketConn }

func (nopConn) LocalAddr() net.Addr { return fakeAddr("127.0.0.1:1") }

// BenchmarkOpen is the receive side's cost per datagram: authenticate,
// decrypt, check the clock and the replay window (each datagram is new).
func BenchmarkOpen(b *testing.B) {
	for _, size := range []int{64, 1200} {
		b.Run(fmt.Sprintf("%d bytes", size), func(b *testing.B) {
			cfg := Config{NetworkKey: []byte("sixteen byte key")}
			send, err := New(nopConn{}, cfg)
			require.NoError(b, err)
			recv, err := New(nopConn{}, cfg)
			require.NoError(b, err)
			const distinct = 1 << 12
			ds := make([][]byte, distinct)
			from := &net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: 1} // what udp and natsim give
			scratch := make([]byte, 2048)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%distinct == 0 { // fresh datagrams, sealed off the clock
					b.StopTimer()
					for j := range ds {
						ds[j], _ = send.seal(nil, make([]byte, size), from)
					}
					b.StartTimer()
				}
				if _, ok := recv.open(scratch, ds[i%distinct], from); !ok {
					b.Fatal("a genuine datagram was dropped")
				}
				i++
			}
		})
	}
}

// BenchmarkSeal is the send side's cost per datagram: look up the key,
// number the datagram, draw a nonce (Config.Rand nil: the Conn's ChaCha8;
// crypto/rand: a read of it each) and encrypt.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{64, 1200} {
		for _, src := range []struct {
			name string
			rand io.Reader
		}{{"chacha8 nonces", nil}, {"crypto-rand nonces", rand.Reader}} {
			b.Run(fmt.Sprintf("%d bytes, %s", size, src.name), func(b *testing.B) {
				c, err := New(nopConn{}, Config{NetworkKey: []byte("sixteen byte key"), Rand: src.rand})
				require.NoError(b, err)
				to := &net.UDPAddr{IP: net.IP{10, 0, 0, 1}, Port: 1}
				payload, buf := make([]byte, size), make([]byte, 0, 2048)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.seal(buf, payload, to); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRespond is a responder's key agreement with a new initiator
// (what MaxKeyAgreements bounds).
func BenchmarkRespond(b *testing.B) {
	r, _ := btcec.NewPrivateKey()
	ell, _, _ := initiate(r.PubKey(), rand.Reader)
	for b.Loop() {
		respond(ell, r)
	}
}
