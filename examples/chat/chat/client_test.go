package chat

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Close tells everyone, stops Serve, and unblocks every client: the
// named ones, one that never said its name, and one that never reads.
func TestCloseUnblocksEverything(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		srv := &Server{FlushTimeout: 200 * time.Millisecond}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()

		alice := join(t, dial(t, 0), "alice")
		alice.next(t)
		bob := join(t, dial(t, 1), "bob")
		bob.next(t)
		alice.expect(t, "*** bob joined")
		stalled := dialRaw(dial(t, 2))
		stalled.send(t, "stalled\n") // and never reads
		alice.expect(t, "*** stalled joined")
		bob.expect(t, "*** stalled joined")
		silent := dialRaw(dial(t, 3)) // never says its name
		require.Eventually(t, func() bool {
			srv.mu.Lock()
			defer srv.mu.Unlock()
			return len(srv.pending) == 1
		}, wait, time.Millisecond, "the server accepted the silent connection")

		start := time.Now()
		require.NoError(t, srv.Close())
		require.Less(t, time.Since(start), 3*time.Second, "Close waits FlushTimeout at most, and a little")
		require.ErrorIs(t, <-served, ErrServerClosed)
		require.ErrorIs(t, <-served2(srv, l), ErrServerClosed, "Serve after Close")
		require.NoError(t, srv.Close(), "Close is idempotent")

		for _, u := range []*user{alice, bob} {
			u.expect(t, "*** server closing")
			require.ErrorIs(t, u.result(t), ErrHungUp)
		}
		silent.expectEnd(t)
		stalled.expectEnd(t)
	})
}

func served2(srv *Server, l net.Listener) chan error {
	done := make(chan error, 1)
	done <- srv.Serve(l)
	return done
}

// A client whose context ends closes its connection; the others see it
// leave.
func TestClientLeavesWhenItsContextEnds(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		alice := join(t, dial(t, 0), "alice")
		alice.next(t)
		bob := join(t, dial(t, 1), "bob")
		bob.next(t)
		alice.expect(t, "*** bob joined")
		bob.cancel()
		require.ErrorIs(t, bob.result(t), context.Canceled)
		alice.expect(t, "*** bob left")
	})
}

// A connection that does not name itself within NameTimeout is closed.
func TestSilentConnectionIsClosedAfterNameTimeout(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{NameTimeout: 100 * time.Millisecond}, l)
		r := dialRaw(dial(t, 0))
		r.send(t, "half a na") // no newline
		start := time.Now()
		r.expectEnd(t)
		require.Less(t, time.Since(start), 5*time.Second)
	})
}

// Client checks its name itself and sends nothing when it is bad.
func TestClientRefusesABadNameBeforeSendingIt(t *testing.T) {
	noLeaks(t)
	c, s := net.Pipe()
	defer s.Close()
	var out strings.Builder
	err := Client(context.Background(), c, "eve: admin", strings.NewReader("hi\n"), &out)
	require.ErrorIs(t, err, ErrBadName)
	require.EqualError(t, err, `chat: bad name "eve: admin": contains ':'`)
	n, err := s.Read(make([]byte, 1))
	require.Equal(t, 0, n, "nothing was sent")
	require.ErrorIs(t, err, io.EOF, "and the connection is closed")
	require.Empty(t, out.String())
}

// A name the server refuses (it is taken) is Client's error.
func TestClientReportsATakenName(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		alice := join(t, dial(t, 0), "alice")
		alice.next(t)
		var out strings.Builder
		err := Client(context.Background(), dial(t, 1), "alice", strings.NewReader(""), &out)
		require.ErrorIs(t, err, ErrRefused)
		require.EqualError(t, err, "chat: refused by the server: the name alice is taken")
		require.Empty(t, alice.lines, "alice heard nothing of it")
	})
}

// Client keeps back what the server would refuse, and says why.
func TestClientDoesNotSendWhatTheServerWouldRefuse(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		alice := join(t, dial(t, 0), "alice")
		alice.next(t)
		bob := join(t, dial(t, 1), "bob")
		bob.next(t)
		alice.expect(t, "*** bob joined")

		bob.say(t, repeat("x", MaxLine+1))
		bob.expect(t, "*** not sent: line too long (more than 4096 bytes)")
		bob.say(t, "ding\a")
		bob.expect(t, "*** not sent: contains the control character U+0007")
		bob.say(t, "ok")
		alice.expect(t, "bob: ok")
	})
}

// Whatever a server sends, Client prints no control characters, so a
// hostile server cannot drive the terminal; and it survives overlong
// lines.
func TestClientPrintsNoControlCharacters(t *testing.T) {
	noLeaks(t)
	c, s := net.Pipe()
	defer s.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	out := &lineWriter{lines: make(chan string, 10)}
	done := make(chan error, 1)
	go func() { done <- Client(context.Background(), c, "bob", pr, out) }()

	server := dialRaw(s)
	server.expect(t, "bob")
	server.send(t, "*** welcome bob; nobody else is here\n")
	server.send(t, "mallory: \x1b[2J\u009b31m\xffgotcha\r\n")
	server.send(t, repeat("y", 2*maxServerLine)+"\n")
	server.send(t, "mallory: bye\n")
	require.NoError(t, s.Close())
	require.ErrorIs(t, <-done, ErrHungUp)
	close(out.lines)
	var got []string
	for l := range out.lines {
		got = append(got, l)
	}
	require.Equal(t, []string{
		"*** welcome bob; nobody else is here",
		"mallory: \uFFFD[2J\uFFFD31m\uFFFDgotcha",
		"*** (the server sent a line too long to show)",
		"mallory: bye",
	}, got)
}
