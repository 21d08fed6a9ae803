package peer

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// recorder is a Handler that records what it is given.
type recorder struct {
	mu      sync.Mutex
	ups     []*Link
	downs   []*Link
	msgs    chan wire.Message
	streams chan *Stream
	echo    bool // echo streams back instead of queueing them
	forward bool // echo them by Stream.ForwardTo into themselves
	// forwards and unsupported count ForwardTo calls that moved bytes
	// and those refused with errors.ErrUnsupported.
	forwards, unsupported atomic.Int64
}

func newKey(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return k
}

func newRecorder() *recorder {
	return &recorder{msgs: make(chan wire.Message, 100), streams: make(chan *Stream, 100)}
}

func (r *recorder) LinkUp(l *Link) { r.mu.Lock(); r.ups = append(r.ups, l); r.mu.Unlock() }
func (r *recorder) LinkDown(l *Link, err error) {
	r.mu.Lock()
	r.downs = append(r.downs, l)
	r.mu.Unlock()
}
func (r *recorder) HandleMessage(l *Link, m wire.Message) { r.msgs <- m }
func (r *recorder) HandleStream(l *Link, s *Stream, h wire.StreamHeader) {
	if r.forward {
		defer s.Close()
		for {
			n, err := s.ForwardTo(s)
			if n > 0 {
				r.forwards.Add(1)
			}
			switch {
			case err == nil:
				continue
			case errors.Is(err, errors.ErrUnsupported):
				r.unsupported.Add(1)
				io.Copy(s, s)
			case err == io.EOF:
				s.CloseWrite()
			}
			return
		}
	}
	if r.echo {
		defer s.Close()
		io.Copy(s, s)
		return
	}
	r.streams <- s
}

type carrier struct {
	name   string
	tr     func() transport.Transport
	listen string
}

func setCarriers() []carrier {
	return []carrier{
		{"tcp", func() transport.Transport { return tcp.New() }, "/ip4/127.0.0.1/tcp/0"},
		{"mem", func() transport.Transport { return mem.NewNetwork(mem.Options{}).Transport() }, "/mem/0"},
	}
}

// newTestSet makes a Set that is closed at cleanup.
func newTestSet(t testing.TB, tr transport.Transport, h Handler, mod func(*Config)) *Set {
	cfg := Config{Identity: newKey(t), Transports: transport.Set{tr}, Handler: h}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSet(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func listen(t testing.TB, s *Set, addr string) ma.Multiaddr {
	full, err := s.Listen(ma.StringCast(addr))
	require.NoError(t, err)
	return full
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLinkCarriesControlMessagesBothWays(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			ra, rb := newRecorder(), newRecorder()
			a := newTestSet(t, tr, ra, nil)
			b := newTestSet(t, tr, rb, nil)
			addr := listen(t, a, c.listen)

			l, err := b.Connect(ctxT(t), addr)
			require.NoError(t, err)
			require.Equal(t, a.Self(), l.ID())
			require.True(t, l.Outbound())
			require.Equal(t, PatternXX, l.Pattern(), "an address (not a key) in the multiaddr means XX")

			req := &wire.ConnectRequest{HopLimit: 3, Time: 1}
			require.NoError(t, l.Send(req))
			require.Equal(t, req, <-ra.msgs)

			require.Eventually(t, func() bool { return a.Link(b.Self()) != nil }, 5*time.Second, time.Millisecond)
			back := &wire.ConnectRefuse{Reason: wire.RefuseBusy}
			require.NoError(t, a.Link(b.Self()).Send(back))
			require.Equal(t, back, <-rb.msgs)

			rtt, err := l.Ping(ctxT(t))
			require.NoError(t, err)
			require.Greater(t, rtt, time.Duration(0))
			require.Greater(t, l.RTT(), time.Duration(0))

			require.NoError(t, l.Close())
			require.NoError(t, l.Close(), "Close is idempotent")
			require.ErrorIs(t, l.Send(req), net.ErrClosed)
			require.Eventually(t, func() bool { return a.Link(b.Self()) == nil }, 5*time.Second, time.Millisecond,
				"the other side sees the link go down")
			require.NoError(t, a.Close())
			require.NoError(t, b.Close())
		})
	}
}

