package session

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// Run on demand:
//
//	go test -run XXX -bench Reliability -benchtime 2s -count 8 ./session | tee r.txt; benchstat r.txt

// streamHandler is a peer handler that gives each inbound stream to fn.
type streamHandler func(s *peer.Stream)

func (streamHandler) LinkUp(*peer.Link)                                                {}
func (streamHandler) LinkDown(*peer.Link, error)                                       {}
func (streamHandler) HandleMessage(*peer.Link, wire.Message)                           {}
func (h streamHandler) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) { h(s) }

// plainSink reads plain records (the record layer without reliability:
// no send queue, no acks, no resume) and discards them, answering one
// byte when the stream ends.
func plainSink(key [32]byte) streamHandler {
	return func(s *peer.Stream) {
		defer s.Close()
		o := newOpener(key)
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
}

func benchKey(b *testing.B) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	require.NoError(b, err)
	return k
}

// tcpLink is a peer link over loopback TCP to a set whose streams go to h.
func tcpLink(b *testing.B, h peer.Handler) *peer.Link {
	mk := func(h peer.Handler) *peer.Set {
		s, err := peer.NewSet(peer.Config{Identity: benchKey(b), Transports: transport.Set{tcp.New()}, Handler: h})
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

// benchConfig is a session's configuration with route's defaults.
func benchConfig(dialer bool) Config {
	return Config{ID: addr.ConnID{1}, Dialer: dialer, Hello: make([]byte, 33+64+1),
		SendBuffer: 2 << 20, RecvBuffer: 1 << 20, Heartbeat: time.Second,
		StallTimeout: 4 * time.Second, FailoverTimeout: 20 * time.Second, Linger: 10 * time.Second}
}

// BenchmarkReliability measures what the reliable session costs over the
// record layer alone, on the same kind of direct peer link (loopback TCP):
// "plain" seals 64 KiB records straight onto the stream as the caller
// writes; "session" is the whole Session (send queue, acks, window,
// heartbeats, resumable paths) carrying the same writes.
func BenchmarkReliability(b *testing.B) {
	const chunk = 64 << 10
	data := make([]byte, chunk)
	b.Run("plain", func(b *testing.B) {
		var key [32]byte
		l := tcpLink(b, plainSink(key))
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
		var master [32]byte
		targets := make(chan *Session, 1)
		l := tcpLink(b, streamHandler(func(st *peer.Stream) {
			p := NewPath(st, PathInfo{Num: 1}, master, false)
			if _, err := p.ReadFirst(time.Second); err != nil {
				p.Close()
				return
			}
			t := New(benchConfig(false))
			t.Start(p)
			targets <- t
			io.Copy(io.Discard, t)
			t.Write([]byte{1})
			t.Close()
		}))
		st, err := l.OpenStream(context.Background(), wire.StreamHeader{Kind: wire.StreamCircuit})
		require.NoError(b, err)
		s := New(benchConfig(true))
		s.Start(NewPath(st, PathInfo{Num: 1}, master, true))
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
		t := <-targets
		<-s.Done()
		<-t.Done()
		s.Wait()
		t.Wait()
	})
}
