package noise

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/internal/pipe"
)

// exchange has c write to s and s write back, rounds times, checking the
// bytes: both offers, both markers and AES-sealed frames cross.
func exchange(t *testing.T, c, s *Conn, rounds int) {
	t.Helper()
	for i := range rounds {
		for _, d := range []struct{ w, r *Conn }{{c, s}, {s, c}} {
			msg := bytes.Repeat([]byte{byte(i)}, 1000+i)
			done := make(chan error, 1)
			go func() {
				_, err := d.w.Write(msg)
				done <- err
			}()
			got := make([]byte, len(msg))
			_, err := io.ReadFull(d.r, got)
			require.NoError(t, err)
			require.Equal(t, msg, got)
			require.NoError(t, <-done)
		}
	}
}

func suitePair(t *testing.T, a, b net.Conn, client, server CipherSuite) (*Conn, *Conn) {
	t.Helper()
	ck, sk := newKey(t), newKey(t)
	c, s, cerr, serr := securePair(t, a, b,
		Config{Static: ck, RemoteStatic: sk.PubKey(), LinkCipher: client},
		Config{Static: sk, LinkCipher: server}, nil)
	require.NoError(t, errors.Join(cerr, serr))
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// Both ends offering AES-256-GCM switch both directions to it; any end
// that does not offer (forced ChaCha20-Poly1305, which is byte for byte
// what a wave-1 peer sends) keeps both directions on ChaCha20-Poly1305,
// and every byte arrives either way.
func TestLinkCipherNegotiation(t *testing.T) {
	aes, chacha := CipherAES256GCM, CipherChaCha20Poly1305
	cases := []struct {
		name           string
		client, server CipherSuite
		want           CipherSuite
	}{
		{"both AES", aes, aes, aes},
		{"AES dialler, ChaCha listener", aes, chacha, chacha},
		{"ChaCha dialler, AES listener", chacha, aes, chacha},
		{"both ChaCha", chacha, chacha, chacha},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pipe.New(pipe.Options{})
			c, s := suitePair(t, a, b, tc.client, tc.server)
			exchange(t, c, s, 3)
			for _, conn := range []*Conn{c, s} {
				send, recv := conn.CipherSuites()
				require.Equal(t, tc.want, send)
				require.Equal(t, tc.want, recv)
			}
			exchange(t, c, s, 2) // and data keeps flowing after the switch
		})
	}
}

// CipherAuto offers AES-256-GCM exactly when the machine has it in
// hardware.
func TestAutoOffersAESOnlyWithHardware(t *testing.T) {
	require.Equal(t, HasAESHardware(), CipherAuto.offersAES())
	require.True(t, CipherAES256GCM.offersAES())
	require.False(t, CipherChaCha20Poly1305.offersAES())
}

// A Conn over AES-256-GCM is still a net.Conn.
func TestAESConnPassesNettest(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		ck, sk := newKey(t), newKey(t)
		a, b := tcpPair(t)
		c, s, cerr, serr := securePair(t, a, b,
			Config{Static: ck, LinkCipher: CipherAES256GCM}, Config{Static: sk, LinkCipher: CipherAES256GCM}, nil)
		if err := errors.Join(cerr, serr); err != nil {
			return nil, nil, nil, err
		}
		return c, s, func() { c.Close(); s.Close() }, nil
	})
}

// Megabytes each way over AES-256-GCM cross many key rotations (one per
// 500 frames) intact.
func TestAESLinkRotatesKeysIntact(t *testing.T) {
	a, b := tcpPair(t)
	c, s := suitePair(t, a, b, CipherAES256GCM, CipherAES256GCM)
	exchange(t, c, s, 1)
	data := make([]byte, 2000*1024+17) // 2000 frames of 1 KiB: four rotations
	rand.Read(data)
	want := sha256.Sum256(data)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []*Conn{c, s} {
		wg.Go(func() {
			for p := data; len(p) > 0; {
				n, err := w.Write(p[:min(len(p), 1024)])
				if err != nil {
					errs <- err
					return
				}
				p = p[n:]
			}
			errs <- w.CloseWrite()
		})
	}
	for _, r := range []*Conn{c, s} {
		h := sha256.New()
		_, err := io.Copy(h, r)
		require.NoError(t, err)
		require.Equal(t, want[:], h.Sum(nil))
	}
	wg.Wait()
	require.NoError(t, <-errs)
	require.NoError(t, <-errs)
	send, recv := c.CipherSuites()
	require.Equal(t, CipherAES256GCM, send)
	require.Equal(t, CipherAES256GCM, recv)
}

// tapConn lets a test rewrite what one side writes after skip bytes (the
// handshake acts): an attacker on the path.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	skip    int
	rewrite func([]byte) []byte // applied once, to the first write past skip
}

func (t *tapConn) Write(p []byte) (int, error) {
	t.mu.Lock()
	if t.skip > 0 || t.rewrite == nil {
		t.skip -= len(p)
		t.mu.Unlock()
		return t.Conn.Write(p)
	}
	f := t.rewrite
	t.rewrite = nil
	t.mu.Unlock()
	if _, err := t.Conn.Write(f(bytes.Clone(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// An attacker can neither alter nor strip the AES-256-GCM offer: either
// fails authentication at the listener before any byte is delivered.
func TestTamperedNegotiationFailsTheLink(t *testing.T) {
	cases := map[string]func([]byte) []byte{
		"flipped offer":  func(p []byte) []byte { p[3] ^= 1; return p },
		"stripped offer": func(p []byte) []byte { return p[FrameOverhead:] },
	}
	for name, rewrite := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := pipe.New(pipe.Options{})
			tap := &tapConn{Conn: a, skip: ActOneSize + ActThreeSize, rewrite: rewrite}
			c, s := suitePair(t, tap, b, CipherAES256GCM, CipherAES256GCM)
			go c.Write([]byte("hello"))
			_, err := s.Read(make([]byte, 64))
			require.ErrorIs(t, err, ErrFrameAuth)
		})
	}
}

// Upgrade rotates like ChaCha20-Poly1305 and works only once, at a frame
// boundary; a receiver that does not upgrade cannot read what follows.
func TestCipherUpgrade(t *testing.T) {
	send, recv := frameCiphers(t)
	frameRoundTrip(t, send, recv, []byte("before"))
	require.NoError(t, send.Upgrade())
	require.NoError(t, recv.Upgrade())
	require.Equal(t, CipherAES256GCM, send.Suite())
	for i := range 3 * frameRekeyInterval {
		frameRoundTrip(t, send, recv, []byte{byte(i)})
	}
	require.ErrorIs(t, send.Upgrade(), ErrFrameState)

	send, recv = frameCiphers(t)
	require.NoError(t, send.Upgrade())
	w := send.SealFrame(nil, []byte("after"))
	_, err := recv.OpenHeader(w[:FrameHeaderSize])
	require.ErrorIs(t, err, ErrFrameAuth)
}
