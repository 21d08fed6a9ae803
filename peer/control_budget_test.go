package peer

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

// deafMuxer is a peer that never reads anything: every stream's Read
// waits until the muxer closes.
type deafMuxer struct {
	Muxer
	done chan struct{}
	once sync.Once
}

type deafStream struct {
	MuxStream
	done <-chan struct{}
}

func (s deafStream) Read([]byte) (int, error) { <-s.done; return 0, io.EOF }

func deafYamux(c net.Conn, client bool, cfg MuxConfig) (Muxer, error) {
	m, err := Yamux(c, client, cfg)
	if err != nil {
		return nil, err
	}
	return &deafMuxer{Muxer: m, done: make(chan struct{})}, nil
}

func (m *deafMuxer) Open(ctx context.Context) (MuxStream, error) {
	s, err := m.Muxer.Open(ctx)
	if err != nil {
		return nil, err
	}
	return deafStream{s, m.done}, nil
}

func (m *deafMuxer) Accept(ctx context.Context) (MuxStream, error) {
	s, err := m.Muxer.Accept(ctx)
	if err != nil {
		return nil, err
	}
	return deafStream{s, m.done}, nil
}

func (m *deafMuxer) Close() error {
	m.once.Do(func() { close(m.done) })
	return m.Muxer.Close()
}

// A peer that never reads its control stream costs the node at most
// MaxQueuedControl bytes of queued messages: past it Send refuses with
// an error naming the limit, and the refusal is counted.
func TestAPeerThatDoesNotReadCostsAtMostMaxQueuedControl(t *testing.T) {
	defer goleak.VerifyNone(t)
	const limit = 64 << 10
	tr := tcp.New()
	node := newTestSet(t, tr, nil, func(c *Config) { c.MaxQueuedControl = limit })
	full := listen(t, node, "/ip4/127.0.0.1/tcp/0")
	deaf := newTestSet(t, tr, nil, func(c *Config) { c.NewMuxer = deafYamux })
	_, err := deaf.Connect(ctxT(t), full)
	require.NoError(t, err)
	var l *Link
	require.Eventually(t, func() bool {
		for _, x := range node.Links() {
			if x.ID() == deaf.Self() {
				l = x
			}
		}
		return l != nil
	}, 10*time.Second, 5*time.Millisecond)

	var sendErr error
	for i := 0; i < 1<<20 && sendErr == nil; i++ {
		sendErr = l.Send(&wire.Ping{Nonce: uint64(i)})
	}
	require.ErrorIs(t, sendErr, ErrSendQueueFull)
	require.Contains(t, sendErr.Error(), "MaxQueuedControl")
	require.LessOrEqual(t, l.Queued(), limit+64, "the queue stops at the limit (one message over at most)")
	require.Positive(t, node.Refusals().Control)
	require.False(t, errors.Is(sendErr, ErrLinkClosed))
	node.Close()
	deaf.Close()
}
