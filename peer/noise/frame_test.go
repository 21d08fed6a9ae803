package noise

import (
	"bytes"
	"crypto/rand"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// frameCiphers returns a fresh send/receive pair sharing random keys.
func frameCiphers(t testing.TB) (send, recv *Cipher) {
	t.Helper()
	var k, ck [32]byte
	rand.Read(k[:])
	rand.Read(ck[:])
	send, err := newCipher(k, ck)
	require.NoError(t, err)
	recv, err = newCipher(k, ck)
	require.NoError(t, err)
	return send, recv
}

// frameOpenAll decodes every frame in wire and returns the concatenated
// bodies.
func frameOpenAll(t testing.TB, recv *Cipher, wire []byte) []byte {
	t.Helper()
	var out []byte
	for len(wire) > 0 {
		require.GreaterOrEqual(t, len(wire), FrameHeaderSize)
		n, err := recv.OpenHeader(wire[:FrameHeaderSize])
		require.NoError(t, err)
		wire = wire[FrameHeaderSize:]
		require.GreaterOrEqual(t, len(wire), n+16)
		out, err = recv.OpenBody(out, wire[:n+16])
		require.NoError(t, err)
		wire = wire[n+16:]
	}
	return out
}

// frameRoundTrip sends one frame with body from send to recv.
func frameRoundTrip(t testing.TB, send, recv *Cipher, body []byte) {
	t.Helper()
	wire := send.SealFrame(nil, body)
	require.Len(t, wire, len(body)+FrameOverhead)
	n, err := recv.OpenHeader(wire[:FrameHeaderSize])
	require.NoError(t, err)
	require.Equal(t, len(body), n)
	got, err := recv.OpenBody(nil, wire[FrameHeaderSize:])
	require.NoError(t, err)
	require.Equal(t, string(body), string(got))
}

func frameRandom(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestFramesRoundTripAllSizes(t *testing.T) {
	send, recv := frameCiphers(t)
	for _, n := range []int{0, 1, 15, 16, 17, 63, 64, 65, 1000, 4096, MaxFrameBody - 1, MaxFrameBody} {
		frameRoundTrip(t, send, recv, frameRandom(n))
	}
}

func TestSealFrameEncryptsInPlace(t *testing.T) {
	for _, prefix := range []int{0, 7, 100} {
		for _, n := range []int{0, 1, 100, MaxFrameBody} {
			a, recv := frameCiphers(t)
			b := *a // an identical sender, for the reference output
			body := frameRandom(n)
			head := frameRandom(prefix)

			want := b.SealFrame(bytes.Clone(head), body)

			buf := make([]byte, prefix, prefix+n+FrameOverhead)
			copy(buf, head)
			inPlace := buf[prefix+FrameHeaderSize : prefix+FrameHeaderSize+n]
			copy(inPlace, body)
			got := a.SealFrame(buf, inPlace)
			require.Equal(t, want, got, "prefix %d, body %d", prefix, n)
			require.Same(t, &buf[:1][0], &got[0], "no reallocation")
			require.Equal(t, string(body), string(frameOpenAll(t, recv, got[prefix:])))
		}
	}
}

func TestSealFrameHandlesAnyOverlap(t *testing.T) {
	// Plaintext placed anywhere in the output area, even where the header
	// goes, must give the same frame as a non-overlapping body.
	const n = 300
	for _, off := range []int{0, 1, 17, 19, 40, n + FrameOverhead - 1} {
		a, recv := frameCiphers(t)
		b := *a
		body := frameRandom(n)
		want := b.SealFrame(nil, body)

		buf := make([]byte, 0, off+n+FrameOverhead+n)
		src := buf[off : off+n]
		copy(src, body)
		got := a.SealFrame(buf, src)
		require.Equal(t, want, got, "plaintext at offset %d", off)
		require.Equal(t, body, frameOpenAll(t, recv, got))
	}
}

func TestOpenBodyDecryptsInPlace(t *testing.T) {
	send, recv := frameCiphers(t)
	body := frameRandom(5000)
	wire := send.SealFrame(nil, body)
	n, err := recv.OpenHeader(wire[:FrameHeaderSize])
	require.NoError(t, err)
	ct := wire[FrameHeaderSize:]
	got, err := recv.OpenBody(ct[:0], ct)
	require.NoError(t, err)
	require.Equal(t, body, got)
	require.Len(t, got, n)
	require.Same(t, &ct[0], &got[0])
}

func TestOpenBodyHandlesOverlappingOutput(t *testing.T) {
	// Output that overlaps the ciphertext other than exactly in place,
	// e.g. shifted by a few bytes or over the tag, still decrypts.
	for _, shift := range []int{-5, 3, 16, 100} {
		send, recv := frameCiphers(t)
		body := frameRandom(300)
		wire := send.SealFrame(nil, body)
		_, err := recv.OpenHeader(wire[:FrameHeaderSize])
		require.NoError(t, err)
		buf := make([]byte, 1000)
		ctAt := 200
		ct := buf[ctAt : ctAt+len(body)+16]
		copy(ct, wire[FrameHeaderSize:])
		got, err := recv.OpenBody(buf[:ctAt+shift], ct)
		require.NoError(t, err, "shift %d", shift)
		require.Equal(t, body, got[ctAt+shift:])
	}
}

func TestSealSplitsLargeBufferIntoFrames(t *testing.T) {
	send, recv := frameCiphers(t)
	p := frameRandom(200 << 10)
	wire := send.Seal([]byte("prefix"), p)
	require.Equal(t, "prefix", string(wire[:6]))
	wire = wire[6:]
	frames := (len(p) + MaxFrameBody - 1) / MaxFrameBody
	require.Equal(t, 4, frames)
	require.Len(t, wire, len(p)+frames*FrameOverhead)

	// Every frame but the last is full.
	var sizes []int
	rest := wire
	var out []byte
	for len(rest) > 0 {
		n, err := recv.OpenHeader(rest[:FrameHeaderSize])
		require.NoError(t, err)
		sizes = append(sizes, n)
		out, err = recv.OpenBody(out, rest[FrameHeaderSize:FrameHeaderSize+n+16])
		require.NoError(t, err)
		rest = rest[FrameHeaderSize+n+16:]
	}
	require.Equal(t, []int{MaxFrameBody, MaxFrameBody, MaxFrameBody, len(p) - 3*MaxFrameBody}, sizes)
	require.Equal(t, p, out)

	require.Empty(t, send.Seal(nil, nil), "nothing to send, no frame")
}

func TestSealCopesWithPlaintextInItsOutput(t *testing.T) {
	a, recv := frameCiphers(t)
	b := *a
	p := frameRandom(3*MaxFrameBody + 10)
	want := b.Seal(nil, p)

	buf := make([]byte, 0, len(p)+4*FrameOverhead)
	src := buf[FrameHeaderSize : FrameHeaderSize+len(p)]
	copy(src, p)
	got := a.Seal(buf, src)
	require.Equal(t, want, got)
	require.Equal(t, p, frameOpenAll(t, recv, got))
}

func TestSealFrameRejectsOversizedBody(t *testing.T) {
	send, recv := frameCiphers(t)
	dst := []byte("keep")
	require.Equal(t, []byte("keep"), send.SealFrame(dst, make([]byte, MaxFrameBody+1)))
	// The cipher did not advance: the next frame still decrypts.
	frameRoundTrip(t, send, recv, []byte("next"))
}

func TestCipherRotatesKeysEvery500Frames(t *testing.T) {
	send, recv := frameCiphers(t)
	key0 := send.key
	for i := range 1200 {
		frameRoundTrip(t, send, recv, []byte{byte(i)})
		switch i {
		case 498:
			require.Equal(t, key0, send.key)
		case 499, 999:
			require.NotEqual(t, key0, send.key)
			require.Equal(t, uint64(0), send.n)
			key0 = send.key
		}
	}
	require.Equal(t, send.key, recv.key)
	require.Equal(t, send.ck, recv.ck)
}

func TestLinkDirectionsRotateIndependently(t *testing.T) {
	ini, resp, _, _ := noisePair(t, false, nil, nil)
	_, err := noiseExchange(ini, resp, nil)
	require.NoError(t, err)
	iSend, iRecv, err := ini.Ciphers()
	require.NoError(t, err)
	rSend, rRecv, err := resp.Ciphers()
	require.NoError(t, err)

	// 1001 frames one way (two rotations), 3 the other, then both ways again.
	for i := range 1001 {
		frameRoundTrip(t, iSend, rRecv, []byte{byte(i)})
	}
	for range 3 {
		frameRoundTrip(t, rSend, iRecv, []byte("back"))
	}
	frameRoundTrip(t, iSend, rRecv, []byte("there"))
	frameRoundTrip(t, rSend, iRecv, []byte("back again"))
}

func TestDirectionsMayBeUsedConcurrently(t *testing.T) {
	ini, resp, _, _ := noisePair(t, true, nil, nil)
	_, err := noiseExchange(ini, resp, nil)
	require.NoError(t, err)
	iSend, iRecv, err := ini.Ciphers()
	require.NoError(t, err)
	rSend, rRecv, err := resp.Ciphers()
	require.NoError(t, err)

	pump := func(send, recv *Cipher, seed byte) error {
		ch := make(chan []byte, 8)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			for i := range 600 {
				ch <- send.SealFrame(nil, bytes.Repeat([]byte{seed}, i))
			}
		}()
		var firstErr error
		i := 0
		for wire := range ch {
			n, err := recv.OpenHeader(wire[:FrameHeaderSize])
			if err == nil {
				var got []byte
				got, err = recv.OpenBody(nil, wire[FrameHeaderSize:])
				if err == nil && (n != i || !bytes.Equal(got, bytes.Repeat([]byte{seed}, i))) {
					err = ErrFrameAuth
				}
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
			i++
		}
		wg.Wait()
		return firstErr
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = pump(iSend, rRecv, 'i') }()
	go func() { defer wg.Done(); errs[1] = pump(rSend, iRecv, 'r') }()
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
}

func TestOpenRejectsTamperedFrames(t *testing.T) {
	body := []byte("an authenticated frame body")
	send, recv0 := frameCiphers(t)
	wire := send.SealFrame(nil, body)
	for i := range wire {
		for _, mask := range []byte{0x01, 0x80} {
			recv := *recv0
			bad := bytes.Clone(wire)
			bad[i] ^= mask
			n, err := recv.OpenHeader(bad[:FrameHeaderSize])
			if i < FrameHeaderSize {
				require.ErrorIs(t, err, ErrFrameAuth, "header byte %d", i)
			} else {
				require.NoError(t, err)
				require.Equal(t, len(body), n)
				_, err = recv.OpenBody(nil, bad[FrameHeaderSize:])
				require.ErrorIs(t, err, ErrFrameAuth, "body byte %d", i)
			}
			// The failure is sticky, even for the genuine frame.
			_, err = recv.OpenHeader(wire[:FrameHeaderSize])
			require.ErrorIs(t, err, ErrFrameState)
			require.ErrorIs(t, err, ErrFrameAuth)
		}
	}
}

func TestOpenRejectsReplayedAndReorderedFrames(t *testing.T) {
	send, recv := frameCiphers(t)
	other := *recv // a second, identical receiver
	f1 := send.SealFrame(nil, []byte("one"))
	f2 := send.SealFrame(nil, []byte("two"))
	_, err := recv.OpenHeader(f2[:FrameHeaderSize])
	require.ErrorIs(t, err, ErrFrameAuth, "frame two before frame one")

	require.Equal(t, []byte("one"), frameOpenAll(t, &other, f1))
	_, err = other.OpenHeader(f1[:FrameHeaderSize])
	require.ErrorIs(t, err, ErrFrameAuth, "replayed frame")
}

func TestOpenEnforcesHeaderThenBody(t *testing.T) {
	t.Run("body first", func(t *testing.T) {
		_, recv := frameCiphers(t)
		_, err := recv.OpenBody(nil, make([]byte, 16))
		require.ErrorIs(t, err, ErrFrameState)
	})
	t.Run("two headers", func(t *testing.T) {
		send, recv := frameCiphers(t)
		wire := send.SealFrame(nil, []byte("x"))
		_, err := recv.OpenHeader(wire[:FrameHeaderSize])
		require.NoError(t, err)
		_, err = recv.OpenHeader(wire[:FrameHeaderSize])
		require.ErrorIs(t, err, ErrFrameState)
	})
	t.Run("header of wrong size", func(t *testing.T) {
		for _, n := range []int{0, 17, 19} {
			_, recv := frameCiphers(t)
			_, err := recv.OpenHeader(make([]byte, n))
			require.ErrorIs(t, err, ErrFrameSize)
			_, err = recv.OpenHeader(make([]byte, FrameHeaderSize))
			require.ErrorIs(t, err, ErrFrameState, "sticky")
		}
	})
	t.Run("body of wrong size", func(t *testing.T) {
		for _, delta := range []int{-17, -1, 1} {
			send, recv := frameCiphers(t)
			wire := send.SealFrame(nil, []byte("hello"))
			_, err := recv.OpenHeader(wire[:FrameHeaderSize])
			require.NoError(t, err)
			ct := wire[FrameHeaderSize:]
			if delta > 0 {
				ct = append(ct, make([]byte, delta)...)
			} else {
				ct = ct[:len(ct)+delta]
			}
			_, err = recv.OpenBody(nil, ct)
			require.ErrorIs(t, err, ErrFrameSize)
		}
	})
}

func TestFrameOperationsDoNotAllocate(t *testing.T) {
	send, recv := frameCiphers(t)
	body := frameRandom(MaxFrameBody)
	wire := make([]byte, 0, MaxFrameBody+FrameOverhead)
	plain := make([]byte, 0, MaxFrameBody)
	// 50 runs + 1 warm-up stay clear of a key rotation (every 500 frames).
	allocs := testing.AllocsPerRun(50, func() {
		wire = send.SealFrame(wire[:0], body)
		n, err := recv.OpenHeader(wire[:FrameHeaderSize])
		if err != nil || n != len(body) {
			panic("open header")
		}
		plain, err = recv.OpenBody(plain[:0], wire[FrameHeaderSize:])
		if err != nil {
			panic("open body")
		}
	})
	require.Zero(t, allocs)

	inPlace := testing.AllocsPerRun(50, func() {
		b := wire[FrameHeaderSize : FrameHeaderSize+len(body)]
		copy(b, body)
		wire = send.SealFrame(wire[:0], b)
		if _, err := recv.OpenHeader(wire[:FrameHeaderSize]); err != nil {
			panic("open header")
		}
		ct := wire[FrameHeaderSize:]
		if _, err := recv.OpenBody(ct[:0], ct); err != nil {
			panic("open body")
		}
	})
	require.Zero(t, inPlace)
}

func TestZeroCipherIsRefusedNotPanicking(t *testing.T) {
	var c Cipher
	require.Equal(t, []byte("x"), c.SealFrame([]byte("x"), []byte("body")))
	_, err := c.OpenHeader(make([]byte, FrameHeaderSize))
	require.ErrorIs(t, err, ErrFrameState)
	_, err = c.OpenBody(nil, make([]byte, 16))
	require.ErrorIs(t, err, ErrFrameState)
}
