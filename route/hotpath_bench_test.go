package route

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// Hot-path benchmarks: the relay splice, and connect request and ack
// handling, each with its allocations (the record layer's are in package
// session). Run on demand:
//
//	go test -run XXX -bench . -benchmem ./route
//	go test -run XXX -bench 'Splice|Request|Ack|PublicKey' -count 6 ./route | tee h.txt; benchstat h.txt

// synthStream is one end of a splice with no I/O behind it: it reads
// chunks of nothing until its budget is spent, then io.EOF, and discards
// writes. It isolates what splice itself costs per chunk.
type synthStream struct{ reads int }

func (s *synthStream) Read(p []byte) (int, error) {
	if s.reads == 0 {
		return 0, io.EOF
	}
	s.reads--
	return len(p), nil
}
func (s *synthStream) Write(p []byte) (int, error) { return len(p), nil }
func (s *synthStream) Close() error                { return nil }
func (s *synthStream) CloseWrite() error           { return nil }

// streamCatcher is a peer handler that hands over the streams it gets.
type streamCatcher chan *peer.Stream

func (streamCatcher) LinkUp(*peer.Link)                      {}
func (streamCatcher) LinkDown(*peer.Link, error)             {}
func (streamCatcher) HandleMessage(*peer.Link, wire.Message) {}
func (c streamCatcher) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) {
	c <- s
}

// sinkStream reads s to the end, answers one byte and closes.
func sinkStream(s *peer.Stream) {
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := s.Read(buf); err != nil {
			if err == io.EOF {
				s.Write([]byte{1})
			}
			return
		}
	}
}

// linkedSets starts n peer Sets on loopback TCP, each with its handler,
// and links set i to set i+1. It returns the sets and, for each i, the
// link from set i to set i+1.
func linkedSets(b *testing.B, handlers ...peer.Handler) ([]*peer.Set, []*peer.Link) {
	sets := make([]*peer.Set, len(handlers))
	for i, h := range handlers {
		s, err := peer.NewSet(peer.Config{Identity: newTestKey(b), Transports: transport.Set{tcp.New()}, Handler: h})
		require.NoError(b, err)
		b.Cleanup(func() { s.Close() })
		sets[i] = s
	}
	var links []*peer.Link
	for i := 0; i+1 < len(sets); i++ {
		addr, err := sets[i+1].Listen(ma.StringCast("/ip4/127.0.0.1/tcp/0"))
		require.NoError(b, err)
		l, err := sets[i].Connect(context.Background(), addr)
		require.NoError(b, err)
		links = append(links, l)
	}
	return sets, links
}

// BenchmarkSplice measures a relay's splice per 64 KiB chunk:
//
//	loop          splice between two ends with no I/O: the copy loop
//	              alone (a 64 KiB read, a write, the byte counters)
//	link-direct   the baseline: one stream over one peer link on loopback
//	              TCP, writer to reader, no relay
//	link-relayed  the same bytes through a relay: a stream to the relay,
//	              which splices it to a stream to the reader, as a circuit
//	              does (peer links on loopback TCP, all in this process,
//	              so allocations count all three nodes)
func BenchmarkSplice(b *testing.B) {
	const chunk = 64 << 10
	b.Run("loop", func(b *testing.B) {
		var moved int64
		b.SetBytes(chunk)
		b.ReportAllocs()
		b.ResetTimer()
		ok := splice(&synthStream{reads: b.N}, &synthStream{}, func(n int64) { moved += n })
		b.StopTimer()
		require.True(b, ok)
		require.EqualValues(b, int64(b.N)*chunk, moved)
	})
	write := func(b *testing.B, s *peer.Stream) {
		data := make([]byte, chunk)
		b.SetBytes(chunk)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, s.CloseWrite())
		_, err := io.ReadFull(s, make([]byte, 1))
		require.NoError(b, err)
		b.StopTimer()
		s.Close()
	}
	hdr := wire.StreamHeader{Kind: wire.StreamCircuit}
	b.Run("link-direct", func(b *testing.B) {
		sink := make(streamCatcher, 1)
		_, links := linkedSets(b, nil, sink)
		s, err := links[0].OpenStream(context.Background(), hdr)
		require.NoError(b, err)
		go sinkStream(<-sink)
		write(b, s)
	})
	b.Run("link-relayed", func(b *testing.B) {
		relay, sink := make(streamCatcher, 1), make(streamCatcher, 1)
		_, links := linkedSets(b, nil, relay, sink)
		s, err := links[0].OpenStream(context.Background(), hdr)
		require.NoError(b, err)
		up := <-relay
		down, err := links[1].OpenStream(context.Background(), hdr)
		require.NoError(b, err)
		go sinkStream(<-sink)
		spliced := make(chan bool, 1)
		go func() { spliced <- splice(up, down, func(int64) {}) }()
		write(b, s)
		require.True(b, <-spliced)
	})
}

// requestLine is three routers in a line on the mem transport (0 - 1 - 2)
// with the limits that would throttle a benchmark lifted: node 1 is the
// relay under test, node 2 a dead end or a target.
func requestLine(b *testing.B) []*node {
	return startNodes(b, simnet.New(3, simnet.Line, simnet.Options{}), func(_ int, c *Config) {
		c.RequestRate, c.RequestBurst, c.MaxSeen = 1e9, 1<<30, 1<<30
		c.AcceptBacklog = 1 << 16 // the target case answers every request: none is refused for a full backlog
	}, nil)
}

