package chat

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// refLines is the slow, obvious reading of a stream into lines of at most
// max bytes: split at every "\n", drop one "\r" before it, and keep a last
// unterminated piece if there is one. nil stands for a line too long.
func refLines(data []byte, max int) [][]byte {
	pieces := bytes.Split(data, []byte{'\n'})
	if last := len(pieces) - 1; len(pieces[last]) == 0 {
		pieces = pieces[:last]
	}
	var out [][]byte
	for _, p := range pieces {
		p = bytes.TrimSuffix(p, []byte{'\r'})
		if len(p) > max {
			p = nil
		} else if p == nil {
			p = []byte{}
		}
		out = append(out, p)
	}
	return out
}

// The line reader agrees with refLines, however the bytes are chunked.
func FuzzLineReader(f *testing.F) {
	for _, s := range []string{
		"", "\n", "a", "a\nb", "a\r\nb\r\n", "\r", "\r\r\n", "toolong\nok\n",
		strings.Repeat("x", 40) + "\nend", "x\n" + strings.Repeat("y", 100),
	} {
		f.Add([]byte(s), uint8(5), false)
		f.Add([]byte(s), uint8(20), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, max uint8, oneByte bool) {
		var r io.Reader = bytes.NewReader(data)
		if oneByte {
			r = iotest.OneByteReader(r)
		}
		lr := newLineReader(r, int(max))
		var got [][]byte
		for {
			line, err := lr.next()
			if err == io.EOF {
				break
			}
			if errors.Is(err, ErrLineTooLong) {
				got = append(got, nil)
				continue
			}
			require.NoError(t, err)
			got = append(got, bytes.Clone(line))
		}
		require.Equal(t, refLines(data, int(max)), got)
	})
}

// An accepted name is printable UTF-8 that cannot pass for a notice or
// for someone else's message.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"alice", "", "a:b", "*x", " x", "x ", "\x1b", "é", "\u202e", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckName(name) != nil {
			return
		}
		require.True(t, utf8.ValidString(name))
		require.LessOrEqual(t, utf8.RuneCountInString(name), MaxName)
		require.Equal(t, name, sanitize([]byte(name)), "prints as itself")
		require.Equal(t, strings.TrimSpace(name), name)
		require.NotContains(t, name, ":")
		require.False(t, strings.HasPrefix(name, "*"))
		require.Equal(t, -1, strings.IndexFunc(name, func(r rune) bool { return r == '\n' || r == '\r' || r == '\u2028' }))
	})
}

// Whatever bytes a client sends, the server stays up, and what another
// client receives is well-formed: printable lines of bounded length, each
// a notice or "NAME: message".
func FuzzServerSession(f *testing.F) {
	f.Add([]byte("mallory\nhello\n\x1b[2J\n"))
	f.Add([]byte("\n"))
	f.Add([]byte("m\n" + strings.Repeat("z", MaxLine+3) + "\nok"))
	f.Add([]byte("*** x joined\nhi\n"))
	f.Add([]byte("bob\nbob\n"))
	f.Add([]byte("eve\r\nI left\n\xff\n"))
	f.Fuzz(func(t *testing.T, session []byte) {
		l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		srv := &Server{Rate: 1e9, FlushTimeout: 100 * time.Millisecond}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()
		dial := func() net.Conn {
			c, s := net.Pipe()
			l.conns <- s
			return c
		}

		bob := dialRaw(dial())
		bob.send(t, "bob\n")
		bob.expect(t, "*** welcome bob; nobody else is here")
		lines := make(chan string, 1<<16)
		go func() {
			defer close(lines)
			for {
				line, err := bob.lr.next()
				if errors.Is(err, ErrLineTooLong) {
					lines <- "(too long)"
					continue
				}
				if err != nil {
					return
				}
				lines <- string(line)
			}
		}()

		// Mallory sends the session and reads whatever she is sent.
		mallory := dial()
		go io.Copy(io.Discard, mallory)
		go func() {
			mallory.Write(session)
			mallory.Close()
		}()
		name := ""
		if first := refLines(session, MaxLine); len(first) > 0 && first[0] != nil &&
			CheckName(string(first[0])) == nil && string(first[0]) != "bob" {
			name = string(first[0]) // she joins, and bob will see her leave
		}

		check := func(line string) {
			require.True(t, utf8.ValidString(line), "%q", line)
			require.Equal(t, line, sanitize([]byte(line)), "printable")
			require.LessOrEqual(t, len(line), maxServerLine)
			if strings.HasPrefix(line, "*** ") {
				return
			}
			who, _, ok := strings.Cut(line, ": ")
			require.True(t, ok, "%q is a notice or a message", line)
			require.Equal(t, name, who)
		}
		deadline := time.After(10 * time.Second)
		for name != "" {
			select {
			case line := <-lines:
				check(line)
				if line == "*** "+name+" left" {
					name = ""
				}
			case <-deadline:
				t.Fatal("bob never saw mallory leave")
			}
		}
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, ErrServerClosed)
		for line := range lines {
			check(line)
		}
		bob.conn.Close()
	})
}
