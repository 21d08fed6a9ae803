package noise

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// frameFuzzBodies are the messages of FuzzOpenFrame's genuine stream. The
// cipher starts at nonce 994, so the key rotates after the third frame.
var frameFuzzBodies = [][]byte{
	[]byte("hello"),
	{},
	bytes.Repeat([]byte("x"), 300),
	[]byte("after rotation"),
	{0},
	bytes.Repeat([]byte{0xff}, 1000),
}

func frameFuzzCipher(tb testing.TB) *Cipher {
	var k, ck [32]byte
	copy(k[:], noiseHex(tb, bolt8SK))
	copy(ck[:], noiseHex(tb, bolt8CK))
	c, err := newCipher(k, ck)
	require.NoError(tb, err)
	c.n = 994
	return c
}

// FuzzOpenFrame decodes a byte stream as frames, header then body, as a
// link's reader does. Only the genuine frames, in order, may decode; the
// first forged, reordered or truncated piece must fail, and the cipher
// must then refuse everything.
func FuzzOpenFrame(f *testing.F) { fuzzOpenFrame(f, frameFuzzCipher) }

// FuzzOpenFrameAES is FuzzOpenFrame after the cipher upgraded to
// AES-256-GCM (at nonce 0, then set to 994, so it also rotates).
func FuzzOpenFrameAES(f *testing.F) {
	fuzzOpenFrame(f, func(tb testing.TB) *Cipher {
		c := frameFuzzCipher(tb)
		c.n = 0
		require.NoError(tb, c.Upgrade())
		c.n = 994
		return c
	})
}

func fuzzOpenFrame(f *testing.F, frameFuzzCipher func(testing.TB) *Cipher) {
	send := frameFuzzCipher(f)
	var frames [][]byte
	var stream []byte
	for _, b := range frameFuzzBodies {
		fr := send.SealFrame(nil, b)
		frames = append(frames, fr)
		stream = append(stream, fr...)
	}
	f.Add(stream)
	f.Add(frames[0])
	f.Add(stream[:len(frames[0])+len(frames[1])+5])
	f.Add(append(bytes.Clone(frames[1]), frames[0]...))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		recv := frameFuzzCipher(t)
		failed := false
		for i := 0; len(data) > 0; i++ {
			var want []byte
			if i < len(frames) {
				want = frames[i]
			}
			if len(data) < FrameHeaderSize {
				_, err := recv.OpenHeader(data)
				require.ErrorIs(t, err, ErrFrameSize)
				failed = true
				break
			}
			hdr := data[:FrameHeaderSize]
			n, err := recv.OpenHeader(hdr)
			if want == nil || !bytes.Equal(hdr, want[:FrameHeaderSize]) {
				require.ErrorIs(t, err, ErrFrameAuth, "forged header %d accepted: %x", i, hdr)
				failed = true
				break
			}
			require.NoError(t, err)
			require.Equal(t, len(frameFuzzBodies[i]), n)
			data = data[FrameHeaderSize:]

			ct := data[:min(len(data), n+16)]
			genuine := bytes.Equal(ct, want[FrameHeaderSize:])
			var body []byte
			if i%2 == 1 {
				ct = bytes.Clone(ct) // decrypt in place without touching data
				body, err = recv.OpenBody(ct[:0], ct)
			} else {
				body, err = recv.OpenBody(nil, ct)
			}
			if !genuine {
				require.Error(t, err, "forged body %d accepted: %x", i, ct)
				failed = true
				break
			}
			require.NoError(t, err)
			require.Equal(t, string(frameFuzzBodies[i]), string(body))
			data = data[n+16:]
		}
		if failed {
			// After a failure nothing decodes, not even a genuine frame.
			_, err := recv.OpenHeader(frames[0][:FrameHeaderSize])
			require.Error(t, err)
		}
	})
}
