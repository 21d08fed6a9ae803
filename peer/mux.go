package peer

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// Muxer multiplexes a link's streams over its encrypted conn. A Link
// reaches its streams only through this interface, so a transport that
// brings streams of its own (QUIC) can carry links without yamux. Yamux is
// the default (Config.NewMuxer): GoYamux, whose stream windows grow;
// Yamux (hashicorp/yamux, fixed windows) is the other.
//
// The first stream the dialler opens is the link's control stream; the
// listener's first Accept returns it.
type Muxer interface {
	// Open opens a stream to the peer. ctx bounds any wait for the muxer
	// to let a new stream start (yamux waits only while its backlog of
	// unanswered opens is full, and not for ctx).
	Open(ctx context.Context) (MuxStream, error)
	// Accept returns the next stream the peer opened, waiting until one
	// comes, ctx ends or the muxer closes (an error wrapping
	// ErrLinkClosed).
	Accept(ctx context.Context) (MuxStream, error)
	// NumStreams returns how many streams are open.
	NumStreams() int
	// Close closes every stream and the conn below, and unblocks every
	// call. Idempotent.
	Close() error
}

// MuxStream is one stream of a Muxer: a byte stream in each direction
// with deadlines. Its errors say what happened by what they wrap: a passed
// deadline os.ErrDeadlineExceeded, a closed muxer ErrLinkClosed, a closed
// stream net.ErrClosed; Read returns io.EOF once the peer's writes are all
// read after its CloseWrite. A Link wraps each in a Stream, which keeps
// the rest of the net.Conn contract.
type MuxStream interface {
	Read(p []byte) (int, error)
	// Write writes all of p or returns an error.
	Write(p []byte) (int, error)
	// CloseWrite ends this side's writes: the peer reads io.EOF after
	// what was written. This side may still read.
	CloseWrite() error
	// Close ends this side's writes and its interest in reading. A call
	// blocked in Read or Write is not woken by Close (Stream wakes it
	// with a deadline first).
	Close() error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// MuxConfig is what a Set tells a new Muxer.
type MuxConfig struct {
	// StreamWindow is the most bytes in flight on one stream
	// (Config.StreamWindow): the fixed window of Yamux, the most a
	// GoYamux window grows to.
	StreamWindow uint32
	// Budget is the credit GoYamux windows grow with
	// (Config.WindowBudget); nil grants none.
	Budget WindowBudget
	// Logger receives the muxer's debug events; never nil.
	Logger *slog.Logger
	// OnReset, if not nil, is called for every stream the muxer resets
	// unread because its backlog of streams not yet accepted was full.
	OnReset func()
}

// NewMuxerFunc starts a Muxer over an authenticated link's conn. client
// is true on the side that dialled. The Muxer owns c from then on, and
// closes it when it closes; on error the caller closes c.
type NewMuxerFunc func(c net.Conn, client bool, cfg MuxConfig) (Muxer, error)
