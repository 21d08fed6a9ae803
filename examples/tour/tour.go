package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot"
)

type options struct {
	mib   int // MiB for the throughput test
	pings int // round trips for the latency test
	// keyFile, if set, is bob's key file (WIF, created on first use), so
	// the address he listens on is the same every run; else a fresh key.
	keyFile string
}

// tour holds the demo's network.
type tour struct {
	w     io.Writer
	nodes map[string]*foxtrot.Node
	names map[foxtrot.Addr]string
}

// The layout: name, then the names it links to.
var layout = []struct {
	name  string
	peers []string
}{
	{"bob", nil},
	{"r2", []string{"bob"}},
	{"r4", []string{"bob"}},
	{"r1", []string{"r2"}},
	{"r3", []string{"r4"}},
	{"alice", []string{"r1", "r3"}},
}

func run(w io.Writer, o options) error {
	if o.mib <= 0 {
		o.mib = 64
	}
	if o.pings <= 0 {
		o.pings = 1
	}
	t := &tour{w: w, nodes: map[string]*foxtrot.Node{}, names: map[foxtrot.Addr]string{}}
	defer t.close()

	t.say("Starting %d foxtrot nodes on loopback TCP.", len(layout))
	for _, n := range layout {
		var peers []string
		for _, p := range n.peers {
			peers = append(peers, t.nodes[p].ListenAddrs()...)
		}
		node, err := foxtrot.NewNode(foxtrot.Config{
			ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
			Peers:       peers,
		})
		if err != nil {
			return err
		}
		t.nodes[n.name] = node
		t.names[node.Identity()] = n.name
		t.say("  %-5s %s", n.name, node.ListenAddrs()[0])
	}
	if err := t.waitLinked(); err != nil {
		return err
	}
	t.say("Links (each encrypted and authenticated with Noise, as Lightning's BOLT 8):")
	for _, n := range layout {
		for _, p := range n.peers {
			t.say("  %s ── %s", n.name, p)
		}
	}

	key, fresh, err := bobKey(o.keyFile)
	if err != nil {
		return err
	}
	l, err := t.nodes["bob"].Listen(key)
	if err != nil {
		return err
	}
	defer l.Close()
	t.say("")
	if fresh {
		t.say("bob listens on a fresh key. Its address is all anyone needs to reach it:")
	} else {
		t.say("bob listens on the key in %s. Its address is all anyone needs to reach it:", o.keyFile)
	}
	t.say("  %s", l.Addr())
	served := make(chan error, 1)
	go func() { served <- serve(l) }()

	t.say("")
	t.say("alice dials that address. Her node floods a signed connect request; bob's")
	t.say("node answers along the reverse path; each relay records the circuit.")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	c, err := t.nodes["alice"].DialContext(ctx, "foxtrot", l.Addr().String())
	if err != nil {
		return err
	}
	setup := time.Since(start)
	conn := c.(*foxtrot.Conn)
	defer conn.Close()
	t.say("  connected in %v, through %s", round(setup), t.path(conn))
	t.say("  bob sees the caller as %s (alice's node). The dialler", conn.LocalAddr())
	t.say("  proves its key inside the encryption: the relays never learn who calls.")

	if err := t.pingPong(conn, o.pings); err != nil {
		return err
	}
	if err := t.bulk(conn, o.mib); err != nil {
		return err
	}
	t.relayStats()

	conn.Close()
	l.Close()
	if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	t.say("")
	t.say("Done. Every byte went %s, encrypted end to end;", strings.TrimPrefix(t.path(conn), "2 relays: "))
	t.say("a relay that altered one would have ended the connection, never changed the data.")
	return nil
}

// serve answers bob's connections: "ping" lines are echoed; "bulk N"
// is followed by N bytes whose SHA-256 bob sends back.
func serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			handle(c)
		}()
	}
}

