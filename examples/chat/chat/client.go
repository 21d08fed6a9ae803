package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Client joins the chat at the other end of conn as name: it sends the
// name, then every line read from in, and writes every line the server
// sends to out. Lines from in that the server would refuse (too long,
// control characters) are not sent; Client says so on out. Lines from the
// server are printed with control characters replaced, so a server cannot
// send escape sequences to a terminal.
//
// Client returns
//   - nil when in ends (io.EOF): it half-closes conn (CloseWrite, if conn
//     has it), which the server takes as leaving, and returns once the
//     server has closed its side;
//   - ctx.Err() when ctx ends: it leaves the same way, but waits at most
//     LeaveTimeout for the server;
//   - an error wrapping ErrBadName, before sending anything, if name is
//     not acceptable (see CheckName); ErrRefused if the server refuses it;
//   - ErrHungUp if the server closes the connection first.
//
// Leaving by a half-close, rather than by closing conn at once, lets the
// server see the client go while the client's network is still up: a
// program that closes its foxtrot node right after its connection can
// otherwise leave the other end waiting for the connection to resume.
//
// Client closes conn before returning. It reads in on a goroutine of its
// own, which it cannot interrupt: when Client returns for any reason but
// the end of in, that goroutine ends after its pending Read of in returns
// (at once for a closed pipe; at the next line for a terminal), and
// writes nothing more to out.
func Client(ctx context.Context, conn net.Conn, name string, in io.Reader, out io.Writer) error {
	defer conn.Close()
	if err := CheckName(name); err != nil {
		return err
	}
	p := &printer{w: out}
	defer p.stop()
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			return ErrHungUp
		}
		return err
	}

	// Until the room has answered, ending ctx closes conn.
	early := context.AfterFunc(ctx, func() { conn.Close() })
	if _, err := io.WriteString(conn, name+"\n"); err != nil {
		return fail(err)
	}
	lr := newLineReader(conn, maxServerLine)
	first, err := lr.next()
	if err != nil {
		return fail(err)
	}
	if !early() {
		return ctx.Err()
	}
	if reason, ok := strings.CutPrefix(string(first), "*** refused: "); ok {
		return fmt.Errorf("%w: %s", ErrRefused, sanitize([]byte(reason)))
	}
	p.println(sanitize(first))

	// From now on, ending ctx only unblocks a Write; the loop then leaves.
	defer context.AfterFunc(ctx, func() { conn.SetWriteDeadline(longAgo) })()
	r := &receiver{done: make(chan struct{})}
	go r.run(lr, p)
	lines := make(chan string)
	inErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go readInput(in, lines, inErr, quit, p)

	for {
		select {
		case line := <-lines:
			if _, err := io.WriteString(conn, line+"\n"); err != nil {
				if ctx.Err() != nil {
					leave(conn, r, LeaveTimeout, nil)
					return ctx.Err()
				}
				conn.Close()
				<-r.done
				return fail(err)
			}
		case err := <-inErr:
			leave(conn, r, -1, ctx.Done())
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		case <-ctx.Done():
			leave(conn, r, LeaveTimeout, nil)
			return ctx.Err()
		case <-r.done:
			return fail(r.err)
		}
	}
}

// LeaveTimeout bounds how long Client waits for the server to acknowledge
// its leaving when its context ends.
const LeaveTimeout = time.Second

var longAgo = time.Unix(1, 0)

// leave half-closes conn and waits for the server to close its side (for
// at most timeout, if it is not negative, and until cancel), then closes
// conn and waits for the receiver to stop.
func leave(conn net.Conn, r *receiver, timeout time.Duration, cancel <-chan struct{}) {
	if cw, ok := conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		var expired <-chan time.Time
		if timeout >= 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expired = t.C
		}
		select {
		case <-r.done:
		case <-expired:
		case <-cancel:
		}
	}
	conn.Close()
	<-r.done
}

// receiver prints the server's lines until the connection ends; err is
// why it ended (io.EOF for an orderly end), set before done is closed.
type receiver struct {
	done chan struct{}
	err  error
}

func (r *receiver) run(lr *lineReader, p *printer) {
	defer close(r.done)
	r.err = receive(lr, p)
}

// receive prints the server's lines until the connection ends; it
// returns io.EOF for an orderly end.
func receive(lr *lineReader, p *printer) error {
	for {
		line, err := lr.next()
		switch {
		case errors.Is(err, ErrLineTooLong):
			p.println("*** (the server sent a line too long to show)")
		case err != nil:
			return err
		default:
			p.println(sanitize(line))
		}
	}
}

// readInput sends in's lines that may be sent, and then the reason in
// ended (nil for io.EOF), until quit.
func readInput(in io.Reader, lines chan<- string, done chan<- error, quit <-chan struct{}, p *printer) {
	lr := newLineReader(in, MaxLine)
	for {
		line, err := lr.next()
		switch {
		case errors.Is(err, ErrLineTooLong):
			p.println("*** not sent: " + tooLong)
			continue
		case err == io.EOF:
			done <- nil
			return
		case err != nil:
			done <- err
			return
		case len(line) == 0:
			continue
		}
		if problem := textProblem(line); problem != "" {
			p.println("*** not sent: " + problem)
			continue
		}
		select {
		case lines <- string(line):
		case <-quit:
			return
		}
	}
}

// printer serialises writes to out and stops them when Client returns.
type printer struct {
	mu      sync.Mutex
	w       io.Writer
	stopped bool
}

func (p *printer) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stopped {
		io.WriteString(p.w, s+"\n")
	}
}

func (p *printer) stop() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}
