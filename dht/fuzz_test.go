package dht

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecodeRecord: no panic, and a record that decodes re-encodes to the
// same bytes (one encoding per record).
func FuzzDecodeRecord(f *testing.F) {
	k := testKey(f, 20)
	r := &Record{Salt: []byte("s"), Seq: 1, Expires: time.Unix(2e9, 0), Value: []byte("v")}
	if err := r.Sign(k); err != nil {
		f.Fatal(err)
	}
	f.Add(r.Append(nil))
	l := &Record{Locator: true, Salt: make([]byte, 32), Seq: 1, Expires: time.Unix(2e9, 0)}
	_ = l.Sign(k)
	f.Add(l.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Append(nil), b) {
			t.Fatalf("re-encoding differs")
		}
		_ = r.Verify()
		_ = r.Target()
	})
}

// FuzzDecodeRequest: no panic; one encoding per request.
func FuzzDecodeRequest(f *testing.F) {
	k := testKey(f, 21)
	r := &Record{Seq: 1, Expires: time.Unix(2e9, 0), Value: []byte("v")}
	_ = r.Sign(k)
	cas := uint64(1)
	for _, m := range []*Request{
		{ID: 1, Op: OpPing, From: testContact(f, 1)},
		{ID: 2, Op: OpGet, From: testContact(f, 2), Target: ID{1}},
		{ID: 3, Op: OpPut, From: testContact(f, 3), Token: []byte("t"), CAS: &cas, Record: r},
	} {
		f.Add(m.AppendBody(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.AppendBody(nil), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeResponse: no panic; one encoding per response.
func FuzzDecodeResponse(f *testing.F) {
	k := testKey(f, 22)
	r := &Record{Seq: 1, Expires: time.Unix(2e9, 0), Value: []byte("v")}
	_ = r.Sign(k)
	f.Add((&Response{ID: 1, Op: OpGet, From: testContact(f, 2), Token: []byte("t"), Nodes: []Contact{testContact(f, 1)}, Records: []*Record{r}}).AppendBody(nil))
	f.Add((&Response{ID: 2, Op: OpPut, Refused: true, From: testContact(f, 3)}).AppendBody(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeResponse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.AppendBody(nil), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
