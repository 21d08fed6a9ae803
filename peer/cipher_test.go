package peer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// Two Sets that both offer AES-256-GCM end up with both directions of
// their link on it once pings crossed; a Set forced to ChaCha20-Poly1305
// links with an AES-offering one on ChaCha20-Poly1305.
func TestLinkNegotiatesFrameCipher(t *testing.T) {
	cases := []struct {
		name              string
		dialler, listener CipherSuite
		want              CipherSuite
	}{
		{"both AES", CipherAES256GCM, CipherAES256GCM, CipherAES256GCM},
		{"forced ChaCha dialler", CipherChaCha20Poly1305, CipherAES256GCM, CipherChaCha20Poly1305},
		{"forced ChaCha listener", CipherAES256GCM, CipherChaCha20Poly1305, CipherChaCha20Poly1305},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := mem.NewNetwork(mem.Options{}).Transport()
			rec := newRecorder()
			a := newTestSet(t, tr, rec, func(c *Config) { c.LinkCipher = tc.listener })
			d := newTestSet(t, tr, nil, func(c *Config) { c.LinkCipher = tc.dialler })
			l, err := d.Connect(ctxT(t), listen(t, a, "/mem/0"))
			require.NoError(t, err)
			for range 3 {
				_, err := l.Ping(ctxT(t))
				require.NoError(t, err)
			}
			send, recv := l.CipherSuites()
			require.Equal(t, tc.want, send)
			require.Equal(t, tc.want, recv)
			var remote *Link
			require.Eventually(t, func() bool {
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if len(rec.ups) == 0 {
					return false
				}
				remote = rec.ups[0]
				return true
			}, 5*time.Second, time.Millisecond)
			_, err = remote.Ping(ctxT(t))
			require.NoError(t, err)
			send, recv = remote.CipherSuites()
			require.Equal(t, tc.want, send)
			require.Equal(t, tc.want, recv)
		})
	}
}