func handle(c net.Conn) {
	var hdr [16]byte
	for {
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		cmd := string(bytes.TrimRight(hdr[:], " "))
		switch {
		case cmd == "ping":
			if _, err := c.Write(hdr[:]); err != nil {
				return
			}
		case strings.HasPrefix(cmd, "bulk "):
			var n int64
			if _, err := fmt.Sscanf(cmd, "bulk %d", &n); err != nil {
				return
			}
			h := sha256.New()
			if _, err := io.CopyN(h, c, n); err != nil {
				return
			}
			c.Write(h.Sum(nil))
		default:
			return
		}
	}
}

func command(s string) []byte {
	b := bytes.Repeat([]byte(" "), 16)
	copy(b, s)
	return b
}

func (t *tour) pingPong(c net.Conn, n int) error {
	t.say("")
	t.say("Round trips (16 bytes there and back, %d times):", n)
	rtts := make([]time.Duration, 0, n)
	ping := command("ping")
	back := make([]byte, len(ping))
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := c.Write(ping); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, back); err != nil {
			return err
		}
		rtts = append(rtts, time.Since(start))
	}
	slices.Sort(rtts)
	t.say("  median %v, 99th percentile %v", round(rtts[n/2]), round(rtts[n*99/100]))
	return nil
}

func (t *tour) bulk(c net.Conn, mib int) error {
	size := int64(mib) << 20
	t.say("")
	t.say("Throughput: alice sends %d MiB of random data; bob hashes what arrives.", mib)
	data := make([]byte, 1<<20)
	rand.Read(data)
	h := sha256.New()
	start := time.Now()
	if _, err := c.Write(command(fmt.Sprintf("bulk %d", size))); err != nil {
		return err
	}
	for sent := int64(0); sent < size; sent += int64(len(data)) {
		data[0]++ // every MiB differs
		h.Write(data)
		if _, err := c.Write(data); err != nil {
			return err
		}
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, sum); err != nil {
		return err
	}
	d := time.Since(start)
	if !bytes.Equal(sum, h.Sum(nil)) {
		return fmt.Errorf("bob's hash %x differs from alice's %x", sum, h.Sum(nil))
	}
	t.say("  %d MiB in %v: %.0f MB/s, SHA-256 identical on both ends", mib, round(d), float64(size)/d.Seconds()/1e6)
	return nil
}

func (t *tour) relayStats() {
	t.say("")
	t.say("What the relays saw (ciphertext only):")
	for _, name := range []string{"r1", "r2", "r3", "r4"} {
		st := t.nodes[name].Stats()
		t.say("  %-3s requests seen %d, forwarded %d; circuits %d; %.1f MiB relayed",
			name, st.RequestsSeen, st.RequestsForwarded, st.CircuitsRelayed, float64(st.BytesRelayed)/(1<<20))
	}
}

func (t *tour) path(c *foxtrot.Conn) string {
	var names []string
	for _, a := range c.Path() {
		names = append(names, t.names[a])
	}
	if len(names) == 0 {
		return "no relay"
	}
	return fmt.Sprintf("%d relays: alice → %s → bob", len(names), strings.Join(names, " → "))
}

func (t *tour) waitLinked() error {
	want := map[string]int{}
	for _, n := range layout {
		for _, p := range n.peers {
			want[n.name]++
			want[p]++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for name, k := range want {
			if len(t.nodes[name].Peers()) != k {
				ok = false
			}
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the network did not link up within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (t *tour) close() {
	for _, n := range t.nodes {
		n.Close()
	}
}

func (t *tour) say(format string, args ...any) { fmt.Fprintf(t.w, format+"\n", args...) }

func round(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// bobKey loads (or creates) the key in path, or, without a path, makes a
// fresh one; fresh reports the latter.
func bobKey(path string) (key *btcec.PrivateKey, fresh bool, err error) {
	if path == "" {
		key, err = foxtrot.GenerateKey()
		return key, true, err
	}
	key, _, err = foxtrot.LoadOrCreateKey(path)
	return key, false, err
}
