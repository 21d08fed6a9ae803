package main

import (
	"bytes"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testPort is a port of a line that has no sockets: admit alone, on a
// synthetic clock.
func testPort(cfg udpLineConfig) (*udpLine, *udpPort) {
	u := &udpLine{cfg: cfg.withDefaults()}
	return u, newUDPPort(u, func([]byte) error { return nil })
}

func TestUDPPortBucketAndQueue(t *testing.T) {
	// 1000 B/s, 2500 bytes of queue, 1000 of burst: 1000-byte datagrams.
	u, p := testPort(udpLineConfig{Delay: time.Second, Rate: 1000, Queue: 2500, Burst: 1000})
	t0 := time.Unix(1000, 0)
	d := make([]byte, 1000)
	for range 10 {
		p.admit(d, t0)
	}
	// The burst's credit lets the first go at once; the queue holds two
	// more (the bytes waiting for the bucket: 0, 1000, 2000 before each,
	// and 3000 > 2500 for the fourth); the rest are dropped.
	if got := len(p.queue); got != 3 {
		t.Fatalf("admitted %d of 10, want 3", got)
	}
	if c := u.Stats(); c.Dropped != 7 || c.DroppedBytes != 7000 {
		t.Fatalf("dropped %d (%d bytes), want 7 (7000)", c.Dropped, c.DroppedBytes)
	}
	for i, want := range []time.Duration{1 * time.Second, 2 * time.Second, 3 * time.Second} {
		if got := p.queue[i].at.Sub(t0); got != want {
			t.Errorf("datagram %d arrives at t0+%v, want t0+%v (bucket, then one second of delay)", i, got, want)
		}
	}
	// Two seconds on the bucket has sent both queued ones: room again,
	// and arrivals follow the rate.
	t2 := t0.Add(2 * time.Second)
	p.admit(d, t2)
	if got := len(p.queue); got != 4 {
		t.Fatalf("admitted %d, want 4", got)
	}
	if got, want := p.queue[3].at.Sub(t0), 4*time.Second; got != want {
		t.Errorf("the late datagram arrives at t0+%v, want t0+%v", got, want)
	}
	// Departures never go back in time, so the FIFO is ordered by time.
	for i := 1; i < len(p.queue); i++ {
		if p.queue[i].at.Before(p.queue[i-1].at) {
			t.Fatalf("delivery queue out of order at %d", i)
		}
	}
}

func TestUDPPortNoRateBoundsHeldBytes(t *testing.T) {
	u, p := testPort(udpLineConfig{Delay: time.Second, Queue: 3000})
	t0 := time.Unix(1000, 0)
	for range 5 {
		p.admit(make([]byte, 1000), t0)
	}
	if len(p.queue) != 3 || u.Stats().Dropped != 2 {
		t.Fatalf("held %d, dropped %d; want 3 and 2", len(p.queue), u.Stats().Dropped)
	}
	if got := p.queue[0].at.Sub(t0); got != time.Second {
		t.Fatalf("arrives after %v, want the delay", got)
	}
}

func TestUDPLineDefaultQueue(t *testing.T) {
	if got := (udpLineConfig{Delay: 50 * time.Millisecond, Rate: 40e6}).withDefaults().Queue; got != 4e6 {
		t.Fatalf("queue %d, want one BDP: 40e6 B/s × 100 ms = 4e6", got)
	}
	if got := (udpLineConfig{Rate: 40e6}).withDefaults().Queue; got != minUDPQueue {
		t.Fatalf("queue at no delay %d, want the floor %d", got, minUDPQueue)
	}
}

// TestUDPLineRoundTrip: an echo server behind a line sees the line as its
// peer and answers through it; both directions pay the delay; Close ends
// every goroutine.
func TestUDPLineRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t)
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	peers := make(chan net.Addr, 10)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			peers <- from
			srv.WriteTo(buf[:n], from)
		}
	}()
	const oneWay = 20 * time.Millisecond
	u, err := newUDPLine(srv.LocalAddr().String(), udpLineConfig{Delay: oneWay, Rate: 1e6})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	cl, err := net.DialUDP("udp", nil, u.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cl.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 3 {
		msg := []byte{byte(i), 1, 2, 3}
		start := time.Now()
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 100)
		n, err := cl.Read(got)
		if err != nil {
			t.Fatal(err)
		}
		if rtt := time.Since(start); rtt < 2*oneWay {
			t.Fatalf("round trip %v, under twice the one-way delay %v", rtt, oneWay)
		}
		if !bytes.Equal(got[:n], msg) {
			t.Fatalf("got %x, want %x", got[:n], msg)
		}
		if from := <-peers; from.String() == cl.LocalAddr().String() {
			t.Fatal("the server saw the client's own address, not the line's")
		}
	}
	if c := u.Stats(); c.Sent != 6 || c.Dropped != 0 {
		t.Fatalf("stats %+v, want 6 sent and none dropped", c)
	}
	u.Close()
	u.Close() // idempotent
	srv.Close()
}
