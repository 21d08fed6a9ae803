// This file is a foxtrot patch (see FORK.md): congestion control behind
// an interface.

package quic

import (
	"time"

	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/internal/congestion"
	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/internal/monotime"
	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/internal/protocol"
	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/internal/utils"
	"github.com/foxtrotnet/foxtrot/internal/third_party/quicgo/qlogwriter"
)

// A ByteCount counts bytes (of packets, in flight, of a window).
type ByteCount = protocol.ByteCount

// A PacketNumber is a QUIC packet number.
type PacketNumber = protocol.PacketNumber

// A MonoTime is an instant on the connection's monotonic clock (8 bytes,
// nanoseconds since an unspecified start); compare with its methods or
// the comparison operators. The zero MonoTime means "no time".
type MonoTime = monotime.Time

// MonoNow returns the current MonoTime.
func MonoNow() MonoTime { return monotime.Now() }

// CongestionControl decides how many bytes a connection may have in
// flight and when it may send. Its methods are called from the
// connection's run loop only, never concurrently, so an implementation
// needs no locking of its own. The method set is quic-go's internal
// congestion.SendAlgorithmWithDebugInfos, spelled out.
type CongestionControl interface {
	// TimeUntilSend returns when the next packet may be sent, asked
	// once HasPacingBudget said no; the zero MonoTime means at once.
	TimeUntilSend(bytesInFlight ByteCount) MonoTime
	// HasPacingBudget reports whether a full-size packet may go out
	// now as far as pacing goes (a controller without pacing: true).
	HasPacingBudget(now MonoTime) bool
	// OnPacketSent is called for every packet sent; bytesInFlight is
	// before this one, isRetransmittable is whether it is ack-eliciting
	// (only those count in flight).
	OnPacketSent(sentTime MonoTime, bytesInFlight ByteCount, packetNumber PacketNumber, bytes ByteCount, isRetransmittable bool)
	// CanSend reports whether the window admits another packet.
	CanSend(bytesInFlight ByteCount) bool
	// MaybeExitSlowStart is called after an ack updated the RTT.
	MaybeExitSlowStart()
	// OnPacketAcked is called for each newly acked in-flight packet.
	OnPacketAcked(number PacketNumber, ackedBytes ByteCount, priorInFlight ByteCount, eventTime MonoTime)
	// OnCongestionEvent is called for each packet declared lost (and
	// with lostBytes 0 on an ECN congestion mark).
	OnCongestionEvent(number PacketNumber, lostBytes ByteCount, priorInFlight ByteCount)
	// OnSpuriousLoss is called when a packet declared lost is acked.
	OnSpuriousLoss(number PacketNumber)
	// OnRetransmissionTimeout is called when the PTO fires.
	OnRetransmissionTimeout(packetsRetransmitted bool)
	// SetMaxDatagramSize is called when path-MTU discovery raises the
	// packet size.
	SetMaxDatagramSize(ByteCount)
	// InSlowStart and InRecovery report the state, for logs and qlog.
	InSlowStart() bool
	InRecovery() bool
	// GetCongestionWindow returns the window in bytes.
	GetCongestionWindow() ByteCount
}

// The interface and upstream's internal one are the same method set.
var (
	_ congestion.SendAlgorithmWithDebugInfos = CongestionControl(nil)
	_ CongestionControl                      = congestion.SendAlgorithmWithDebugInfos(nil)
)

// RTTStats is a read-only view of a connection's round-trip estimates,
// updated by the connection as acks arrive.
type RTTStats interface {
	MinRTT() time.Duration
	LatestRTT() time.Duration
	SmoothedRTT() time.Duration
	MeanDeviation() time.Duration
}

// CongestionParams is what Config.Congestion gets to build a controller
// for a connection (or for a new path of one).
type CongestionParams struct {
	// RTT is the connection's round-trip estimates.
	RTT RTTStats
	// MaxDatagramSize is the initial packet size (Config.InitialPacketSize).
	MaxDatagramSize ByteCount

	rttStats  *utils.RTTStats
	connStats *utils.ConnectionStats
	qlogger   qlogwriter.Recorder
}

// NewCubic returns quic-go's built-in CUBIC controller (RFC 9438's
// window growth, hybrid slow start, pacing) for p.
func NewCubic(p CongestionParams) CongestionControl { return newCubicSender(p, false) }

// NewReno returns quic-go's built-in NewReno controller (the same
// sender as NewCubic with Reno's linear window growth; hybrid slow
// start, pacing) for p: what a nil Config.Congestion uses, as upstream
// does.
func NewReno(p CongestionParams) CongestionControl { return newCubicSender(p, true) }

func newCubicSender(p CongestionParams, reno bool) CongestionControl {
	if p.rttStats == nil {
		// Params not made by a connection (a caller's own): give the
		// sender state of its own rather than a nil dereference.
		p.rttStats, p.connStats = &utils.RTTStats{}, &utils.ConnectionStats{}
	}
	return congestion.NewCubicSender(congestion.DefaultClock{}, p.rttStats, p.connStats, p.MaxDatagramSize, reno, p.qlogger)
}

// newCongestion returns the sent-packet handler's controller factory:
// nil (upstream's Reno) without Config.Congestion.
func (c *Conn) newCongestion() func(protocol.ByteCount) congestion.SendAlgorithmWithDebugInfos {
	f := c.config.Congestion
	if f == nil {
		return nil
	}
	return func(size protocol.ByteCount) congestion.SendAlgorithmWithDebugInfos {
		cc := f(CongestionParams{
			RTT:             c.rttStats,
			MaxDatagramSize: size,
			rttStats:        c.rttStats,
			connStats:       &c.connStats,
			qlogger:         c.qlogger,
		})
		if cc == nil {
			// A factory that returns nil gets the built-in.
			cc = NewReno(CongestionParams{MaxDatagramSize: size, rttStats: c.rttStats, connStats: &c.connStats, qlogger: c.qlogger})
		}
		return cc
	}
}
