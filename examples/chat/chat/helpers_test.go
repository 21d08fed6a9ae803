package chat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// wait bounds every wait of the tests: generous, for -race on two cores.
const wait = 30 * time.Second

// noLeaks checks at the end of the test, after every other cleanup, that
// no goroutine is left behind.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// A carrier is a way to connect clients to a server: a listener for the
// server and a dial for the i-th client.
type carrier struct {
	name string
	make func(t *testing.T) (net.Listener, func(t *testing.T, i int) net.Conn)
}

var carriers = []carrier{
	{"pipe", pipeCarrier},
	{"tcp", tcpCarrier},
	{"foxtrot", foxtrotCarrier},
}

// eachCarrier runs test once per carrier, each with its own leak check.
func eachCarrier(t *testing.T, test func(t *testing.T, l net.Listener, dial func(t *testing.T, i int) net.Conn)) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			noLeaks(t)
			l, dial := c.make(t)
			test(t, l, dial)
		})
	}
}

// pipeListener hands out the server ends of net.Pipe conns: synchronous,
// unbuffered, so a client that does not read blocks the server's next
// write at once.
type pipeListener struct {
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func pipeCarrier(t *testing.T) (net.Listener, func(*testing.T, int) net.Conn) {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	t.Cleanup(func() { l.Close() })
	return l, func(t *testing.T, _ int) net.Conn {
		c, s := net.Pipe()
		select {
		case l.conns <- s:
		case <-time.After(wait):
			t.Fatal("the server did not accept")
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
}

func tcpCarrier(t *testing.T) (net.Listener, func(*testing.T, int) net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, func(t *testing.T, _ int) net.Conn {
		c, err := net.DialTimeout("tcp", l.Addr().String(), wait)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
}

// foxtrotCarrier is four foxtrot nodes in a line over the mem transport.
// The server listens on node 0; clients dial from nodes 2 and 3 in turn,
// so each connection runs through one or two relays.
func foxtrotCarrier(t *testing.T) (net.Listener, func(*testing.T, int) net.Conn) {
	sn := simnet.New(4, simnet.Line, simnet.Options{})
	nodes := make([]*foxtrot.Node, sn.Len())
	for i := range nodes {
		n, err := foxtrot.NewNode(foxtrot.Config{
			Identity:    sn.Keys[i],
			ListenAddrs: []string{sn.Listen(i)},
			Peers:       sn.Peers(i),
			Transports:  sn.Transports(),
		})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		nodes[i] = n
	}
	require.Eventually(t, func() bool {
		for i, n := range nodes {
			if len(n.Peers()) != len(sn.Neighbours(i)) {
				return false
			}
		}
		return true
	}, wait, 5*time.Millisecond, "the network did not link up")

	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := nodes[0].Listen(key)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, func(t *testing.T, i int) net.Conn {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := nodes[2+i%2].DialContext(ctx, "foxtrot", l.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		require.NotEmpty(t, c.(*foxtrot.Conn).Path(), "the client is at least one relay away")
		return c
	}
}

// serve runs srv on l until the test ends, then closes it and checks
// that Serve returned ErrServerClosed.
func serve(t *testing.T, srv *Server, l net.Listener) {
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		select {
		case err := <-done:
			require.ErrorIs(t, err, ErrServerClosed)
		case <-time.After(wait):
			t.Fatal("Serve did not return after Close")
		}
	})
}

// user is someone chatting through Client: what they type goes to in,
// what they see arrives on lines.
type user struct {
	name   string
	in     *io.PipeWriter
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func join(t *testing.T, conn net.Conn, name string) *user {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	u := &user{name: name, in: pw, lines: make(chan string, 1<<14), done: make(chan error, 1), cancel: cancel}
	go func() { u.done <- Client(ctx, conn, name, pr, &lineWriter{lines: u.lines}) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-u.done:
		case <-time.After(wait):
			t.Errorf("%s: Client did not return", name)
		}
	})
	return u
}

func (u *user) say(t *testing.T, line string) {
	t.Helper()
	_, err := io.WriteString(u.in, line+"\n")
	require.NoError(t, err)
}

// expect checks that the next lines u sees are want, in order.
func (u *user) expect(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		require.Equal(t, w, u.next(t), "what %s sees next", u.name)
	}
}

func (u *user) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-u.lines:
		return l
	case <-time.After(wait):
		t.Fatalf("%s saw nothing more", u.name)
		return ""
	}
}

// quit ends u's input and returns what Client returned.
func (u *user) quit(t *testing.T) error {
	t.Helper()
	u.in.Close()
	return u.result(t)
}

func (u *user) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-u.done:
		u.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatalf("%s: Client did not return", u.name)
		return nil
	}
}

// lineWriter sends each complete line written to it on lines.
type lineWriter struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.lines <- string(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// raw is a client that speaks the protocol by hand.
type raw struct {
	conn net.Conn
	lr   *lineReader
}

func dialRaw(conn net.Conn) *raw {
	return &raw{conn: conn, lr: newLineReader(conn, 1<<20)}
}

func (r *raw) send(t *testing.T, s string) {
	t.Helper()
	r.conn.SetWriteDeadline(time.Now().Add(wait))
	_, err := io.WriteString(r.conn, s)
	require.NoError(t, err)
}

func (r *raw) expect(t *testing.T, want ...string) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(wait))
	for _, w := range want {
		line, err := r.lr.next()
		require.NoError(t, err)
		require.Equal(t, w, string(line))
	}
}

// expectEnd reads until the server's end of the connection, skipping
// whatever is still in flight, and checks that it ends in an orderly way.
func (r *raw) expectEnd(t *testing.T) {
	t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		_, err := r.lr.next()
		if errors.Is(err, ErrLineTooLong) {
			continue
		}
		if err != nil {
			require.ErrorIs(t, err, io.EOF, "the server closed the connection")
			return
		}
	}
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }
