package noise

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/internal/bufpool"
	"github.com/foxtrotnet/foxtrot/internal/pipe"
)

// rawCarriers give connected transport conn pairs: the in-memory pipe that
// carries the mem transport, and loopback TCP.
var rawCarriers = []struct {
	name string
	pair func(t testing.TB) (net.Conn, net.Conn)
}{
	{"mem", func(t testing.TB) (net.Conn, net.Conn) {
		a, b := pipe.New(pipe.Options{})
		return a, b
	}},
	{"tcp", tcpPair},
}

func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	b := <-accepted
	require.NotNil(t, b)
	return a, b
}

func newKey(t testing.TB) *btcec.PrivateKey {
	k, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	return k
}

type hsResult struct {
	c   *Conn
	err error
}

// securePair runs both handshake sides over a raw pair.
func securePair(t testing.TB, a, b net.Conn, ccfg, scfg Config, verify func(*btcec.PublicKey) error) (*Conn, *Conn, error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv := make(chan hsResult, 1)
	go func() {
		c, err := Server(ctx, b, scfg)
		srv <- hsResult{c, err}
	}()
	c, cerr := Client(ctx, a, ccfg, verify)
	s := <-srv
	return c, s.c, cerr, s.err
}

func TestSecureConnPassesNettest(t *testing.T) {
	for _, rc := range rawCarriers {
		for _, xk := range []bool{true, false} {
			name := rc.name + "/XX"
			if xk {
				name = rc.name + "/XK"
			}
			t.Run(name, func(t *testing.T) {
				nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
					ck, sk := newKey(t), newKey(t)
					ccfg := Config{Static: ck}
					if xk {
						ccfg.RemoteStatic = sk.PubKey()
					}
					a, b := rc.pair(t)
					c, s, cerr, serr := securePair(t, a, b, ccfg, Config{Static: sk}, nil)
					if err := errors.Join(cerr, serr); err != nil {
						return nil, nil, nil, err
					}
					return c, s, func() { c.Close(); s.Close() }, nil
				})
			})
		}
	}
}

func TestHandshakeAuthenticatesBothSides(t *testing.T) {
	for _, rc := range rawCarriers {
		t.Run(rc.name, func(t *testing.T) {
			ck, sk := newKey(t), newKey(t)
			a, b := rc.pair(t)
			c, s, cerr, serr := securePair(t, a, b,
				Config{Static: ck, RemoteStatic: sk.PubKey()}, Config{Static: sk}, nil)
			require.NoError(t, cerr)
			require.NoError(t, serr)
			defer c.Close()
			defer s.Close()
			require.True(t, c.RemoteKey().IsEqual(sk.PubKey()))
			require.True(t, s.RemoteKey().IsEqual(ck.PubKey()))
			require.Equal(t, PatternXK, c.Pattern())
			require.Equal(t, PatternXK, s.Pattern())
		})
	}
}

func TestXKWithWrongResponderKeyGetsNoReply(t *testing.T) {
	for _, rc := range rawCarriers {
		t.Run(rc.name, func(t *testing.T) {
			ck, sk, other := newKey(t), newKey(t), newKey(t)
			a, b := rc.pair(t)
			_, _, cerr, serr := securePair(t, a, b,
				Config{Static: ck, RemoteStatic: other.PubKey()}, Config{Static: sk}, nil)
			require.ErrorIs(t, serr, ErrBadMAC)
			require.Error(t, cerr)
		})
	}
}

// errWrongIdentity is what a verify callback returns for a key it does not
// want (package peer's is peer.ErrWrongIdentity).
var errWrongIdentity = errors.New("noise test: wrong identity")

func TestXXVerifyRejectsWrongIdentityBeforeRevealingOurs(t *testing.T) {
	ck, sk, want := newKey(t), newKey(t), newKey(t)
	a, b := pipe.New(pipe.Options{})
	verify := func(got *btcec.PublicKey) error {
		if !got.IsEqual(want.PubKey()) {
			return errWrongIdentity
		}
		return nil
	}
	_, _, cerr, serr := securePair(t, a, b, Config{Static: ck}, Config{Static: sk}, verify)
	require.ErrorIs(t, cerr, errWrongIdentity)
	require.Error(t, serr, "the responder never got act three")
}