// BenchmarkHandleRequest: one connect request handled by a node, as its
// control reader calls it (decoding excluded):
//
//	relay-fresh      a request not seen before, forwarded to the one
//	                 other peer (the common case of a flood's first copy)
//	relay-duplicate  a copy of a request already seen (every later copy)
//	target           a fresh request for a key the node listens on: the
//	                 signature check, the ephemeral key, both ECDHs and
//	                 the signed ack
func BenchmarkHandleRequest(b *testing.B) {
	b.Run("relay-fresh", func(b *testing.B) {
		nodes := requestLine(b)
		from := linkTo(b, nodes[1], nodes[0])
		base, _, err := newRequest([20]byte{1}, 8, 0, 0, time.Now(), nil)
		require.NoError(b, err)
		before := nodes[1].r.Stats()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			req := *base
			binary.BigEndian.PutUint64(req.Nonce[:], uint64(i)) // relays do not check signatures
			nodes[1].r.handleRequest(from, &req)
		}
		b.StopTimer()
		st := nodes[1].r.Stats()
		b.ReportMetric(float64(st.RequestsForwarded-before.RequestsForwarded)/float64(b.N), "fwd/op")
	})
	b.Run("relay-duplicate", func(b *testing.B) {
		nodes := requestLine(b)
		from := linkTo(b, nodes[1], nodes[0])
		req, _, err := newRequest([20]byte{1}, 8, 0, 0, time.Now(), nil)
		require.NoError(b, err)
		nodes[1].r.handleRequest(from, req)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			nodes[1].r.handleRequest(from, req)
		}
	})
	b.Run("target", func(b *testing.B) {
		nodes := requestLine(b)
		lst, err := nodes[2].r.Listen(newTestKey(b))
		require.NoError(b, err)
		b.Cleanup(func() { lst.Close() })
		from := linkTo(b, nodes[2], nodes[1])
		reqs := make([]*wire.ConnectRequest, b.N)
		for i := range reqs {
			reqs[i], _, err = newRequest(lst.Addr(), 8, 0, 0, time.Now(), nil)
			require.NoError(b, err)
		}
		before := nodes[2].r.Stats()
		b.ReportAllocs()
		b.ResetTimer()
		for _, req := range reqs {
			nodes[2].r.handleRequest(from, req)
		}
		b.StopTimer()
		require.Equal(b, int64(b.N), nodes[2].r.Stats().AcksSent-before.AcksSent, "every request answered")
	})
}

// BenchmarkHandleAck: an ack for a request the relay forwarded, as its
// control reader calls it: checked, its circuit recorded, and passed
// upstream with this relay's hop appended. Each ack answers its own
// request, handled by the relay before the timer starts.
func BenchmarkHandleAck(b *testing.B) {
	nodes := requestLine(b)
	relay := nodes[1].r
	up, down := linkTo(b, nodes[1], nodes[0]), linkTo(b, nodes[1], nodes[2])
	tk := newKeyPair(newTestKey(b))
	target := addr.FromPubKey(tk.pub).Hash160()
	eph := newKeyPair(newTestKey(b))
	base, _, err := newRequest(target, 8, 0, 0, time.Now(), nil)
	require.NoError(b, err)
	acks := make([]*wire.ConnectAck, b.N)
	for i := range acks {
		req := *base
		binary.BigEndian.PutUint64(req.Nonce[:], uint64(i))
		relay.handleRequest(up, &req)
		acks[i] = newAck(req.ID(), req.Ephemeral, tk, eph, 1)
	}
	before := relay.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for _, ack := range acks {
		relay.handleAck(down, ack)
	}
	b.StopTimer()
	st := relay.Stats()
	require.Equal(b, int64(b.N), st.AcksRelayed-before.AcksRelayed, "every ack relayed")
	require.Equal(b, before.AcksInvalid, st.AcksInvalid)
}

// BenchmarkCheckAck: the dialler's (and each relay's) verification of an
// ack: two key decompressions, HASH160 and a BIP-340 verification.
func BenchmarkCheckAck(b *testing.B) {
	tk, eph := newKeyPair(newTestKey(b)), newKeyPair(newTestKey(b))
	target := addr.FromPubKey(tk.pub).Hash160()
	var id addr.ConnID
	var dEph [33]byte
	copy(dEph[:], newTestKey(b).PubKey().SerializeCompressed())
	ack := newAck(id, dEph, tk, eph, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := checkAck(ack, target, dEph); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRequest: the target's verification of a request.
func BenchmarkCheckRequest(b *testing.B) {
	req, _, err := newRequest([20]byte{1}, 8, 0, 0, time.Now(), nil)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := checkRequest(req, time.Now(), time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublicKey: deriving a public key from a private key, which
// btcec does from scratch (a scalar base multiplication) on every
// PrivateKey.PubKey call, against serialising one already derived.
func BenchmarkPublicKey(b *testing.B) {
	k := newTestKey(b)
	b.Run("derive", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			_ = ser(k.PubKey())
		}
	})
	b.Run("cached", func(b *testing.B) {
		pub := k.PubKey()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			_ = ser(pub)
		}
	})
}
