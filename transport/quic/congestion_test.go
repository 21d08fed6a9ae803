package quic_test

import (
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/transport/quic"
)

// recorder wraps a controller and records what the connection told it:
// packets sent and acked, and the most bytes in flight. With window > 0
// it also caps the congestion window at window bytes (no pacing).
type recorder struct {
	quic.CongestionControl
	window   quic.ByteCount
	sent     *atomic.Int64
	acked    *atomic.Int64
	inFlight *atomic.Int64 // the most seen
}

func (r *recorder) OnPacketSent(t quic.MonoTime, inFlight quic.ByteCount, pn quic.PacketNumber, n quic.ByteCount, retransmittable bool) {
	r.sent.Add(1)
	if retransmittable {
		now := int64(inFlight + n)
		for {
			was := r.inFlight.Load()
			if now <= was || r.inFlight.CompareAndSwap(was, now) {
				break
			}
		}
	}
	r.CongestionControl.OnPacketSent(t, inFlight, pn, n, retransmittable)
}

func (r *recorder) OnPacketAcked(pn quic.PacketNumber, n, prior quic.ByteCount, t quic.MonoTime) {
	r.acked.Add(1)
	r.CongestionControl.OnPacketAcked(pn, n, prior, t)
}

func (r *recorder) CanSend(inFlight quic.ByteCount) bool {
	if r.window > 0 {
		return inFlight < r.window
	}
	return r.CongestionControl.CanSend(inFlight)
}

func (r *recorder) GetCongestionWindow() quic.ByteCount {
	if r.window > 0 {
		return r.window
	}
	return r.CongestionControl.GetCongestionWindow()
}

func (r *recorder) HasPacingBudget(now quic.MonoTime) bool {
	return r.window > 0 || r.CongestionControl.HasPacingBudget(now)
}

// counts are a recorder's figures, shared by the controllers of every
// connection and path a factory made.
type counts struct {
	made, sent, acked, inFlight atomic.Int64
}

// factory returns a Config.NewCongestion that records into c, capping
// the window at packets full-size packets if packets > 0.
func (c *counts) factory(packets int) func(quic.CongestionParams) quic.CongestionControl {
	return func(p quic.CongestionParams) quic.CongestionControl {
		c.made.Add(1)
		return &recorder{
			CongestionControl: quic.NewCubic(p),
			window:            quic.ByteCount(packets) * p.MaxDatagramSize,
			sent:              &c.sent, acked: &c.acked, inFlight: &c.inFlight,
		}
	}
}

// send writes n bytes from a dialler with cfg to a default listener and
// waits until the listener's side has read them all.
func send(t *testing.T, cfg quic.Config, n int) {
	a := newTransport(t, quic.Config{})
	b := newTransport(t, cfg)
	d, acc, l := pipe(t, a, b, "/ip4/127.0.0.1/udp/0")
	defer l.Close()
	defer acc.Close()
	got := make(chan int64, 1)
	go func() {
		m, _ := io.Copy(io.Discard, acc)
		got <- m
	}()
	_, err := d.Write(make([]byte, n))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.Equal(t, int64(n), <-got)
}

// A custom controller (Config.NewCongestion) is the one the connection
// uses: it hears of the packets sent and acked, and a window of four
// packets keeps the bytes in flight at four packets (plus, at most, the
// one a full window lets out and two probes), where the built-in
// controller, recorded the same way, lets many more fly.
func TestCustomCongestionControlIsUsed(t *testing.T) {
	const window = 4
	var capped, free counts
	send(t, quic.Config{NewCongestion: capped.factory(window)}, 4<<20)
	send(t, quic.Config{NewCongestion: free.factory(0)}, 4<<20)

	require.Positive(t, capped.made.Load())
	require.Greater(t, capped.sent.Load(), int64((4<<20)/1280))
	require.Positive(t, capped.acked.Load())
	limit := int64((window + 3) * 1280)
	require.LessOrEqual(t, capped.inFlight.Load(), limit)
	require.Greater(t, free.inFlight.Load(), 2*limit, "the built-in's most bytes in flight")
	t.Logf("most bytes in flight: window of %d packets %d, built-in %d", window, capped.inFlight.Load(), free.inFlight.Load())
}

// A factory that returns nil gets the built-in controller Congestion
// names, and the connection works.
func TestNilCongestionControlGetsTheBuiltin(t *testing.T) {
	var made atomic.Int64
	send(t, quic.Config{Congestion: quic.Reno, NewCongestion: func(quic.CongestionParams) quic.CongestionControl {
		made.Add(1)
		return nil
	}}, 1<<20)
	require.Positive(t, made.Load())
}

// Each built-in controller carries a peer link (Noise + yamux) both
// ways.
func TestBuiltinCongestionControlsCarryALink(t *testing.T) {
	for _, name := range []string{quic.Cubic, quic.Reno, quic.BBR} {
		t.Run(name, func(t *testing.T) {
			linkAndEcho(t, quic.Config{Congestion: name})
		})
	}
}

// An unknown congestion controller name is refused by New.
func TestUnknownCongestionIsAConfigError(t *testing.T) {
	_, err := quic.New(quic.Config{NetworkKey: netKey, Congestion: "vegas"})
	require.ErrorIs(t, err, quic.ErrConfig)
	for _, name := range []string{"", quic.Cubic, quic.Reno, quic.BBR} {
		tr, err := quic.New(quic.Config{NetworkKey: netKey, Congestion: name})
		require.NoError(t, err, name)
		tr.Close()
	}
}