func TestConnectWithPublicKeyUsesBOLT8XK(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a := newTestSet(t, tr, nil, nil)
	b := newTestSet(t, tr, nil, nil)
	addr := listen(t, a, "/mem/0")
	base, _ := transport.SplitIdentity(addr)
	withKey, err := transport.WithIdentity(base, hex.EncodeToString(a.cfg.Identity.PubKey().SerializeCompressed()))
	require.NoError(t, err)
	l, err := b.Connect(ctxT(t), withKey)
	require.NoError(t, err)
	require.Equal(t, PatternXK, l.Pattern())
	a.Close()
	b.Close()
}

func TestWrongIdentityIsRefusedWithAnErrorThatSaysSo(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			a := newTestSet(t, tr, nil, nil)
			b := newTestSet(t, tr, nil, nil)
			base, _ := transport.SplitIdentity(listen(t, a, c.listen))
			other := newKey(t).PubKey()

			byAddr, err := transport.WithIdentity(base, addr.FromPubKey(other).String())
			require.NoError(t, err)
			_, err = b.Connect(ctxT(t), byAddr)
			require.ErrorIs(t, err, ErrWrongIdentity)
			require.Contains(t, err.Error(), addr.FromPubKey(other).String())

			byKey, err := transport.WithIdentity(base, hex.EncodeToString(other.SerializeCompressed()))
			require.NoError(t, err)
			_, err = b.Connect(ctxT(t), byKey)
			require.ErrorIs(t, err, ErrRefused)

			require.Empty(t, b.Links())
			// Both attempts count on A: B abandoned the XX one before act
			// three, and the XK one failed act one.
			require.Eventually(t, func() bool { return a.FailedHandshakes() == 2 }, 5*time.Second, time.Millisecond)
			a.Close()
			b.Close()
		})
	}
}

func TestNodeWithoutTheNetworkKeyGetsNoByteBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			key := []byte("our little network")
			a := newTestSet(t, tr, nil, func(c *Config) { c.NetworkKey = key })
			addr := listen(t, a, c.listen)
			for _, clientKey := range [][]byte{nil, []byte("another network")} {
				b := newTestSet(t, tr, nil, func(c *Config) { c.NetworkKey = clientKey })
				_, err := b.Connect(ctxT(t), addr)
				require.ErrorIs(t, err, ErrRefused)
				b.Close()
			}
			// The same key links.
			b := newTestSet(t, tr, nil, func(c *Config) { c.NetworkKey = key })
			_, err := b.Connect(ctxT(t), addr)
			require.NoError(t, err)
			a.Close()
			b.Close()
		})
	}
}

func TestGarbageAndStalledHandshakesAreDroppedWithoutLeaks(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			a := newTestSet(t, tr, nil, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
			base, _ := transport.SplitIdentity(listen(t, a, c.listen))

			garbage, err := tr.Dial(ctxT(t), base)
			require.NoError(t, err)
			garbage.Write([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n" + string(make([]byte, 50))))
			stalled, err := tr.Dial(ctxT(t), base)
			require.NoError(t, err)
			stalled.Write([]byte{0, 1, 2})

			for _, conn := range []net.Conn{garbage, stalled} {
				start := time.Now()
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := conn.Read(make([]byte, 10))
				require.Zero(t, n, "no byte comes back")
				// Closed: EOF, or on TCP a reset, since unread garbage was left.
				require.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "got %v", err)
				require.Less(t, time.Since(start), 3*time.Second)
				conn.Close()
			}
			require.Eventually(t, func() bool { return a.FailedHandshakes() == 2 }, 5*time.Second, time.Millisecond)
			a.Close()
		})
	}
}

func TestStreamsPassNettest(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		t.Run(c.name, func(t *testing.T) {
			tr := c.tr()
			ra := newRecorder()
			a := newTestSet(t, tr, ra, nil)
			b := newTestSet(t, tr, nil, nil)
			l, err := b.Connect(ctxT(t), listen(t, a, c.listen))
			require.NoError(t, err)
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				s1, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, Path: 9})
				if err != nil {
					return nil, nil, nil, err
				}
				s2 := <-ra.streams
				return s1, s2, func() { s1.Close(); s2.Close() }, nil
			})
			a.Close()
			b.Close()
		})
	}
}

