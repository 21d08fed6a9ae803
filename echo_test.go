package foxtrot

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// The full-duplex echo: the listener copies every byte back while the
// dialler writes and reads at once. Before receiver-advertised windows it
// could deadlock: the acks each end owed queued behind data the other
// could not take in, because its reader was blocked on a full receive
// buffer that only the acks would have drained.
var (
	echoRounds  = flag.Int("echo.rounds", 5, "rounds of TestFullDuplexEchoNeverHangs per carrier")
	echoTimeout = flag.Duration("echo.timeout", 2*time.Minute, "how long one 16 MiB echo round may take before it counts as hung")
)

const echoSize = 16 << 20

// echoCarriers are the networks the echo runs over: a direct link, and a
// line through two relays.
var echoCarriers = []struct {
	name  string
	nodes int
}{
	{"direct", 2},
	{"two relays", 4},
}

func TestFullDuplexEchoNeverHangs(t *testing.T) {
	data := echoData()
	for _, c := range echoCarriers {
		t.Run(c.name, func(t *testing.T) {
			nodes := startNet(t, simnet.New(c.nodes, simnet.Line, simnet.Options{}))
			l := echoListener(t, nodes[c.nodes-1])
			for round := range *echoRounds {
				if err := echoRound(t, nodes[0], l.Addr(), data, *echoTimeout); err != nil {
					t.Fatalf("round %d of %d: %v", round+1, *echoRounds, err)
				}
			}
		})
	}
}

// BenchmarkFullDuplexEcho runs one 16 MiB echo per iteration: the loop to
// run for hundreds of rounds on demand, e.g.
//
//	go test -run '^$' -bench FullDuplexEcho -benchtime 300x .
func BenchmarkFullDuplexEcho(b *testing.B) {
	data := echoData()
	for _, c := range echoCarriers {
		b.Run(c.name, func(b *testing.B) {
			nodes := startNet(b, simnet.New(c.nodes, simnet.Line, simnet.Options{}))
			l := echoListener(b, nodes[c.nodes-1])
			b.SetBytes(2 * echoSize)
			for i := 0; b.Loop(); i++ {
				if err := echoRound(b, nodes[0], l.Addr(), data, *echoTimeout); err != nil {
					b.Fatalf("round %d: %v", i+1, err)
				}
			}
		})
	}
}

func echoData() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, echoSize)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// echoRound dials l, writes data from one goroutine while reading the echo
// in another, and checks that the same bytes came back. A round that takes
// longer than timeout fails with a dump of every goroutine.
func echoRound(t testing.TB, n *Node, l net.Addr, data []byte, timeout time.Duration) error {
	t.Helper()
	c := dialT(t, n, l)
	defer c.Close()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	rres := make(chan result, 1)
	go func() {
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		h.Sum(r.sum[:0])
		r.n, r.err = n, err
		rres <- r
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var r result
	select {
	case r = <-rres:
	case <-deadline.C:
		buf := make([]byte, 8<<20)
		buf = buf[:runtime.Stack(buf, true)]
		c.Close() // unblock both goroutines
		<-rres
		<-werr
		return fmt.Errorf("the echo hung for %v; goroutines:\n%s", timeout, buf)
	}
	if err := errors.Join(r.err, <-werr); err != nil {
		return err
	}
	if r.n != int64(len(data)) || r.sum != sha256.Sum256(data) {
		return fmt.Errorf("echoed %d bytes with SHA-256 %x, want %d with %x", r.n, r.sum, len(data), sha256.Sum256(data))
	}
	return nil
}