// A responder with a network key answers a handshake that does not prove
// it with silence: not one byte, then a closed conn.
func TestNetworkKeyMismatchGetsNoByteBack(t *testing.T) {
	netKey := []byte("the right network key")
	for _, rc := range rawCarriers {
		for _, tc := range []struct {
			name   string
			client []byte
		}{
			{"no key", nil},
			{"wrong key", []byte("a wrong network key")},
		} {
			for _, xk := range []bool{true, false} {
				t.Run(rc.name+"/"+tc.name, func(t *testing.T) {
					ck, sk := newKey(t), newKey(t)
					a, b := rc.pair(t)
					defer a.Close()
					srv := make(chan error, 1)
					go func() {
						_, err := Server(context.Background(), b, Config{Static: sk, NetworkKey: netKey})
						srv <- err
					}()
					cfg := Config{Static: ck, NetworkKey: tc.client}
					if xk {
						cfg.RemoteStatic = sk.PubKey()
					}
					hs, err := NewInitiator(cfg)
					require.NoError(t, err)
					act1, err := hs.GenActOne()
					require.NoError(t, err)
					_, err = a.Write(act1)
					require.NoError(t, err)
					require.ErrorIs(t, <-srv, ErrBadMAC)
					a.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := a.Read(make([]byte, 1))
					require.Equal(t, 0, n, "the responder sent a byte")
					require.Error(t, err)
					require.False(t, isTimeout(err), "the responder did not close")
				})
			}
		}
	}
}

func TestNetworkKeyMatchLinks(t *testing.T) {
	key := []byte("shared")
	ck, sk := newKey(t), newKey(t)
	a, b := pipe.New(pipe.Options{})
	c, s, cerr, serr := securePair(t, a, b, Config{Static: ck, NetworkKey: key}, Config{Static: sk, NetworkKey: key}, nil)
	require.NoError(t, cerr)
	require.NoError(t, serr)
	c.Close()
	s.Close()
}