func TestStreamCarriesItsHeaderAndData(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	ra := newRecorder()
	ra.echo = true
	a := newTestSet(t, tr, ra, nil)
	b := newTestSet(t, tr, nil, nil)
	l, err := b.Connect(ctxT(t), listen(t, a, "/mem/0"))
	require.NoError(t, err)
	s, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{1}, Path: 2})
	require.NoError(t, err)
	data := make([]byte, 5<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	go func() {
		s.Write(data)
		s.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	require.Equal(t, data, got)
	s.Close()
	a.Close()
	b.Close()
}

// A malformed stream header is the stream's problem, not the link's: the
// stream is closed and counted, and the link carries on.
func TestGarbageStreamHeaderClosesOnlyThatStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	ra := newRecorder()
	a := newTestSet(t, tr, ra, nil)
	b := newTestSet(t, tr, nil, nil)
	l, err := b.Connect(ctxT(t), listen(t, a, "/mem/0"))
	require.NoError(t, err)
	for _, garbage := range [][]byte{
		make([]byte, wire.StreamHeaderSize), // version 0: not a header
		append(wire.StreamHeader{Kind: wire.StreamCircuit}.Append(nil)[:1:1], make([]byte, 27)...), // kind 0
		{2, 7, 25: 0, 26: 0xff, 27: 0xff}, // version 2, meta over the limit
	} {
		ms, err := l.mux.Open(ctxT(t))
		require.NoError(t, err)
		_, err = ms.Write(garbage)
		require.NoError(t, err)
		n, err := ms.Read(make([]byte, 1))
		require.Zero(t, n)
		require.ErrorIs(t, err, io.EOF, "the stream is closed without a byte")
		ms.Close()
	}
	require.EqualValues(t, 3, a.RefusedStreams())
	require.NoError(t, l.Err(), "the link survived")
	s, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, Path: 1})
	require.NoError(t, err)
	got := <-ra.streams
	require.NoError(t, s.Close())
	require.NoError(t, got.Close())
	_, err = l.Ping(ctxT(t))
	require.NoError(t, err)
	a.Close()
	b.Close()
}

func TestGarbageControlMessageClosesTheLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a := newTestSet(t, tr, newRecorder(), nil)
	b := newTestSet(t, tr, nil, nil)
	l, err := b.Connect(ctxT(t), listen(t, a, "/mem/0"))
	require.NoError(t, err)
	l.ctrl.Write([]byte{0, 0, 0, 3, 0x10, 1, 2}) // a truncated connect request
	select {
	case <-l.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("link survived a malformed control message")
	}
	require.Eventually(t, func() bool { return len(a.Links()) == 0 }, 5*time.Second, time.Millisecond)
	a.Close()
	b.Close()
}

// wedger wraps a transport so a test can wedge every conn it made: reads
// and writes hang until the conn is closed, as with a peer whose process
// hangs while its socket stays open.
type wedger struct {
	transport.Transport
	once   sync.Once
	wedged chan struct{}
}

func newWedger(t transport.Transport) *wedger {
	return &wedger{Transport: t, wedged: make(chan struct{})}
}

func (w *wedger) wedge() { w.once.Do(func() { close(w.wedged) }) }

func (w *wedger) Dial(ctx context.Context, a ma.Multiaddr) (net.Conn, error) {
	c, err := w.Transport.Dial(ctx, a)
	if err != nil {
		return nil, err
	}
	return w.wrap(c), nil
}

func (w *wedger) Listen(a ma.Multiaddr) (transport.Listener, error) {
	l, err := w.Transport.Listen(a)
	if err != nil {
		return nil, err
	}
	return wedgeListener{l, w}, nil
}

func (w *wedger) wrap(c net.Conn) net.Conn {
	return &wedgeConn{Conn: c, w: w, closed: make(chan struct{})}
}

type wedgeListener struct {
	transport.Listener
	w *wedger
}

func (l wedgeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.w.wrap(c), nil
}

type wedgeConn struct {
	net.Conn
	w      *wedger
	once   sync.Once
	closed chan struct{}
}

func (c *wedgeConn) hang() bool {
	select {
	case <-c.w.wedged:
		<-c.closed
		return true
	default:
		return false
	}
}

