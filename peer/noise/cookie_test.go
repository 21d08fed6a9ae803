package noise

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func genActOne(t testing.TB, netKey []byte) []byte {
	hs, err := NewInitiator(Config{Static: newKey(t), NetworkKey: netKey})
	require.NoError(t, err)
	act1, err := hs.GenActOne()
	require.NoError(t, err)
	return act1
}

func TestCookieRoundTrip(t *testing.T) {
	clk := &fakeClock{time.Unix(1_000_000, 0)}
	netKey := []byte("net")
	j := NewCookieJar(netKey, clk.now)
	act1 := genActOne(t, netKey)
	reply := j.Reply(act1, "192.0.2.1")
	require.Len(t, reply, CookieReplySize)
	echo, err := OpenCookieReply(netKey, act1, reply)
	require.NoError(t, err)
	require.True(t, j.Check(act1, "192.0.2.1", echo))
	require.False(t, j.Check(act1, "192.0.2.2", echo), "a cookie is for one address")
	require.False(t, j.Check(genActOne(t, netKey), "192.0.2.1", echo), "an echo is for one act one")

	// Good for one rotation, not two.
	clk.t = clk.t.Add(cookieLifetime)
	require.True(t, j.Check(act1, "192.0.2.1", echo))
	clk.t = clk.t.Add(cookieLifetime)
	require.False(t, j.Check(act1, "192.0.2.1", echo))

	// Without the network key, or tampered, a reply does not open.
	_, err = OpenCookieReply(nil, act1, reply)
	require.ErrorIs(t, err, ErrBadCookie)
	bad := bytes.Clone(reply)
	bad[5] ^= 1
	_, err = OpenCookieReply(netKey, act1, bad)
	require.ErrorIs(t, err, ErrBadCookie)
	_, err = OpenCookieReply(netKey, act1, reply[:10])
	require.ErrorIs(t, err, ErrBadCookie)
}

// FuzzOpenCookieReply: any bytes as a cookie reply give an echo or
// ErrBadCookie, never a panic; a genuine reply always opens.
func FuzzOpenCookieReply(f *testing.F) {
	netKey := []byte("net")
	act1 := genActOne(f, netKey)
	j := NewCookieJar(netKey, nil)
	f.Add(j.Reply(act1, "192.0.2.1"), []byte("192.0.2.1"))
	f.Add(make([]byte, CookieReplySize), []byte(""))
	f.Add([]byte{cookieVersion}, []byte("::1"))
	f.Fuzz(func(t *testing.T, reply, source []byte) {
		echo, err := OpenCookieReply(netKey, act1, reply)
		if err != nil {
			require.ErrorIs(t, err, ErrBadCookie)
		} else {
			require.Len(t, echo, CookieEchoSize)
		}
		genuine := j.Reply(act1, string(source))
		echo, err = OpenCookieReply(netKey, act1, genuine)
		require.NoError(t, err)
		require.True(t, j.Check(act1, string(source), echo))
	})
}

// cookieResponder is a responder under load, as package peer runs one: it
// answers act one with a cookie reply (tampered if bad), checks the echo,
// and only then runs the handshake on. It closes conn on failure only (a
// close right after act three could fail the initiator's last write on a
// net.Pipe).
func cookieResponder(conn net.Conn, cfg Config, bad bool) (err error) {
	defer func() {
		if err != nil {
			conn.Close()
		}
	}()
	act1 := make([]byte, ActOneSize)
	if _, err := io.ReadFull(conn, act1); err != nil {
		return err
	}
	j := NewCookieJar(cfg.NetworkKey, nil)
	reply := j.Reply(act1, "pipe")
	if bad {
		reply[len(reply)-1] ^= 1
	}
	if _, err := conn.Write(reply); err != nil {
		return err
	}
	echo := make([]byte, CookieEchoSize)
	if _, err := io.ReadFull(conn, echo); err != nil {
		return err
	}
	if !j.Check(act1, "pipe", echo) {
		return ErrBadCookie
	}
	hs, err := NewResponder(cfg)
	if err != nil {
		return err
	}
	if err := hs.RecvActOne(act1); err != nil {
		return err
	}
	act2, err := hs.GenActTwo()
	if err != nil {
		return err
	}
	if _, err := conn.Write(act2); err != nil {
		return err
	}
	act3 := make([]byte, ActThreeSize)
	if _, err := io.ReadFull(conn, act3); err != nil {
		return err
	}
	return hs.RecvActThree(act3)
}

// An initiator answers a cookie reply and goes on to link; a reply with a
// bad tag fails the handshake with ErrBadCookie.
func TestInitiatorAnswersACookieReply(t *testing.T) {
	for _, bad := range []bool{false, true} {
		for _, netKey := range [][]byte{nil, []byte("net")} {
			a, b := net.Pipe()
			srvKey := newKey(t)
			srv := make(chan error, 1)
			go func() { srv <- cookieResponder(b, Config{Static: srvKey, NetworkKey: netKey}, bad) }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := Client(ctx, a, Config{Static: newKey(t), RemoteStatic: srvKey.PubKey(), NetworkKey: netKey}, nil)
			cancel()
			if bad {
				require.ErrorIs(t, err, ErrBadCookie)
				<-srv
				continue
			}
			require.NoError(t, err)
			require.NoError(t, <-srv)
			require.True(t, c.RemoteKey().IsEqual(srvKey.PubKey()))
			c.Close()
			b.Close()
		}
	}
}
