package quic_test

import (
	"context"
	"encoding/hex"
	"io"
	"net"
	"sync"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/quic"
	"github.com/foxtrotnet/foxtrot/transport/tcp"

	"github.com/btcsuite/btcd/btcec/v2"
)

// echoer echoes every stream a peer opens and reports links coming up.
type echoer struct {
	ups chan *peer.Link
}

func (e *echoer) LinkUp(l *peer.Link)                    { e.ups <- l }
func (e *echoer) LinkDown(*peer.Link, error)             {}
func (e *echoer) HandleMessage(*peer.Link, wire.Message) {}
func (e *echoer) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) {
	defer s.Close()
	io.Copy(s, s)
}

func newSet(t *testing.T, tr transport.Transport, h peer.Handler) *peer.Set {
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	s, err := peer.NewSet(peer.Config{Identity: key, NetworkKey: netKey, Transports: transport.Set{tr}, Handler: h})
	require.NoError(t, err)
	return s
}

// echoOver opens a stream on l, writes data, and checks it comes back.
func echoOver(t *testing.T, ctx context.Context, l *peer.Link, data []byte) {
	s, err := l.OpenStream(ctx, wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{1}, Path: 1})
	require.NoError(t, err)
	defer s.Close()
	go func() {
		s.Write(data)
		s.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	require.Equal(t, data, got)
}

// A peer link (Noise + yamux) runs over a QUIC conn unchanged: one side
// Connects, and streams are echoed both ways.
func TestPeerLinkOverQUIC(t *testing.T) {
	a, b := linkAndEcho(t, quic.Config{})
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// linkAndEcho links two peer Sets over transports of cfg, checks who is
// at each end, and echoes 2 MiB over a stream each way.
func linkAndEcho(t *testing.T, cfg quic.Config) (a, b *peer.Set) {
	ha, hb := &echoer{ups: make(chan *peer.Link, 4)}, &echoer{ups: make(chan *peer.Link, 4)}
	a, b = newSet(t, newTransport(t, cfg), ha), newSet(t, newTransport(t, cfg), hb)
	t.Cleanup(func() { a.Close(); b.Close() })
	full, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)

	ctx := ctxT(t)
	lb, err := b.Connect(ctx, full)
	require.NoError(t, err)
	require.Equal(t, a.Self(), lb.ID())
	la := <-ha.ups
	require.Equal(t, b.Self(), la.ID())

	data := make([]byte, 2<<20)
	for i := range data {
		data[i] = byte(i * 31)
	}
	echoOver(t, ctx, lb, data) // b to a
	echoOver(t, ctx, la, data) // a to b
	return a, b
}

// BenchmarkStreamThroughput moves bytes one way over one conn of each
// transport on loopback, in the same run, for the ratio quic/tcp.
func BenchmarkStreamThroughput(b *testing.B) {
	for _, c := range []struct {
		name   string
		tr     func() transport.Transport
		listen string
	}{
		{"tcp", func() transport.Transport { return tcp.New() }, "/ip4/127.0.0.1/tcp/0"},
		{"quic", func() transport.Transport { return newTransport(b, quic.Config{}) }, "/ip4/127.0.0.1/udp/0"},
		{"quic-reno", func() transport.Transport { return newTransport(b, quic.Config{Congestion: quic.Reno}) }, "/ip4/127.0.0.1/udp/0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := c.tr()
			l, err := tr.Listen(ma.StringCast(c.listen))
			require.NoError(b, err)
			defer l.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				conn, err := l.Accept()
				if err == nil {
					accepted <- conn
				}
				close(accepted)
			}()
			d, err := tr.Dial(context.Background(), l.Multiaddr())
			require.NoError(b, err)
			acc := <-accepted
			require.NotNil(b, acc)
			pump(b, d, acc)
			acc.Close()
		})
	}
}

