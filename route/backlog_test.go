package route

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

func TestAFullBacklogRefusesNeverDropsLater(t *testing.T) {
	// 300 dials from 0 to a listener on 3 that does not Accept yet, over
	// two relays (so each connection has a backup path): each dial gets
	// ErrRefused or a connection, and every connection works once the
	// listener starts accepting.
	const backlog, dials = 32, 300
	sn := simnet.New(4, simnet.Custom([][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}}), simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		c.AcceptBacklog = backlog
		c.RequestRate, c.RequestBurst = 1e6, 1e6
	}, nil)
	lst, err := nodes[3].r.Listen(newTestKey(t))
	require.NoError(t, err)
	t.Cleanup(func() { lst.Close() })

	var (
		mu       sync.Mutex
		conns    []*Session
		refused  int
		failures []error
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				s, err := dial(t, nodes[0], lst.Addr(), 20*time.Second)
				mu.Lock()
				switch {
				case err == nil:
					conns = append(conns, s)
				case isRefused(err):
					refused++
				default:
					failures = append(failures, err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < dials; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	require.Empty(t, failures, "every dial is refused or connects")
	require.Equal(t, dials, len(conns)+refused)
	require.LessOrEqual(t, len(conns), backlog, "no more connections than the backlog holds")
	require.Positive(t, refused)
	require.GreaterOrEqual(t, nodes[3].r.Stats().AcceptsRefused, int64(refused), "each copy of a refused request is counted")
	t.Logf("%d connected, %d refused", len(conns), refused)

	go serveEcho(lst)
	for i, s := range conns {
		roundTrip(t, s, fmt.Sprintf("connection %d works", i))
		s.Close()
	}
	require.Zero(t, nodes[3].r.Stats().AcceptsFailed, "the target dropped no connection it acked")
}

func isRefused(err error) bool { return errors.Is(err, ErrRefused) }

func TestSetupsOnePeerNeverCompletesLeaveTheBacklogToOthers(t *testing.T) {
	// 0 sends 50 signed requests for a listener on 1 and never opens their
	// streams: the setups hold backlog slots until they expire, but only
	// 0's share of them, so 2 still connects.
	const backlog = 64
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	nodes := startNodes(t, sn, func(i int, c *Config) {
		c.AcceptBacklog = backlog
		c.RequestRate, c.RequestBurst = 1e6, 1e6
	}, nil)
	l := echo(t, nodes[1])
	from0 := linkTo(t, nodes[1], nodes[0])
	before := nodes[1].r.Stats()
	for i := 0; i < 50; i++ {
		req, _, err := newRequest(l.Addr(), 0, 0, 0, time.Now(), nil)
		require.NoError(t, err)
		nodes[1].r.handleRequest(from0, req)
	}
	st := nodes[1].r.Stats()
	require.EqualValues(t, 50, st.AcksSent-before.AcksSent, "each answered: acked or refused")
	require.EqualValues(t, 50-backlog/2, st.AcceptsRefused-before.AcceptsRefused, "0's share is half the backlog")

	s, err := dial(t, nodes[2], l.Addr(), 5*time.Second)
	require.NoError(t, err, "2 still gets a slot")
	roundTrip(t, s, "room for me")
	s.Close()
	s, err = dial(t, nodes[0], l.Addr(), 5*time.Second)
	require.ErrorIs(t, err, ErrRefused, "0 has used its share")
}
