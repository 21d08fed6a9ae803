package peer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// testBudget is a WindowBudget that remembers the most it ever lent.
type testBudget struct {
	limit, used, peak atomic.Int64
}

func newTestBudget(limit int64) *testBudget {
	b := &testBudget{}
	b.limit.Store(limit)
	return b
}

func (b *testBudget) Take(n int64) int64 {
	for {
		u := b.used.Load()
		g := min(n, b.limit.Load()-u)
		if g <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(u, u+g) {
			for p := b.peak.Load(); u+g > p && !b.peak.CompareAndSwap(p, u+g); p = b.peak.Load() {
			}
			return g
		}
	}
}

func (b *testBudget) Give(n int64) { b.used.Add(-n) }

// echoBothWays sends size bytes over a new stream of l to an echoing peer
// and checks that they come back intact.
func echoBothWays(t *testing.T, l *Link, size int) {
	t.Helper()
	s, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{2}, Path: 1})
	require.NoError(t, err)
	defer s.Close()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*13 + i>>9)
	}
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	require.True(t, bytes.Equal(data, got), "the echo differs")
}

// Links between a node on GoYamux and one on hashicorp's Yamux work both
// ways round: the link comes up, control messages flow (a ping), and
// streams opened by either end carry data both ways, also past the
// initial window (the windows of the two implementations differ).
func TestGoYamuxAndHashicorpYamuxInteroperate(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []struct {
		name        string
		dialer, hub NewMuxerFunc
	}{
		{"GoYamux dials Yamux", GoYamux, Yamux},
		{"Yamux dials GoYamux", Yamux, GoYamux},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := mem.NewNetwork(mem.Options{}).Transport()
			budget := newTestBudget(64 << 20)
			rh, rd := newRecorder(), newRecorder()
			rh.echo, rd.echo = true, true
			hub := newTestSet(t, tr, rh, func(cfg *Config) { cfg.NewMuxer = c.hub; cfg.WindowBudget = budget })
			dialer := newTestSet(t, tr, rd, func(cfg *Config) { cfg.NewMuxer = c.dialer; cfg.WindowBudget = budget })
			l, err := dialer.Connect(ctxT(t), listen(t, hub, "/mem/0"))
			require.NoError(t, err)
			_, err = l.Ping(ctxT(t))
			require.NoError(t, err)
			echoBothWays(t, l, 3<<20)
			require.Eventually(t, func() bool { return len(hub.Links()) == 1 }, 10*time.Second, time.Millisecond)
			echoBothWays(t, hub.Links()[0], 3<<20)
			hub.Close()
			dialer.Close()
			// The muxer's own goroutines give a closed stream's credit back
			// as they wind down, which may be just after Close returns.
			require.Eventually(t, func() bool { return budget.used.Load() == 0 }, 10*time.Second, time.Millisecond,
				"credit held after the links closed")
		})
	}
}

// A GoYamux stream's window grows while its reader keeps up over a link
// of a real round trip, only with credit from the budget, never past the
// budget or StreamWindow; the credit comes back when the stream ends. With
// no budget the window stays at InitialStreamWindow.
func TestGoYamuxWindowsGrowWithCreditAndGiveItBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []struct {
		name   string
		budget int64
	}{
		{"budget above the window", 64 << 20},
		{"budget below the window", 1 << 20},
		{"no budget", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := mem.NewNetwork(mem.Options{Latency: 5 * time.Millisecond}).Transport()
			const window = 8 << 20
			budget := newTestBudget(c.budget)
			mod := func(cfg *Config) {
				cfg.StreamWindow = window
				if c.budget > 0 {
					cfg.WindowBudget = budget
				}
			}
			rec := newRecorder()
			hub := newTestSet(t, tr, rec, mod)
			dialer := newTestSet(t, tr, nil, mod)
			l, err := dialer.Connect(ctxT(t), listen(t, hub, "/mem/0"))
			require.NoError(t, err)
			w, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{3}, Path: 1})
			require.NoError(t, err)
			r := <-rec.streams
			const size = 48 << 20
			go func() {
				chunk := make([]byte, 64<<10)
				for sent := 0; sent < size; sent += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
				w.CloseWrite()
			}()
			n, err := io.Copy(io.Discard, r)
			require.NoError(t, err)
			require.EqualValues(t, size, n)
			peak := budget.peak.Load()
			t.Logf("credit lent at most: %d KiB", peak>>10)
			switch {
			case c.budget == 0:
				require.Zero(t, peak)
			default:
				require.Positive(t, peak, "the window grew")
				require.LessOrEqual(t, peak, min(c.budget, window-InitialStreamWindow))
			}
			r.Close()
			w.Close()
			require.Eventually(t, func() bool { return budget.used.Load() == 0 }, 10*time.Second, time.Millisecond,
				"credit held after the stream ended")
		})
	}
}

