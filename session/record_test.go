package session

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/stretchr/testify/require"
)

func recordPair() (*sealer, *opener) {
	var k [32]byte
	k[0] = 7
	return newSealer(k), newOpener(k)
}

// openAll opens consecutive records; raw holds each opened record's bytes.
func openAll(t testing.TB, o *opener, b []byte) (typs []byte, bodies [][]byte, err error) {
	typs, bodies, _, err = openRaw(o, b)
	return
}

func openRaw(o *opener, b []byte) (typs []byte, bodies, raw [][]byte, err error) {
	for len(b) >= recordHeaderSize {
		var hdr [recordHeaderSize]byte
		copy(hdr[:], b)
		typ, n, err := o.header(hdr)
		if err != nil {
			return typs, bodies, raw, err
		}
		if len(b) < recordHeaderSize+n {
			return typs, bodies, raw, nil // truncated: the reader would wait
		}
		body := append([]byte(nil), b[recordHeaderSize:recordHeaderSize+n]...)
		plain, err := o.open(hdr, body)
		if err != nil {
			return typs, bodies, raw, err
		}
		typs = append(typs, typ)
		bodies = append(bodies, plain)
		raw = append(raw, b[:recordHeaderSize+n])
		b = b[recordHeaderSize+n:]
	}
	return typs, bodies, raw, nil
}

func TestRecordsRoundTripInOrder(t *testing.T) {
	s, o := recordPair()
	var stream []byte
	data := bytes.Repeat([]byte("x"), maxRecordData)
	stream = s.seal(stream, recData, []byte{0, 0, 0, 0, 0, 0, 0, 0}, data)
	stream = s.sealAck(stream, 42, 42+initialWindow)
	stream = s.sealU64(stream, recFin, uint64(len(data)))
	stream = s.seal(stream, recReset, []byte{resetClosed}, nil)
	typs, bodies, err := openAll(t, o, stream)
	require.NoError(t, err)
	require.Equal(t, []byte{recData, recAck, recFin, recReset}, typs)
	require.Equal(t, data, bodies[0][8:])
}

func TestFlippedBitIsDetected(t *testing.T) {
	s, o := recordPair()
	stream := s.seal(nil, recData, make([]byte, 8), []byte("pay the bearer"))
	for i := range stream {
		_, o = recordPair()
		bad := append([]byte(nil), stream...)
		bad[i] ^= 0x01
		// Either it fails, or (a flipped length) the reader waits for bytes
		// that never come; what matters is that nothing altered is delivered.
		typs, _, err := openAll(t, o, bad)
		require.True(t, err != nil || len(typs) == 0, "flip at byte %d delivered a record", i)
	}
}

func TestReorderedOrReplayedRecordIsDetected(t *testing.T) {
	s, o := recordPair()
	r1 := s.sealAck(nil, 1, 1+initialWindow)
	r2 := s.sealAck(nil, 2, 2+initialWindow)
	_, _, err := openAll(t, o, append(append([]byte{}, r2...), r1...))
	require.ErrorIs(t, err, ErrTampered, "reordered")
	_, o = recordPair()
	_, _, err = openAll(t, o, append(append([]byte{}, r1...), r1...))
	require.ErrorIs(t, err, ErrTampered, "replayed")
}

func TestRecordHeaderRejectsNonsense(t *testing.T) {
	for _, hdr := range [][recordHeaderSize]byte{
		{0, 0, 0, 32},     // unknown type
		{13, 0, 0, 32},    // unknown type
		{recAck, 0, 0, 3}, // shorter than a tag
		{recData, 0xff, 0xff, 0xff},
	} {
		_, _, err := parseRecordHeader(hdr, recordTagSize)
		require.ErrorIs(t, err, ErrProtocol, "%x", hdr)
	}
}

func TestBodySizesAreChecked(t *testing.T) {
	s, o := recordPair()
	_, _, err := openAll(t, o, s.seal(nil, recAck, []byte{1, 2, 3}, nil))
	require.ErrorIs(t, err, ErrProtocol)
}

// FuzzOpenRecords feeds arbitrary bytes to the record reader with a fixed
// key. Nothing may panic, and since only the genuine records below were
// ever sealed with that key, the i-th record that opens must be exactly
// the i-th genuine one: anything else is a forgery that got through.
func FuzzOpenRecords(f *testing.F) {
	s, _ := recordPair()
	var genuine [][]byte
	for _, r := range [][]byte{
		s.seal(nil, recData, make([]byte, 8), []byte("hello")),
		s.sealAck(nil, 5, 5+initialWindow),
		s.seal(nil, recReset, []byte{resetClosed}, nil),
	} {
		genuine = append(genuine, r)
	}
	f.Add(bytes.Join(genuine, nil))
	f.Add([]byte{recData, 0, 0, 16})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, o := recordPair()
		_, _, raw, _ := openRaw(o, b)
		for i, r := range raw {
			if i >= len(genuine) || !bytes.Equal(r, genuine[i]) {
				t.Fatalf("record %d opened but was never sealed: %x", i, r)
			}
		}
	})
}

// FuzzReadFirst feeds arbitrary bytes, sealed as a path's first record,
// to the target's ReadFirst. Nothing may panic; whatever parses as a
// resume encodes back to exactly the body that was sealed.
func FuzzReadFirst(f *testing.F) {
	f.Add(byte(recResume), resumeBody(&Resume{ID: addr.ConnID{1}, Offset: 7, Hops: []Hop{{Node: addr.NodeID{2}}}}))
	f.Add(byte(recResume), resumeBody(&Resume{Hello: make([]byte, 33+64+1)}))
	f.Add(byte(recHello), make([]byte, 33+64+1))
	f.Add(byte(recData), []byte("not first"))
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		if len(body) > maxRecordData {
			return
		}
		d2t, _ := pathKeys(testMaster, 1)
		rec := newSealer(d2t).seal(nil, typ, body, nil)
		p := NewPath(&bufStream{Reader: bytes.NewReader(rec)}, PathInfo{Num: 1}, testMaster, false)
		first, err := p.ReadFirst(time.Minute)
		if err != nil {
			return
		}
		if first.Resume != nil {
			require.Equal(t, body, resumeBody(first.Resume))
		} else {
			require.Equal(t, body, first.Hello)
		}
	})
}

// bufStream is a stream that reads from a reader and discards writes.
type bufStream struct{ io.Reader }

func (bufStream) Write(b []byte) (int, error) { return len(b), nil }
func (bufStream) Close() error                { return nil }
