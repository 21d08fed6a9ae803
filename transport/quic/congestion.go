package quic

import (
	"fmt"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
)

// The names of the built-in congestion controllers (Config.Congestion).
const (
	// Cubic is CUBIC (RFC 9438's window growth) with HyStart++ slow start
	// and pacing: the default.
	Cubic = "cubic"
	// Reno is NewReno with HyStart++ slow start and pacing: upstream
	// quic-go's only choice (with upstream's hybrid slow start).
	Reno = "reno"
	// BBR is a model-based controller (BBRv1 with BBRv2's in-flight
	// bound on heavy loss; NewBBR): it sizes its window from the
	// measured delivery rate and minimum round-trip time, so sparse loss
	// does not cut it.
	BBR = "bbr"
)

// CongestionControl is what a custom congestion controller implements
// (Config.NewCongestion): how many bytes a connection may have in flight
// and when it may send. Its methods are called from the connection's
// run loop only, never concurrently. It is quic-go's internal sender
// interface, exported by this repository's fork (internal/third_party/quicgo,
// FORK.md); the method docs are there.
type CongestionControl = quicgo.CongestionControl

// CongestionParams is what Config.NewCongestion gets for each connection
// (and each new path of one): its round-trip estimates (RTT) and its
// initial packet size (MaxDatagramSize).
type CongestionParams = quicgo.CongestionParams

// RTTStats is a connection's round-trip estimates, read-only.
type RTTStats = quicgo.RTTStats

// ByteCount, PacketNumber and MonoTime are the types CongestionControl's
// methods take: bytes, QUIC packet numbers, and instants on the
// connection's monotonic clock (MonoNow).
type (
	ByteCount    = quicgo.ByteCount
	PacketNumber = quicgo.PacketNumber
	MonoTime     = quicgo.MonoTime
)

// MonoNow returns the current MonoTime.
func MonoNow() MonoTime { return quicgo.MonoNow() }

// NewCubic and NewReno return the built-in controllers for p, for a
// custom controller that wraps one (they must get the p that
// Config.NewCongestion was given: it carries the connection's state).
func NewCubic(p CongestionParams) CongestionControl { return quicgo.NewCubic(p) }

// NewReno returns the built-in NewReno controller for p; see NewCubic.
func NewReno(p CongestionParams) CongestionControl { return quicgo.NewReno(p) }

// congestion returns the quic-go Config.Congestion for c: the named
// built-in, or c.NewCongestion falling back to it.
func (c Config) congestion() (func(CongestionParams) CongestionControl, error) {
	var builtin func(CongestionParams) CongestionControl
	switch c.Congestion {
	case Cubic:
		builtin = NewCubic
	case Reno:
		builtin = NewReno
	case BBR:
		builtin = NewBBR
	default:
		return nil, fmt.Errorf("%w: unknown Congestion %q (want %q, %q or %q)", ErrConfig, c.Congestion, Cubic, Reno, BBR)
	}
	f := c.NewCongestion
	if f == nil {
		return builtin, nil
	}
	return func(p CongestionParams) CongestionControl {
		if cc := f(p); cc != nil {
			return cc
		}
		return builtin(p)
	}, nil
}