// pump times b.N writes of 64 KiB from d, read to the end from acc; the
// timer stops once acc has read everything d wrote before its Close.
func pump(b *testing.B, d, acc net.Conn) {
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, acc)
		done <- n
	}()
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := d.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, d.Close())
	<-done
	b.StopTimer()
}

// BenchmarkLinkThroughput moves bytes one way over one stream of a peer
// link (Noise + yamux) over each transport on loopback, in the same run:
// the comparison issue 14 asks for (quic/tcp).
func BenchmarkLinkThroughput(b *testing.B) {
	for _, c := range []struct {
		name   string
		tr     func() transport.Transport
		listen string
	}{
		{"tcp", func() transport.Transport { return tcp.New() }, "/ip4/127.0.0.1/tcp/0"},
		{"quic", func() transport.Transport { return newTransport(b, quic.Config{}) }, "/ip4/127.0.0.1/udp/0"},
		{"quic-reno", func() transport.Transport { return newTransport(b, quic.Config{Congestion: quic.Reno}) }, "/ip4/127.0.0.1/udp/0"},
	} {
		b.Run(c.name, func(b *testing.B) {
			sink := &sinker{}
			key, err := btcec.NewPrivateKey()
			require.NoError(b, err)
			a, err := peer.NewSet(peer.Config{Identity: key, NetworkKey: netKey, Transports: transport.Set{c.tr()}, Handler: sink})
			require.NoError(b, err)
			defer a.Close()
			key2, err := btcec.NewPrivateKey()
			require.NoError(b, err)
			d, err := peer.NewSet(peer.Config{Identity: key2, NetworkKey: netKey, Transports: transport.Set{c.tr()}})
			require.NoError(b, err)
			defer d.Close()
			full, err := a.Listen(ma.StringCast(c.listen))
			require.NoError(b, err)
			l, err := d.Connect(context.Background(), full)
			require.NoError(b, err)
			s, err := l.OpenStream(context.Background(), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{1}, Path: 1})
			require.NoError(b, err)
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			s.CloseWrite()
			<-sink.done()
			b.StopTimer()
			s.Close()
		})
	}
}

// sinker reads the first stream a peer opens to its end.
type sinker struct {
	once sync.Once
	ch   chan struct{}
}

func (k *sinker) done() chan struct{} {
	k.once.Do(func() { k.ch = make(chan struct{}) })
	return k.ch
}
func (k *sinker) LinkUp(*peer.Link)                      {}
func (k *sinker) LinkDown(*peer.Link, error)             {}
func (k *sinker) HandleMessage(*peer.Link, wire.Message) {}
func (k *sinker) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) {
	io.Copy(io.Discard, s)
	s.Close()
	close(k.done())
}

// With no network key, the datagrams are keyed by the responder's
// identity: peer.Set dials through DialPeer when the address names the
// peer by its public key.
func TestPeerLinkKeyedByIdentity(t *testing.T) {
	ka, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	kb, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	ta := newTransport(t, quic.Config{Identity: ka})
	tb := newTransport(t, quic.Config{Identity: kb})
	ha := &echoer{ups: make(chan *peer.Link, 4)}
	a, err := peer.NewSet(peer.Config{Identity: ka, Transports: transport.Set{ta}, Handler: ha})
	require.NoError(t, err)
	defer a.Close()
	b, err := peer.NewSet(peer.Config{Identity: kb, Transports: transport.Set{tb}})
	require.NoError(t, err)
	defer b.Close()
	full, err := a.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	require.NoError(t, err)
	base, _ := transport.SplitIdentity(full)
	byKey, err := transport.WithIdentity(base, hex.EncodeToString(ka.PubKey().SerializeCompressed()))
	require.NoError(t, err)

	ctx := ctxT(t)
	l, err := b.Connect(ctx, byKey)
	require.NoError(t, err)
	require.Equal(t, a.Self(), l.ID())
	echoOver(t, ctx, l, []byte("keyed by identity"))
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}
