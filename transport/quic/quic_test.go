package quic_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
	"github.com/foxtrotnet/foxtrot/transport/quic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var netKey = bytes.Repeat([]byte{7}, 32)

func newTransport(t testing.TB, cfg quic.Config) *quic.Transport {
	if cfg.NetworkKey == nil && cfg.Identity == nil {
		cfg.NetworkKey = netKey
	}
	tr, err := quic.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { tr.Close() })
	return tr
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pipe returns a dialled conn and the conn its listener accepted.
func pipe(t testing.TB, a, b *quic.Transport, listen string) (dialled, accepted net.Conn, l transport.Listener) {
	l, err := a.Listen(ma.StringCast(listen))
	require.NoError(t, err)
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	d, err := b.Dial(ctxT(t), l.Multiaddr())
	require.NoError(t, err)
	r := <-ch
	require.NoError(t, r.err)
	return d, r.c, l
}

func TestConnPassesNettest(t *testing.T) {
	for _, listen := range []string{"/ip4/127.0.0.1/udp/0", "/ip6/::1/udp/0"} {
		t.Run(listen, func(t *testing.T) {
			if listen[:4] == "/ip6" {
				if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback")
				} else {
					c.Close()
				}
			}
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				a, err := quic.New(quic.Config{NetworkKey: netKey})
				if err != nil {
					return nil, nil, nil, err
				}
				b, err := quic.New(quic.Config{NetworkKey: netKey})
				if err != nil {
					return nil, nil, nil, err
				}
				d, acc, l := pipe(t, a, b, listen)
				return d, acc, func() {
					d.Close()
					acc.Close()
					l.Close()
					a.Close()
					b.Close()
				}, nil
			})
		})
	}
}

// A Transport dials out of its listening socket, so a peer sees dials
// coming from the address it can reach the node at.
func TestDialUsesTheListeningSocket(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	lb, err := b.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	defer lb.Close()
	_, acc, la := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	defer la.Close()
	require.Equal(t, lb.Addr().String(), acc.RemoteAddr().String())
}

func TestCloseUnblocksReadWriteAndAccept(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	d, _, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	_, acc, l2 := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	defer l2.Close()

	readErr := make(chan error, 1)
	go func() { // nothing is ever written to d
		_, err := d.Read(make([]byte, 1))
		readErr <- err
	}()
	writeErr := make(chan error, 1)
	go func() { // the dialler never reads: the stream's window fills
		_, err := acc.Write(make([]byte, 64<<20))
		writeErr <- err
	}()
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()

	require.NoError(t, d.Close())
	require.ErrorIs(t, <-readErr, net.ErrClosed)
	require.NoError(t, d.Close(), "Close is idempotent")
	_, err := d.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, acc.Close())
	require.ErrorIs(t, <-writeErr, net.ErrClosed)
	_, err = acc.Write([]byte{1})
	require.ErrorIs(t, err, net.ErrClosed)
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-acceptErr, net.ErrClosed)
	require.NoError(t, l.Close(), "Close is idempotent")
	_, err = l.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// Close returns at once, and the data written before it still arrives
// in full, followed by io.EOF: the FIN lingers, it does not discard.
func TestCloseDeliversWhatWasWritten(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	d, acc, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	defer l.Close()
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i * 13)
	}
	go func() {
		d.Write(data)
		d.Close()
	}()
	got, err := io.ReadAll(acc)
	require.NoError(t, err)
	require.Equal(t, data, got)
	require.NoError(t, acc.Close())
}

func TestTransportCloseEndsEverything(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	d, acc, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	readErr := make(chan error, 1)
	go func() {
		_, err := acc.Read(make([]byte, 1))
		readErr <- err
	}()
	acceptErr := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		acceptErr <- err
	}()
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close is idempotent")
	require.Error(t, <-readErr)
	require.ErrorIs(t, <-acceptErr, net.ErrClosed)
	_, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.ErrorIs(t, err, net.ErrClosed)
	d.Close()
}

// Without the network key a dial gets no answer: the handshake times out.
func TestDialWithoutTheNetworkKeyGetsNoAnswer(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{NetworkKey: bytes.Repeat([]byte{8}, 32), HandshakeTimeout: 300 * time.Millisecond})
	l, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	defer l.Close()
	_, err = b.Dial(ctxT(t), l.Multiaddr())
	var op *net.OpError
	require.ErrorAs(t, err, &op)
}

// DialPeer keys the datagrams by the responder's identity: no network key
// on either side.
func TestDialPeerByIdentity(t *testing.T) {
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	dialKey, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	a := newTransport(t, quic.Config{Identity: key})
	b := newTransport(t, quic.Config{Identity: dialKey})
	l, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	_, err = b.Dial(ctxT(t), l.Multiaddr())
	require.ErrorIs(t, err, obfs.ErrNoKey, "no network key: Dial cannot key datagrams")
	var pd quic.PeerDialer = b
	c, err := pd.DialPeer(ctxT(t), l.Multiaddr(), key.PubKey())
	require.NoError(t, err)
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf))
	require.NoError(t, c.Close())
}

