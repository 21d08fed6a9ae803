package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
	"github.com/foxtrotnet/foxtrot/transport/tcp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// carriers is the table every scenario runs over.
var carriers = []struct {
	name   string
	t      func() transport.Transport
	listen string
}{
	{"tcp", func() transport.Transport { return tcp.New() }, "/ip4/127.0.0.1/tcp/0"},
	{"mem", func() transport.Transport { return mem.NewNetwork(mem.Options{}).Transport() }, "/mem/0"},
}

func TestListenDialExchangeClose(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			tr := c.t()
			l, err := tr.Listen(ma.StringCast(c.listen))
			require.NoError(t, err)
			defer l.Close()
			require.True(t, tr.Match(l.Multiaddr()), "a listener's own address matches")
			require.NotContains(t, l.Multiaddr().String(), "/0", "the port is resolved")

			go func() {
				s, err := l.Accept()
				if err != nil {
					return
				}
				defer s.Close()
				_, _ = io.Copy(s, s)
			}()
			conn, err := tr.Dial(context.Background(), l.Multiaddr())
			require.NoError(t, err)
			_, err = conn.Write([]byte("ping"))
			require.NoError(t, err)
			buf := make([]byte, 4)
			_, err = io.ReadFull(conn, buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf))
			require.NoError(t, conn.Close())

			require.NoError(t, l.Close())
			_, err = l.Accept()
			require.ErrorIs(t, err, net.ErrClosed)
		})
	}
}

func TestConnsPassNettest(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			tr := c.t()
			l, err := tr.Listen(ma.StringCast(c.listen))
			require.NoError(t, err)
			defer l.Close()
			nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
				accepted := make(chan net.Conn, 1)
				go func() {
					s, err := l.Accept()
					if err == nil {
						accepted <- s
					}
					close(accepted)
				}()
				a, err := tr.Dial(context.Background(), l.Multiaddr())
				if err != nil {
					return nil, nil, nil, err
				}
				b := <-accepted
				if b == nil {
					a.Close()
					return nil, nil, nil, errors.New("accept failed")
				}
				return a, b, func() { a.Close(); b.Close() }, nil
			})
		})
	}
}

func TestDialNobodyIsRefused(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			tr := c.t()
			l, err := tr.Listen(ma.StringCast(c.listen))
			require.NoError(t, err)
			addr := l.Multiaddr()
			require.NoError(t, l.Close())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = tr.Dial(ctx, addr)
			var oe *net.OpError
			require.ErrorAs(t, err, &oe)
		})
	}
}

func TestSetPicksTransportByAddress(t *testing.T) {
	set := transport.Set{tcp.New(), mem.New()}
	tr, err := set.For(ma.StringCast("/mem/7"))
	require.NoError(t, err)
	require.IsType(t, &mem.Transport{}, tr)
	tr, err = set.For(ma.StringCast("/ip6/::1/tcp/80"))
	require.NoError(t, err)
	require.IsType(t, &tcp.Transport{}, tr)
	_, err = set.For(ma.StringCast("/ip4/1.2.3.4/udp/5"))
	require.ErrorIs(t, err, transport.ErrNoTransport)
}

func TestFoxtrotComponentAcceptsAddressOrPublicKey(t *testing.T) {
	const addr = "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"
	const pub = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
	for _, id := range []string{addr, pub} {
		m, err := ma.NewMultiaddr("/ip4/127.0.0.1/tcp/9000/foxtrot/" + id)
		require.NoError(t, err)
		base, got := transport.SplitIdentity(m)
		require.Equal(t, id, got)
		require.Equal(t, "/ip4/127.0.0.1/tcp/9000", base.String())
		require.Equal(t, id == pub, transport.IsPublicKeyHex(got))
		back, err := transport.WithIdentity(base, got)
		require.NoError(t, err)
		require.True(t, back.Equal(m))
		// Binary round trip goes through the transcoder too.
		m2, err := ma.NewMultiaddrBytes(m.Bytes())
		require.NoError(t, err)
		require.True(t, m2.Equal(m))
	}
	base, id := transport.SplitIdentity(ma.StringCast("/mem/3"))
	require.Equal(t, "", id)
	require.Equal(t, "/mem/3", base.String())
}

func TestFoxtrotComponentRejectsGarbage(t *testing.T) {
	for _, bad := range []string{
		"1BoatSLRHtKNngkdXEeobR76b53LETtpyX",                                 // bad checksum
		"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",                                 // version 5 (P2SH)
		"0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", // not compressed
		"zz79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", // not hex
		"1", // too short
	} {
		_, err := ma.NewMultiaddr("/mem/1/foxtrot/" + bad)
		require.Error(t, err, bad)
		require.ErrorIs(t, transport.ValidateIdentity(bad), transport.ErrBadIdentity, bad)
	}
	_, err := ma.NewMultiaddr("/mem/notanumber")
	require.Error(t, err)
}

// The /foxtrot component is parsed by addr, the one parser of address
// forms: its errors say what is wrong, and a key off the curve is refused
// when the multiaddr is made, not when a link is dialled.
func TestFoxtrotComponentIsParsedByAddr(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want error
	}{
		{"1BoatSLRHtKNngkdXEeobR76b53LETtpyX", addr.ErrAddrChecksum},
		{"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", addr.ErrAddrVersion},
		{"02ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", addr.ErrAddrEncoding}, // not on the curve
	} {
		err := transport.ValidateIdentity(tc.id)
		require.ErrorIs(t, err, transport.ErrBadIdentity, tc.id)
		require.ErrorIs(t, err, addr.ErrBadAddr, tc.id)
		require.ErrorIs(t, err, tc.want, tc.id)
		_, err = ma.NewMultiaddr("/mem/1/foxtrot/" + tc.id)
		require.Error(t, err, tc.id)
	}
}

func FuzzParseMultiaddr(f *testing.F) {
	f.Add([]byte(ma.StringCast("/mem/1/foxtrot/1BoatSLRHtKNngkdXEeobR76b53LETtpyT").Bytes()))
	f.Add([]byte(ma.StringCast("/ip4/127.0.0.1/tcp/1").Bytes()))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			return
		}
		// Whatever parses must print and re-parse to the same thing.
		m2, err := ma.NewMultiaddr(m.String())
		if err != nil {
			t.Fatalf("%s does not re-parse: %v", m, err)
		}
		if !m.Equal(m2) {
			t.Fatalf("round trip changed %s into %s", m, m2)
		}
		transport.SplitIdentity(m)
	})
}