func (c *wedgeConn) Read(p []byte) (int, error) {
	if c.hang() {
		return 0, net.ErrClosed
	}
	n, err := c.Conn.Read(p)
	if c.hang() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *wedgeConn) Write(p []byte) (int, error) {
	if c.hang() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *wedgeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func TestWedgedPeerIsDroppedByPings(t *testing.T) {
	defer goleak.VerifyNone(t)
	// B hangs but its socket stays open: A must notice by pings alone.
	netw := mem.NewNetwork(mem.Options{})
	a := newTestSet(t, netw.Transport(), nil, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.DeadAfter = 150 * time.Millisecond
	})
	wb := newWedger(netw.Transport())
	b := newTestSet(t, wb, newRecorder(), nil)
	l, err := a.Connect(ctxT(t), listen(t, b, "/mem/0"))
	require.NoError(t, err)
	_, err = l.Ping(ctxT(t))
	require.NoError(t, err, "B answers while it is well")
	wb.wedge()
	select {
	case <-l.Done():
		require.ErrorIs(t, l.Err(), ErrPeerDead)
	case <-time.After(5 * time.Second):
		t.Fatal("wedged peer not detected")
	}
	a.Close()
	b.Close()
}

func TestKeptPeerIsRedialledAfterItDies(t *testing.T) {
	defer goleak.VerifyNone(t)
	netw := mem.NewNetwork(mem.Options{})
	bKey := newKey(t)
	rb := newRecorder()
	mkB := func() *Set {
		return newTestSet(t, netw.Transport(), rb, func(c *Config) { c.Identity = bKey })
	}
	b := mkB()
	addr := listen(t, b, "/mem/77")
	a := newTestSet(t, netw.Transport(), nil, func(c *Config) {
		c.RedialMin = 10 * time.Millisecond
		c.RedialMax = 50 * time.Millisecond
	})
	a.Keep(addr)
	require.Eventually(t, func() bool { return a.Link(b.Self()) != nil }, 5*time.Second, time.Millisecond)
	first := a.Link(b.Self())

	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return a.Link(b.Self()) == nil }, 5*time.Second, time.Millisecond)
	time.Sleep(100 * time.Millisecond) // a few failed redials while B is gone

	b2 := mkB()
	listen(t, b2, "/mem/77")
	require.Eventually(t, func() bool { return a.Link(b2.Self()) != nil }, 5*time.Second, time.Millisecond)
	require.NotSame(t, first, a.Link(b2.Self()))
	a.Close()
	b2.Close()
}

func TestSimultaneousDialsLeaveOneLinkPerPair(t *testing.T) {
	defer goleak.VerifyNone(t)
	for round := 0; round < 10; round++ {
		netw := mem.NewNetwork(mem.Options{})
		ra, rb := newRecorder(), newRecorder()
		a := newTestSet(t, netw.Transport(), ra, nil)
		b := newTestSet(t, netw.Transport(), rb, nil)
		aAddr, bAddr := listen(t, a, "/mem/0"), listen(t, b, "/mem/0")
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.Connect(ctxT(t), bAddr) }()
		go func() { defer wg.Done(); b.Connect(ctxT(t), aAddr) }()
		wg.Wait()
		require.Eventually(t, func() bool {
			la, lb := a.Link(b.Self()), b.Link(a.Self())
			// Both sides use the same link: dialled by one, accepted by the other.
			return la != nil && lb != nil && la.Outbound() != lb.Outbound() && len(a.Links()) == 1 && len(b.Links()) == 1
		}, 5*time.Second, time.Millisecond)
		la := a.Link(b.Self())
		require.NoError(t, la.Send(&wire.ConnectRefuse{Reason: 1}))
		require.IsType(t, &wire.ConnectRefuse{}, <-rb.msgs)
		a.Close()
		b.Close()
	}
}

func TestCloseUnblocksEverything(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	ra := newRecorder()
	a := newTestSet(t, tr, ra, nil)
	b := newTestSet(t, tr, nil, nil)
	l, err := b.Connect(ctxT(t), listen(t, a, "/mem/0"))
	require.NoError(t, err)
	s, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit})
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, b.Close())
	require.Error(t, <-errc)
	require.NoError(t, b.Close(), "idempotent")
	_, err = b.Connect(ctxT(t), listen(t, a, "/mem/0"))
	require.ErrorIs(t, err, net.ErrClosed)
	a.Close()
}

func TestDialSelfIsRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a := newTestSet(t, tr, nil, nil)
	addr := listen(t, a, "/mem/0")
	_, err := a.Connect(ctxT(t), addr)
	require.ErrorIs(t, err, ErrSelfLink)
	base, _ := transport.SplitIdentity(addr)
	_, err = a.Connect(ctxT(t), base)
	require.ErrorIs(t, err, ErrSelfLink)
	a.Close()
}
