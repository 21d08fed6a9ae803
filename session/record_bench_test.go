package session

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record-layer benchmarks, each with its allocations. Run on demand:
//
//	go test -run XXX -bench 'Record|AEAD' -benchmem -count 6 ./session | tee h.txt; benchstat h.txt

// recordSizes are the records a connection seals most: full data
// records (bulk), small data records (interactive) and acks.
var recordSizes = []struct {
	name string
	data int // 0: an ack record (one 64-bit offset)
}{
	{"data-64KiB", maxRecordData},
	{"data-1KiB", 1 << 10},
	{"ack", 0},
}

func sealRecord(s *sealer, dst, payload []byte, off uint64) []byte {
	if payload == nil {
		return s.sealAck(dst, off, off+initialWindow)
	}
	var o [8]byte
	binary.BigEndian.PutUint64(o[:], off)
	return s.seal(dst, recData, o[:], payload)
}

// BenchmarkRecordSeal: one record sealed into a reused buffer, as the
// path sender does. "aead-only-64KiB" is AES-256-GCM sealing the same
// 64 KiB straight from the source into the buffer: the difference is
// what seal's copy of prefix and payload into dst costs.
func BenchmarkRecordSeal(b *testing.B) {
	var key [32]byte
	for _, sz := range recordSizes {
		b.Run(sz.name, func(b *testing.B) {
			s := newSealer(key)
			var payload []byte
			if sz.data > 0 {
				payload = make([]byte, sz.data)
			}
			dst := make([]byte, 0, maxSealed+recordHeaderSize)
			b.SetBytes(int64(max(sz.data, 8)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dst = sealRecord(s, dst[:0], payload, uint64(i))
			}
		})
	}
	b.Run("aead-only-64KiB", func(b *testing.B) {
		aead := newAEAD(key)
		src := make([]byte, maxRecordData)
		dst := make([]byte, 0, maxSealed)
		var nonce [12]byte
		var ad [recordHeaderSize + 8]byte
		b.SetBytes(maxRecordData)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			binary.BigEndian.PutUint64(nonce[4:], uint64(i))
			dst = aead.Seal(dst[:0], nonce[:], src, ad[:])
		}
	})
}

// BenchmarkRecordOpen: one record opened in place, as the path reader
// does. Records are sealed ahead in batches (the counter must match);
// refilling the batch is outside the timer.
func BenchmarkRecordOpen(b *testing.B) {
	var key [32]byte
	const batch = 64
	for _, sz := range recordSizes {
		b.Run(sz.name, func(b *testing.B) {
			s, o := newSealer(key), newOpener(key)
			var payload []byte
			if sz.data > 0 {
				payload = make([]byte, sz.data)
			}
			var hdrs [batch][recordHeaderSize]byte
			var sealed, work [batch][]byte
			for k := range sealed {
				rec := sealRecord(s, nil, payload, uint64(k))
				copy(hdrs[k][:], rec)
				sealed[k] = rec[recordHeaderSize:]
				work[k] = make([]byte, len(sealed[k]))
			}
			b.SetBytes(int64(max(sz.data, 8)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % batch
				if k == 0 {
					b.StopTimer()
					for j := range work {
						copy(work[j], sealed[j])
					}
					o.seq = 0
					b.StartTimer()
				}
				if _, err := o.open(hdrs[k], work[k]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAEAD compares the two suites foxtrot uses on 64 KiB, per
// core: AES-256-GCM (the end-to-end record layer) and ChaCha20-Poly1305
// (peer links, as BOLT 8). A direct connection pays both.
func BenchmarkAEAD(b *testing.B) {
	var key [32]byte
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	cc, _ := chacha20poly1305.New(key[:])
	for _, s := range []struct {
		name string
		aead cipher.AEAD
	}{{"aes-256-gcm", gcm}, {"chacha20-poly1305", cc}} {
		for _, op := range []string{"seal", "open"} {
			b.Run(s.name+"/"+op, func(b *testing.B) {
				src := make([]byte, maxRecordData)
				var nonce [12]byte
				sealed := s.aead.Seal(nil, nonce[:], src, nil)
				dst := make([]byte, 0, len(sealed))
				b.SetBytes(maxRecordData)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if op == "seal" {
						dst = s.aead.Seal(dst[:0], nonce[:], src, nil)
					} else if _, err := s.aead.Open(dst[:0], nonce[:], sealed, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// synthStream is one end of a splice with no I/O behind it: it reads
// chunks of nothing until its budget is spent, then io.EOF, and discards
// writes. It isolates what splice itself costs per chunk.