// FuzzGoYamuxSession feeds a GoYamux session whatever a peer might send
// (yamux frames, mostly, from the seeds) and accepts and reads every
// stream it opens: bad input ends the session or is dropped, never a
// panic or a hang.
func FuzzGoYamuxSession(f *testing.F) {
	hdr := func(typ, flags byte, id, length uint32) []byte {
		b := []byte{0, typ, 0, flags, 0, 0, 0, 0, 0, 0, 0, 0}
		b[4], b[5], b[6], b[7] = byte(id>>24), byte(id>>16), byte(id>>8), byte(id)
		b[8], b[9], b[10], b[11] = byte(length>>24), byte(length>>16), byte(length>>8), byte(length)
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	f.Add(cat(hdr(1, 1, 1, 0), hdr(0, 0, 1, 5), []byte("hello"), hdr(1, 4, 1, 0))) // SYN, data, FIN
	f.Add(cat(hdr(2, 1, 0, 7)))                                                    // ping
	f.Add(cat(hdr(0, 1, 1, 300000), make([]byte, 64)))                             // over the window
	f.Add(cat(hdr(1, 1, 1, 0), hdr(1, 1, 1, 0)))                                   // duplicate SYN
	f.Add(cat(hdr(1, 1, 2, 0)))                                                    // wrong parity
	f.Add(cat(hdr(3, 0, 0, 1)))                                                    // go away
	f.Add(cat(hdr(1, 1, 1, 0), hdr(1, 8, 1, 0), hdr(0, 0, 1, 3), []byte("abc")))   // RST then data
	f.Add(cat([]byte{1, 0, 0, 0}, make([]byte, 8)))                                // bad version
	f.Add(cat(hdr(9, 0, 0, 0)))                                                    // bad type
	f.Add(cat(hdr(1, 1, 1, 0xffffffff), hdr(0, 0, 1, 4), []byte("abcd")))          // huge window update
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		m, err := GoYamux(a, false, MuxConfig{StreamWindow: 1 << 20, Budget: newTestBudget(1 << 20), Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				s, err := m.Accept(context.Background())
				if err != nil {
					return
				}
				go func() {
					s.SetReadDeadline(time.Now().Add(time.Second))
					io.Copy(io.Discard, s)
					s.Close()
				}()
			}
		}()
		go io.Copy(io.Discard, b) // whatever the session answers
		b.SetWriteDeadline(time.Now().Add(time.Second))
		b.Write(in)
		b.Close()
		require.NoError(t, m.Close())
		<-done
		_, err = m.Accept(context.Background())
		require.True(t, errors.Is(err, ErrLinkClosed), "Accept after Close: %v", err)
	})
}

// Stream.ForwardTo moves a stream's bytes into another stream (here the
// same one, an echo) intact past many windows and ends with io.EOF, over
// GoYamux links on TCP and in memory; a Yamux link refuses it with
// errors.ErrUnsupported before moving anything, and reading and writing
// then carries the stream, as a relay's splice does.
func TestStreamForwardToCarriesAStream(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range setCarriers() {
		for _, m := range []struct {
			name        string
			mux         NewMuxerFunc
			unsupported bool
		}{{"GoYamux", GoYamux, false}, {"Yamux", Yamux, true}} {
			t.Run(c.name+"/"+m.name, func(t *testing.T) {
				tr := c.tr()
				rh := newRecorder()
				rh.forward = true
				budget := newTestBudget(64 << 20)
				hub := newTestSet(t, tr, rh, func(cfg *Config) { cfg.NewMuxer = m.mux; cfg.WindowBudget = budget })
				dialer := newTestSet(t, tr, newRecorder(), func(cfg *Config) { cfg.NewMuxer = m.mux; cfg.WindowBudget = budget })
				l, err := dialer.Connect(ctxT(t), listen(t, hub, c.listen))
				require.NoError(t, err)
				echoBothWays(t, l, 3<<20)
				echoBothWays(t, l, 100)
				if m.unsupported {
					require.Equal(t, int64(2), rh.unsupported.Load())
					require.Zero(t, rh.forwards.Load())
				} else {
					require.Zero(t, rh.unsupported.Load())
					require.Greater(t, rh.forwards.Load(), int64(3<<20/(64<<10)), "fewer forwards than frames")
				}
				hub.Close()
				dialer.Close()
			})
		}
	}
}

// ForwardTo to anything but a Stream is refused at once, and a
// ForwardTo waiting for data returns when its stream closes.
func TestStreamForwardToRefusesAndUnblocks(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	rh := newRecorder()
	hub := newTestSet(t, tr, rh, nil)
	dialer := newTestSet(t, tr, newRecorder(), nil)
	l, err := dialer.Connect(ctxT(t), listen(t, hub, "/mem/0"))
	require.NoError(t, err)
	s, err := l.OpenStream(ctxT(t), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{3}, Path: 1})
	require.NoError(t, err)
	defer s.Close()
	var in *Stream
	select {
	case in = <-rh.streams:
	case <-ctxT(t).Done():
		t.Fatal("no stream arrived")
	}

	n, err := in.ForwardTo(io.Discard)
	require.ErrorIs(t, err, errors.ErrUnsupported)
	require.Zero(t, n)

	done := make(chan error, 1)
	go func() { _, err := in.ForwardTo(in); done <- err }()
	require.NoError(t, in.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)
	hub.Close()
	dialer.Close()
}
