package noise

import "testing"

func BenchmarkSealFrame64K(b *testing.B) {
	send, _ := frameCiphers(b)
	body := frameRandom(MaxFrameBody)
	dst := make([]byte, 0, MaxFrameBody+FrameOverhead)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst = send.SealFrame(dst[:0], body)
	}
}

func BenchmarkSealFrame64KInPlace(b *testing.B) {
	send, _ := frameCiphers(b)
	dst := make([]byte, MaxFrameBody+FrameOverhead)
	body := dst[FrameHeaderSize : FrameHeaderSize+MaxFrameBody]
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst = send.SealFrame(dst[:0], body)
	}
}

func BenchmarkOpenFrame64K(b *testing.B) {
	send, recv := frameCiphers(b)
	body := frameRandom(MaxFrameBody)
	// Pre-seal a full rotation's worth of frames (500) and replay them to a
	// receiver that restarts with the stream: decryption cost only.
	start := *recv
	wires := make([][]byte, frameRekeyInterval/2)
	for i := range wires {
		wires[i] = send.SealFrame(nil, body)
	}
	out := make([]byte, 0, MaxFrameBody)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(wires) {
			*recv = start
			i = 0
		}
		w := wires[i]
		n, err := recv.OpenHeader(w[:FrameHeaderSize])
		if err != nil {
			b.Fatal(err)
		}
		out, err = recv.OpenBody(out[:0], w[FrameHeaderSize:FrameHeaderSize+n+16])
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkSealFrameSmall(b *testing.B) {
	send, _ := frameCiphers(b)
	body := frameRandom(64)
	dst := make([]byte, 0, 64+FrameOverhead)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dst = send.SealFrame(dst[:0], body)
	}
}

// BenchmarkFrameCipher seals and opens full 64 KiB frames with each
// suite (one core: the bytes per second are per core).
func BenchmarkFrameCipher(b *testing.B) {
	for _, suite := range []CipherSuite{CipherChaCha20Poly1305, CipherAES256GCM} {
		mk := func(b *testing.B) (send, recv *Cipher) {
			send, recv = frameCiphers(b)
			if suite == CipherAES256GCM {
				if err := send.Upgrade(); err != nil {
					b.Fatal(err)
				}
				if err := recv.Upgrade(); err != nil {
					b.Fatal(err)
				}
			}
			return send, recv
		}
		b.Run(suite.String()+"/seal", func(b *testing.B) {
			send, _ := mk(b)
			dst := make([]byte, MaxFrameBody+FrameOverhead)
			body := dst[FrameHeaderSize : FrameHeaderSize+MaxFrameBody]
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				dst = send.SealFrame(dst[:0], body)
			}
		})
		b.Run(suite.String()+"/open", func(b *testing.B) {
			send, recv := mk(b)
			body := frameRandom(MaxFrameBody)
			start := *recv
			wires := make([][]byte, frameRekeyInterval/2)
			for i := range wires {
				wires[i] = send.SealFrame(nil, body)
			}
			out := make([]byte, 0, MaxFrameBody)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(wires) {
					*recv = start
					i = 0
				}
				w := wires[i]
				n, err := recv.OpenHeader(w[:FrameHeaderSize])
				if err != nil {
					b.Fatal(err)
				}
				if out, err = recv.OpenBody(out[:0], w[FrameHeaderSize:FrameHeaderSize+n+16]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
