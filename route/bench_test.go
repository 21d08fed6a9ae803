package route

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// Run on demand:
//
//	go test -run XXX -bench Reliability -benchtime 2s -count 8 ./route | tee r.txt; benchstat r.txt

// plainSink is a peer handler that reads plain records (the record layer
// without reliability: no send queue, no acks, no resume) and discards
// them, answering one byte when the stream ends.
type plainSink struct{ key [32]byte }

func (plainSink) LinkUp(*peer.Link)                      {}
func (plainSink) LinkDown(*peer.Link, error)             {}
func (plainSink) HandleMessage(*peer.Link, wire.Message) {}
func (p plainSink) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) {
	defer s.Close()
	o := newOpener(p.key)
	var hdr [recordHeaderSize]byte
	for {
		if _, err := io.ReadFull(s, hdr[:]); err != nil {
			s.Write([]byte{1})
			return
		}
		_, n, err := parseRecordHeader(hdr, recordTagSize)
		if err != nil {
			return
		}
		buf := bufpool.Get(n)
		if _, err := io.ReadFull(s, *buf); err != nil {
			return
		}
		if _, err := o.open(hdr, *buf); err != nil {
			return
		}
		bufpool.Put(buf)
	}
}

func tcpSetPair(b *testing.B, h peer.Handler) *peer.Link {
	mk := func(h peer.Handler) *peer.Set {
		s, err := peer.NewSet(peer.Config{Identity: newTestKey(b), Transports: transport.Set{tcp.New()}, Handler: h})
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		return s
	}
	srv, cli := mk(h), mk(nil)
	addr, err := srv.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	require.NoError(b, err)
	l, err := cli.Connect(context.Background(), addr)
	require.NoError(b, err)
	return l
}

// BenchmarkReliability measures what the reliable session costs over the
// record layer alone, on the same kind of direct peer link (loopback TCP):
// "plain" seals 64 KiB records straight onto the stream as the caller
// writes; "session" is the whole Session (send queue, acks, heartbeats,
// resumable paths) carrying the same writes.
func BenchmarkReliability(b *testing.B) {
	const chunk = 64 << 10
	data := make([]byte, chunk)
	b.Run("plain", func(b *testing.B) {
		var key [32]byte
		l := tcpSetPair(b, plainSink{key: key})
		s, err := l.OpenStream(context.Background(), wire.StreamHeader{Kind: wire.StreamCircuit})
		require.NoError(b, err)
		seal := newSealer(key)
		out := make([]byte, 0, chunk+64)
		var off [8]byte
		b.SetBytes(chunk)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			binary.BigEndian.PutUint64(off[:], uint64(i)*chunk)
			out = seal.seal(out[:0], recData, off[:], data)
			if _, err := s.Write(out); err != nil {
				b.Fatal(err)
			}
		}
		s.CloseWrite()
		io.ReadFull(s, make([]byte, 1))
		b.StopTimer()
		s.Close()
	})
	b.Run("session", func(b *testing.B) {
		sn := benchPair(b)
		lst, err := sn[1].r.Listen(newTestKey(b))
		require.NoError(b, err)
		go func() {
			s, err := lst.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, s)
			s.Write([]byte{1})
			s.Close()
		}()
		s, err := dial(b, sn[0], lst.Addr(), 5*time.Second)
		require.NoError(b, err)
		b.SetBytes(chunk)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		s.CloseWrite()
		io.ReadFull(s, make([]byte, 1))
		b.StopTimer()
		s.Close()
	})
}

// benchPair is two routers on one peer link over loopback TCP.
func benchPair(b *testing.B) []*node {
	nodes := make([]*node, 2)
	for i := range nodes {
		r, err := New(Config{Identity: newTestKey(b)})
		require.NoError(b, err)
		set, err := peer.NewSet(peer.Config{Identity: r.cfg.Identity, Transports: transport.Set{tcp.New()}, Handler: r})
		require.NoError(b, err)
		nodes[i] = &node{r: r, set: set}
		b.Cleanup(func() { r.Close(); set.Close() })
	}
	addr, err := nodes[1].set.Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	require.NoError(b, err)
	_, err = nodes[0].set.Connect(context.Background(), addr)
	require.NoError(b, err)
	require.Eventually(b, func() bool {
		nodes[1].r.mu.Lock()
		defer nodes[1].r.mu.Unlock()
		return len(nodes[1].r.nbrs) == 1
	}, 5*time.Second, time.Millisecond)
	return nodes
}
