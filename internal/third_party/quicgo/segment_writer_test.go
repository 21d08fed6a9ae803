package quic

// foxtrot patch: a test of the SegmentWriter patch (upstream's tests are
// not copied; see FORK.md).

import (
	"net"
	"testing"
)

type segmentConn struct {
	net.PacketConn
	runs     [][]byte
	segments []int
}

func (c *segmentConn) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func (c *segmentConn) WriteSegments(b []byte, segment int, _ net.Addr) error {
	c.runs = append(c.runs, append([]byte(nil), b...))
	c.segments = append(c.segments, segment)
	return nil
}

type plainConn struct{ net.PacketConn }

func (plainConn) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func TestAWrapperWithWriteSegmentsGetsGSORuns(t *testing.T) {
	sc := &segmentConn{}
	rc, err := wrapConn(sc)
	if err != nil {
		t.Fatal(err)
	}
	if !rc.capabilities().GSO {
		t.Fatal("a PacketConn with WriteSegments is not offered GSO runs")
	}
	run := make([]byte, 2*1280+100)
	n, err := rc.WritePacket(run, sc.LocalAddr(), nil, 1280, 0)
	if err != nil || n != len(run) {
		t.Fatalf("WritePacket = %d, %v", n, err)
	}
	if len(sc.runs) != 1 || len(sc.runs[0]) != len(run) || sc.segments[0] != 1280 {
		t.Fatalf("WriteSegments got %d runs, segments %v", len(sc.runs), sc.segments)
	}

	pc, err := wrapConn(plainConn{})
	if err != nil {
		t.Fatal(err)
	}
	if pc.capabilities().GSO {
		t.Fatal("a plain PacketConn is offered GSO runs")
	}
}