func TestGarbageHandshakeIsDroppedSilently(t *testing.T) {
	sk := newKey(t)
	a, b := pipe.New(pipe.Options{})
	defer a.Close()
	srv := make(chan error, 1)
	go func() {
		_, err := Server(context.Background(), b, Config{Static: sk})
		srv <- err
	}()
	garbage := make([]byte, ActOneSize)
	rand.Read(garbage)
	garbage[0] = 0
	a.Write(garbage)
	require.Error(t, <-srv)
	n, err := a.Read(make([]byte, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
}

func TestStalledHandshakeTimesOut(t *testing.T) {
	for _, rc := range rawCarriers {
		t.Run(rc.name, func(t *testing.T) {
			sk := newKey(t)
			a, b := rc.pair(t)
			defer a.Close()
			a.Write([]byte{0, 2, 3}) // a few bytes of act one, then nothing
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := Server(ctx, b, Config{Static: sk})
			require.ErrorIs(t, err, ErrHandshakeTimeout)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

func TestCancelledHandshakeStops(t *testing.T) {
	ck := newKey(t)
	a, b := pipe.New(pipe.Options{})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := Client(ctx, a, Config{Static: ck}, nil) // nobody answers
	require.ErrorIs(t, err, ErrHandshakeTimeout)
	require.ErrorIs(t, err, context.Canceled)
}

func TestTamperedFrameFailsAndClosesTheLink(t *testing.T) {
	ck, sk := newKey(t), newKey(t)
	a, b := pipe.New(pipe.Options{})
	c, s, cerr, serr := securePair(t, a, b, Config{Static: ck, RemoteStatic: sk.PubKey()}, Config{Static: sk}, nil)
	require.NoError(t, errors.Join(cerr, serr))
	defer c.Close()
	defer s.Close()
	// Seal a frame with the client's cipher, flip a bit, and write it raw.
	frame := c.send.SealFrame(nil, []byte("pay 1 BTC"))
	frame[len(frame)-20] ^= 1
	_, err := a.Write(frame)
	require.NoError(t, err)
	_, err = s.Read(make([]byte, 64))
	require.ErrorIs(t, err, ErrFrameAuth)
	_, err = s.Read(make([]byte, 64))
	require.ErrorIs(t, err, ErrFrameAuth, "the error is sticky")
}

func TestLargeTransferBothWaysIntact(t *testing.T) {
	for _, rc := range rawCarriers {
		t.Run(rc.name, func(t *testing.T) {
			ck, sk := newKey(t), newKey(t)
			a, b := rc.pair(t)
			c, s, cerr, serr := securePair(t, a, b, Config{Static: ck}, Config{Static: sk}, nil)
			require.NoError(t, errors.Join(cerr, serr))
			defer c.Close()
			defer s.Close()
			data := make([]byte, 3<<20+17)
			rand.Read(data)
			want := sha256.Sum256(data)
			send := func(w *Conn) chan error {
				e := make(chan error, 1)
				go func() {
					_, err := io.Copy(w, bytes.NewReader(data))
					if err == nil {
						err = w.CloseWrite()
					}
					e <- err
				}()
				return e
			}
			e1, e2 := send(c), send(s)
			for _, r := range []*Conn{c, s} {
				h := sha256.New()
				_, err := io.Copy(h, r)
				require.NoError(t, err)
				require.Equal(t, want[:], h.Sum(nil))
			}
			require.NoError(t, <-e1)
			require.NoError(t, <-e2)
		})
	}
}

// pipePair returns two ends of a handshaken Conn over an in-memory pipe,
// closed at cleanup.
func pipePair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	a, b := pipe.New(pipe.Options{})
	c, s, cerr, serr := securePair(t, a, b, Config{Static: newKey(t)}, Config{Static: newKey(t)}, nil)
	require.NoError(t, errors.Join(cerr, serr))
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// WriteVec sends a||b as one run of frames: the reader sees the
// concatenation, across frame boundaries, whatever the split, and the
// caller's buffers are left as they were (frames lying in a or b alone
// are sealed straight from them).
func TestWriteVecSendsTheConcatenation(t *testing.T) {
	c, s := pipePair(t)
	body := make([]byte, 2*MaxFrameBody+5)
	rand.Read(body)
	cases := []struct{ a, b []byte }{
		{[]byte("twelve bytes"), body},
		{[]byte("head only"), nil},
		{nil, []byte("body only")},
		{body[:MaxFrameBody], body[MaxFrameBody:]},
		{body[:MaxFrameBody+3], body[MaxFrameBody+3:]},
		{body, nil},
	}
	for _, tc := range cases {
		want := append(bytes.Clone(tc.a), tc.b...)
		wantA, wantB := bytes.Clone(tc.a), bytes.Clone(tc.b)
		done := make(chan error, 1)
		go func() {
			n, err := c.WriteVec(tc.a, tc.b)
			if err == nil && n != len(want) {
				err = io.ErrShortWrite
			}
			done <- err
		}()
		got := make([]byte, len(want))
		_, err := io.ReadFull(s, got)
		require.NoError(t, err)
		require.Equal(t, want, got)
		require.NoError(t, <-done)
		require.Equal(t, wantA, tc.a, "WriteVec changed a")
		require.Equal(t, wantB, tc.b, "WriteVec changed b")
	}
}

// TakeBuffered hands a muxer the rest of a decrypted frame without a copy
// when it asks for exactly that and the bytes fill at least half their
// buffer; anything else is refused and Read goes on as before.
func TestTakeBufferedHandsOverTheRestOfAFrame(t *testing.T) {
	c, s := pipePair(t)

	big := make([]byte, 40<<10)
	rand.Read(big)
	small := []byte("twelve bytes and a short body")
	go func() {
		c.Write(big)   // one frame: taken
		c.Write(big)   // one frame: asked for the wrong length
		c.Write(small) // one frame: too small to take
	}()

	hdr := make([]byte, 12)
	_, err := io.ReadFull(s, hdr)
	require.NoError(t, err)
	data, buf := s.TakeBuffered(len(big) - 12)
	require.NotNil(t, buf)
	require.Equal(t, big[12:], data)
	bufpool.Put(buf)

	_, err = io.ReadFull(s, hdr)
	require.NoError(t, err)
	data, buf = s.TakeBuffered(len(big) - 13)
	require.Nil(t, buf)
	require.Nil(t, data)
	rest := make([]byte, len(big)-12)
	_, err = io.ReadFull(s, rest)
	require.NoError(t, err)
	require.Equal(t, big[12:], rest)

	_, err = io.ReadFull(s, hdr)
	require.NoError(t, err)
	_, buf = s.TakeBuffered(len(small) - 12)
	require.Nil(t, buf, "a small body must not pin a frame buffer")
	rest = make([]byte, len(small)-12)
	_, err = io.ReadFull(s, rest)
	require.NoError(t, err)
	require.Equal(t, small[12:], rest)
}
