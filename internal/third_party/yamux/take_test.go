package yamux

import (
	"bytes"
	"io"
	"testing"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
)

// taker is a reader that can also hand its next bytes over (frameTaker),
// as peer/noise's Conn does, when give says so.
type taker struct {
	io.Reader
	give  bool
	taken int
}

func (t *taker) TakeBuffered(n int) ([]byte, *[]byte) {
	if !t.give {
		return nil, nil
	}
	buf := bufpool.Get(n)
	if _, err := io.ReadFull(t.Reader, *buf); err != nil {
		bufpool.Put(buf)
		return nil, nil
	}
	t.taken++
	return *buf, buf
}

// A stream's receive buffer keeps what a frameTaker hands over instead
// of copying it, and what it copies when the taker declines, and reads
// both back in order (foxtrot patch).
func TestSegmentedBufferTakesHandedOverFrames(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<10)
	src := &taker{Reader: bytes.NewReader(want)}
	buf := newSegmentedBuffer(uint32(len(want)))
	for i, step := 0, len(want)/4; i < 4; i++ {
		src.give = i%2 == 0
		if err := buf.Append(src, uint32(step)); err != nil {
			t.Fatal(err)
		}
	}
	if src.taken != 2 {
		t.Fatalf("%d segments taken, want 2", src.taken)
	}
	if buf.Len() != uint32(len(want)) {
		t.Fatalf("Len %d, want %d", buf.Len(), len(want))
	}
	got := make([]byte, 0, len(want))
	p := make([]byte, 3000) // reads that straddle segments
	for {
		n, err := buf.Read(p)
		got = append(got, p[:n]...)
		if err == io.EOF || n == 0 {
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("read back changed or out of order")
	}
}
