package quic_test

import (
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

// BenchmarkAEADFloor is the sealing and opening a byte meets on one
// direct foxtrot connection, with the primitives and unit sizes each
// layer uses, and nothing else: over a TCP link, Noise's AES-256-GCM
// (CipherAuto on AES hardware; 64 KiB frames) and the end-to-end
// session's AES-256-GCM (64 KiB records); over a UDP link, also QUIC's
// AES-128-GCM (1280-byte packets) and obfs's XChaCha20-Poly1305 (each
// packet plus its 18-byte header). Each sub-benchmark moves 64 KiB of
// data through every layer of its link, sealed and opened, and reports
// the CPU seconds per GB that costs: the floor under that link's CPU per
// GB in bench's loopback run, where both links are CPU-bound on the
// same cores. Run with -bench AEADFloor.
func BenchmarkAEADFloor(b *testing.B) {
	key := make([]byte, 32)
	gcm := func(k []byte) cipher.AEAD {
		blk, err := aes.NewCipher(k)
		if err != nil {
			b.Fatal(err)
		}
		a, err := cipher.NewGCM(blk)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	xchacha, err := chacha20poly1305.NewX(key)
	if err != nil {
		b.Fatal(err)
	}
	type layer struct {
		aead cipher.AEAD
		unit int // plaintext bytes per seal
	}
	noise := layer{gcm(key), 64 << 10}
	session := layer{gcm(key), 64 << 10}
	quicPackets := layer{gcm(key[:16]), 1280}
	obfs := layer{xchacha, 1280 + 18}
	for _, link := range []struct {
		name   string
		layers []layer
	}{
		{"tcp link", []layer{noise, session}},
		{"udp link", []layer{obfs, quicPackets, noise, session}},
	} {
		b.Run(link.name, func(b *testing.B) {
			const data = 64 << 10
			type prepared struct {
				aead      cipher.AEAD
				nonce, pt []byte
				ct, out   []byte
				units     int
			}
			var ls []prepared
			for _, l := range link.layers {
				p := prepared{aead: l.aead, nonce: make([]byte, l.aead.NonceSize()), pt: make([]byte, l.unit)}
				p.ct = l.aead.Seal(nil, p.nonce, p.pt, nil)
				p.out = make([]byte, len(p.ct))
				p.units = (data + l.unit - 1) / l.unit
				ls = append(ls, p)
			}
			b.SetBytes(data)
			for b.Loop() {
				for _, p := range ls {
					for range p.units {
						p.aead.Seal(p.out[:0], p.nonce, p.pt, nil)
						if _, err := p.aead.Open(p.out[:0], p.nonce, p.ct, nil); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/(float64(b.N)*data/1e9), "s/GB")
		})
	}
}