func TestConfigNeedsAKey(t *testing.T) {
	_, err := quic.New(quic.Config{})
	require.ErrorIs(t, err, quic.ErrConfig)
	_, err = quic.New(quic.Config{NetworkKey: netKey, Linger: -1})
	require.True(t, errors.Is(err, quic.ErrConfig))
}

func TestMatch(t *testing.T) {
	tr := newTransport(t, quic.Config{})
	require.True(t, tr.Match(ma.StringCast("/ip4/1.2.3.4/udp/5")))
	require.True(t, tr.Match(ma.StringCast("/ip6/::1/udp/5")))
	require.False(t, tr.Match(ma.StringCast("/ip4/1.2.3.4/tcp/5")))
	require.False(t, tr.Match(ma.StringCast("/ip4/1.2.3.4/udp/5/quic-v1")))
}

// Random datagrams, and replays of a genuine dial's datagrams, get no
// answer, and the listener still serves: the QUIC layer never sees them.
func TestJunkAndReplaysGetNoAnswer(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	l, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	defer l.Close()
	target := l.Addr()

	// A genuine dial, its datagrams captured by a relay in the middle.
	relay, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer relay.Close()
	var captured [][]byte
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		buf := make([]byte, 2048)
		var client net.Addr
		for {
			n, from, err := relay.ReadFrom(buf)
			if err != nil {
				return
			}
			d := append([]byte(nil), buf[:n]...)
			if from.String() == target.String() {
				relay.WriteTo(d, client)
				continue
			}
			client = from
			captured = append(captured, d)
			relay.WriteTo(d, target)
		}
	}()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	relayAddr := ma.StringCast("/ip4/127.0.0.1/udp/" + portOf(t, relay.LocalAddr()))
	d, err := b.Dial(ctxT(t), relayAddr)
	require.NoError(t, err)
	acc := <-accepted
	_, err = d.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(acc, make([]byte, 1))
	require.NoError(t, err)
	relay.Close()
	<-relayDone
	require.NotEmpty(t, captured)

	prober, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer prober.Close()
	junk := make([]byte, 1400)
	for i := range 2000 {
		n := 1 + i%len(junk)
		rand.Read(junk[:n])
		_, err := prober.WriteTo(junk[:n], target)
		require.NoError(t, err)
	}
	for _, p := range captured {
		for _, v := range [][]byte{p, p[:len(p)-1], append(append([]byte(nil), p...), 0)} {
			_, err := prober.WriteTo(v, target)
			require.NoError(t, err)
		}
	}

	// The listener still serves a new dial...
	go func() {
		if c, err := l.Accept(); err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	d3, err := b.Dial(ctxT(t), l.Multiaddr())
	require.NoError(t, err)
	defer d3.Close()
	_, err = d3.Write([]byte("y"))
	require.NoError(t, err)
	_, err = io.ReadFull(d3, make([]byte, 1))
	require.NoError(t, err)
	d.Close()
	acc.Close()

	// ...and the prober heard nothing (the dials above took round trips
	// after every probe was sent).
	prober.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, _, err := prober.ReadFrom(make([]byte, 2048))
	require.Zero(t, n)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}

func portOf(t *testing.T, a net.Addr) string {
	_, port, err := net.SplitHostPort(a.String())
	require.NoError(t, err)
	return port
}

// A listener's socket stays while an accepted conn uses it, and the
// Transport's Close releases it.
func TestSocketOutlivesItsListenerUntilClose(t *testing.T) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, quic.Config{})
	d, acc, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	addr := l.Multiaddr()
	require.NoError(t, l.Close())
	_, err := a.Listen(addr)
	require.Error(t, err, "an accepted conn still uses the socket")
	_, err = acc.Write([]byte("z")) // and the conn still works
	require.NoError(t, err)
	_, err = io.ReadFull(d, make([]byte, 1))
	require.NoError(t, err)
	require.NoError(t, a.Close())
	pc, err := net.ListenPacket("udp4", l.Addr().String())
	require.NoError(t, err, "Close released the port")
	pc.Close()
	d.Close()
}

// A conn closed just before its Transport still reaches its peer: the
// Transport closes lingering connections before their sockets, so the
// peer hears of it at once rather than at its idle timeout (30 s).
func TestClosingATransportRightAfterItsConnTellsThePeer(t *testing.T) {
	for i := 0; i < 10; i++ {
		a := newTransport(t, quic.Config{})
		b, err := quic.New(quic.Config{NetworkKey: netKey})
		require.NoError(t, err)
		d, acc, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
		require.NoError(t, d.Close())
		require.NoError(t, b.Close())
		require.NoError(t, acc.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = acc.Read(make([]byte, 1))
		require.Error(t, err)
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "round %d: the peer heard nothing: %v", i, err)
		acc.Close()
		l.Close()
	}
}
