package peer

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/hashicorp/yamux"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// benchChunk is what each benchmark iteration writes.
const benchChunk = 64 << 10

// benchThroughput writes b.N chunks of 64 KiB to w from the benchmark
// goroutine while another goroutine reads r and discards; the clock stops
// when the reader has everything.
func benchThroughput(b *testing.B, w io.Writer, r io.Reader) {
	want := int64(b.N) * benchChunk
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, benchChunk)
		var got int64
		for got < want {
			n, err := r.Read(buf)
			got += int64(n)
			if err != nil {
				done <- fmt.Errorf("read after %d of %d bytes: %w", got, want, err)
				return
			}
		}
		done <- nil
	}()
	chunk := make([]byte, benchChunk)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

// benchTCPPair returns both ends of a loopback TCP connection.
func benchTCPPair(b *testing.B) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// benchLinkStream links two Sets over tr and returns the two ends of one
// stream the dialler opened.
func benchLinkStream(b *testing.B, tr transport.Transport, listenAddr string, window uint32) (w, r *Stream) {
	return benchLinkStreamCipher(b, tr, listenAddr, window, CipherAuto)
}

// benchLinkStreamCipher is benchLinkStream with both Sets' LinkCipher set
// to suite; it returns once both directions of the link use what they
// negotiated (AES-256-GCM when both offer it).
func benchLinkStreamCipher(b *testing.B, tr transport.Transport, listenAddr string, window uint32, suite CipherSuite) (w, r *Stream) {
	rec := newRecorder()
	mod := func(c *Config) { c.StreamWindow = window; c.LinkCipher = suite }
	a := newTestSet(b, tr, rec, mod)
	d := newTestSet(b, tr, nil, mod)
	l, err := d.Connect(context.Background(), listen(b, a, listenAddr))
	if err != nil {
		b.Fatal(err)
	}
	w, err = l.OpenStream(context.Background(), wire.StreamHeader{Kind: wire.StreamCircuit})
	if err != nil {
		b.Fatal(err)
	}
	r = <-rec.streams
	b.Cleanup(func() { w.Close(); r.Close() })
	if suite == CipherAES256GCM {
		// The switch crosses with the first exchange after both offers:
		// wait for it, so the benchmark measures AES-256-GCM alone.
		for {
			if _, err := l.Ping(context.Background()); err != nil {
				b.Fatal(err)
			}
			if s, rv := l.CipherSuites(); s == CipherAES256GCM && rv == CipherAES256GCM {
				break
			}
		}
	}
	return w, r
}

// BenchmarkLinkCipher is BenchmarkThroughput's link case (loopback TCP,
// one stream, 64 KiB writes) with each frame cipher on both ends.
func BenchmarkLinkCipher(b *testing.B) {
	for _, suite := range []CipherSuite{CipherChaCha20Poly1305, CipherAES256GCM} {
		b.Run(suite.String(), func(b *testing.B) {
			w, r := benchLinkStreamCipher(b, tcp.New(), "/ip4/127.0.0.1/tcp/0", 0, suite)
			benchThroughput(b, w, r)
		})
	}
}

// BenchmarkThroughput measures one stream's throughput, 64 KiB writes:
//
//	tcp        raw loopback TCP, one conn: the ceiling
//	tcp+yamux  one yamux stream over raw TCP, with our yamux config
//	link       one Stream of a peer Link over loopback TCP (Noise + yamux)
//	link-mem   the same over the mem transport
//
// Compare link with tcp+yamux for what the encryption and our adapters
// cost, and tcp+yamux with tcp for what yamux costs.
func BenchmarkThroughput(b *testing.B) {
	b.Run("tcp", func(b *testing.B) {
		c, s := benchTCPPair(b)
		benchThroughput(b, c, s)
	})
	b.Run("tcp+yamux", func(b *testing.B) {
		c, s := benchTCPPair(b)
		cfg := yamuxConfig(1<<20, slog.New(slog.DiscardHandler), nil)
		cs, err := yamux.Client(c, cfg)
		if err != nil {
			b.Fatal(err)
		}
		ss, err := yamux.Server(s, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cs.Close(); ss.Close() })
		w, err := cs.OpenStream()
		if err != nil {
			b.Fatal(err)
		}
		r, err := ss.AcceptStream()
		if err != nil {
			b.Fatal(err)
		}
		benchThroughput(b, w, r)
	})
	b.Run("link", func(b *testing.B) {
		w, r := benchLinkStream(b, tcp.New(), "/ip4/127.0.0.1/tcp/0", 0)
		benchThroughput(b, w, r)
	})
	b.Run("link-mem", func(b *testing.B) {
		w, r := benchLinkStream(b, mem.NewNetwork(mem.Options{}).Transport(), "/mem/0", 0)
		benchThroughput(b, w, r)
	})
}

// BenchmarkLinkWindow is BenchmarkThroughput's link case (loopback TCP)
// at several Config.StreamWindow sizes.
func BenchmarkLinkWindow(b *testing.B) {
	for _, win := range []uint32{256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("window=%dKiB", win>>10), func(b *testing.B) {
			w, r := benchLinkStream(b, tcp.New(), "/ip4/127.0.0.1/tcp/0", win)
			benchThroughput(b, w, r)
		})
	}
}

// upSignal is a Handler that reports each link that comes up.
type upSignal struct{ up chan *Link }

func (u upSignal) LinkUp(l *Link)                                     { u.up <- l }
func (upSignal) LinkDown(*Link, error)                                {}
func (upSignal) HandleMessage(*Link, wire.Message)                    {}
func (upSignal) HandleStream(_ *Link, s *Stream, _ wire.StreamHeader) { s.Close() }

// BenchmarkHandshake measures a whole Link setup over loopback TCP, until
// both ends have registered it: TCP dial, the Noise handshake (XX when the
// dialler knows only the address, XK when it knows the key), the yamux
// session and the control stream. Tearing the link down is not timed.
func BenchmarkHandshake(b *testing.B) {
	for _, pattern := range []string{"XX", "XK"} {
		b.Run(pattern, func(b *testing.B) {
			tr := tcp.New()
			srv := upSignal{up: make(chan *Link, 1)}
			a := newTestSet(b, tr, srv, nil)
			d := newTestSet(b, tr, nil, nil)
			addr := listen(b, a, "/ip4/127.0.0.1/tcp/0")
			if pattern == "XK" {
				base, _ := transport.SplitIdentity(addr)
				var err error
				addr, err = transport.WithIdentity(base, hex.EncodeToString(a.cfg.Identity.PubKey().SerializeCompressed()))
				if err != nil {
					b.Fatal(err)
				}
			}
			benchConnect(b, d, addr, srv.up, pattern)
		})
	}
}

func benchConnect(b *testing.B, d *Set, addr ma.Multiaddr, up <-chan *Link, pattern string) {
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, err := d.Connect(context.Background(), addr)
		if err != nil {
			b.Fatal(err)
		}
		remote := <-up
		b.StopTimer()
		if got := l.Pattern().String(); got != pattern {
			b.Fatalf("pattern %s, want %s", got, pattern)
		}
		l.Close()
		<-remote.Done()
		remote.Close()
		b.StartTimer()
	}
}
