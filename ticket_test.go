package foxtrot_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// warmUp makes one connection from n to l (accepted and closed at once on
// l's side) and waits for the ticket it brings, so n's next dial of l
// resumes.
func warmUp(t *testing.T, n *foxtrot.Node, l net.Listener) {
	t.Helper()
	kept := n.Stats().TicketsKept
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c := foxtrottest.Dial(t, n, l.Addr())
	s := <-accepted
	require.NotNil(t, s)
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(s, make([]byte, 1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return n.Stats().TicketsKept > kept }, 10*time.Second, time.Millisecond)
	c.Close()
	s.Close()
}

// A connection dialled with a ticket (no public-key work) keeps the whole
// net.Conn contract, through two relays; each brings the next ticket, so
// every pair nettest makes is a resumed connection.
//
// A ticket dial falls back to a full handshake when no answer came within
// MinDirectedWait; under -race beside other test binaries the default
// 150 ms can pass, so it is long here: every pair must resume.
func TestAResumedConnPassesNettest(t *testing.T) {
	fn := foxtrottest.New(t, 4, foxtrottest.Line, foxtrottest.Options{Config: func(i int, c *foxtrot.Config) {
		c.MinDirectedWait = 5 * time.Second
	}})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[3].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	alice := fn.Nodes[0]
	warmUp(t, alice, l)
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		st := alice.Stats()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c, err := alice.Dial(l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		s := <-accepted
		if s == nil {
			return nil, nil, nil, errors.New("accept failed")
		}
		stop := func() { c.Close(); s.Close() }
		if now := alice.Stats(); len(c.(*foxtrot.Conn).Path()) != 2 || now.TicketDials != st.TicketDials+1 {
			stop()
			return nil, nil, nil, fmt.Errorf("not resumed through 2 relays: path %v, ticket dials %d -> %d, fallbacks %d",
				c.(*foxtrot.Conn).Path(), st.TicketDials, now.TicketDials, now.TicketFallbacks)
		}
		// the next pair resumes too
		for deadline := time.Now().Add(10 * time.Second); alice.Stats().TicketsKept == st.TicketsKept; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				stop()
				return nil, nil, nil, errors.New("no ticket for the next pair")
			}
		}
		return c, s, stop, nil
	})
	require.Zero(t, alice.Stats().TicketFallbacks)
}

// A resumed connection fails over like any other when the relay on its
// path closes mid-transfer: its new path is found with a full request,
// and the resume is proved with the ticket connection's master'.
func TestAResumedTransferSurvivesTheRelayOnItsPathClosing(t *testing.T) {
	fn := twoPaths(t, nil)
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[bob].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	warmUp(t, fn.Nodes[alice], l)
	var struck []int
	_, last := transferTo(t, fn, l, 16<<20, func(c *foxtrot.Conn) {
		require.Equal(t, int64(1), fn.Nodes[alice].Stats().TicketDials, "the transfer's connection resumed")
	}, func(c *foxtrot.Conn) {
		struck = fn.Indices(c.Path())
		fn.CloseNode(struck[0])
	})
	require.NotEqual(t, struck, last, "the connection moved")
	require.NotContains(t, last, struck[0], "off the closed relay")
}

// Config.NoTickets: every dial is a full handshake, nothing is issued.
func TestNoTicketsConfigMakesEveryDialAFullHandshake(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Line, foxtrottest.Options{Config: func(i int, c *foxtrot.Config) {
		c.NoTickets = true
	}})
	l := foxtrottest.Echo(t, fn.Nodes[2])
	for range 2 {
		c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
		_, err := c.Write([]byte("x"))
		require.NoError(t, err)
		_, err = io.ReadFull(c, make([]byte, 1))
		require.NoError(t, err)
		c.Close()
	}
	require.Zero(t, fn.Nodes[2].Stats().TicketsIssued)
	require.Zero(t, fn.Nodes[0].Stats().TicketDials)
}
