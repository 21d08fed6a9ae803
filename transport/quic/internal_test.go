package quic

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
	"github.com/foxtrotnet/foxtrot/transport/obfs"
)

// FuzzStreamStart sends arbitrary bytes as a dialled stream's whole
// content, from a raw QUIC client: a stream that begins with the preamble
// is accepted and yields the rest, any other is closed with its
// connection, and nothing panics or hangs. Each input costs a QUIC
// handshake on loopback (a few hundred a second); the fuzzer's
// minimisation of a new input runs long (-fuzzminimizetime shortens it).
func FuzzStreamStart(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{preamble})
	f.Add([]byte{preamble, 'h', 'i'})
	f.Add([]byte{1, 2, 3})
	f.Add(bytes.Repeat([]byte{0xff}, 5000))

	key := bytes.Repeat([]byte{9}, 32)
	tr, err := New(Config{NetworkKey: key, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	defer tr.Close()
	tl, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	if err != nil {
		f.Fatal(err)
	}
	l := tl.(*Listener)
	defer l.Close()
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	oc, err := obfs.New(uc, obfs.Config{NetworkKey: key})
	if err != nil {
		f.Fatal(err)
	}
	client := &quicgo.Transport{Conn: oc}
	defer oc.Close()
	defer client.Close()

	f.Fuzz(func(t *testing.T, data []byte) { streamStart(t, l, tr, client, data) })
}

func streamStart(t *testing.T, l *Listener, tr *Transport, client *quicgo.Transport, data []byte) {
	{
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		qc, err := client.Dial(ctx, l.Addr(), tr.clientTLS, tr.clientQ)
		if err != nil {
			t.Fatal(err)
		}
		defer qc.CloseWithError(0, "")
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		good := len(data) > 0 && data[0] == preamble
		if _, err := st.Write(data); err != nil && good {
			t.Fatal(err) // a bad stream may be closed while it is written
		}
		st.Close()
		if !good {
			select { // the listener closes the connection
			case <-qc.Context().Done():
			case <-ctx.Done():
				t.Fatal("a stream without the preamble was not closed")
			}
			return
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			if c, err := l.Accept(); err == nil {
				accepted <- c
			}
		}()
		var c net.Conn
		select {
		case c = <-accepted:
		case <-ctx.Done():
			l.Close() // ends the Accept above
			t.Fatal("a stream with the preamble was not accepted")
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[1:]) {
			t.Fatalf("read %d bytes, want %d", len(got), len(data)-1)
		}
	}
}

// Closing a listener ends the handshakes under way (a dialler that never
// sends its stream) at once, not after HandshakeTimeout.
func TestListenerCloseEndsHandshakes(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	tr, err := New(Config{NetworkKey: key, HandshakeTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	l, err := tr.Listen(ma.StringCast("/ip4/127.0.0.1/udp/0"))
	if err != nil {
		t.Fatal(err)
	}
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := obfs.New(uc, obfs.Config{NetworkKey: key})
	if err != nil {
		t.Fatal(err)
	}
	client := &quicgo.Transport{Conn: oc}
	defer oc.Close()
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	qc, err := client.Dial(ctx, l.Addr(), tr.clientTLS, tr.clientQ)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	select {
	case <-qc.Context().Done():
	case <-ctx.Done():
		t.Fatal("the handshake outlived its listener")
	}
}
