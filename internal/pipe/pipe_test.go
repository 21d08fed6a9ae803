package pipe

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/nettest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPipePassesNettest(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		a, b := New(Options{})
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

func TestPipeWithLatencyPassesNettest(t *testing.T) {
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		a, b := New(Options{Latency: time.Millisecond, Buffer: 64 << 10})
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

func TestWriteDoesNotWaitForReader(t *testing.T) {
	a, b := New(Options{Buffer: 1024})
	defer a.Close()
	defer b.Close()
	n, err := a.Write(make([]byte, 1000))
	require.NoError(t, err)
	require.Equal(t, 1000, n)
}

func TestWriteBlocksWhenBufferFull(t *testing.T) {
	a, b := New(Options{Buffer: 1024})
	defer b.Close()
	defer a.Close()
	require.NoError(t, a.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	n, err := a.Write(make([]byte, 4096))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	require.Equal(t, 1024, n)
}

func TestLatencyDelaysDelivery(t *testing.T) {
	a, b := New(Options{Latency: 40 * time.Millisecond})
	defer a.Close()
	defer b.Close()
	start := time.Now()
	_, err := a.Write([]byte("hello"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	require.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
	require.Equal(t, "hello", string(buf))
}

func TestCloseWriteGivesEOFAfterData(t *testing.T) {
	a, b := New(Options{})
	defer a.Close()
	defer b.Close()
	_, err := a.Write([]byte("last words"))
	require.NoError(t, err)
	require.NoError(t, a.CloseWrite())
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	require.Equal(t, "last words", string(got))
	// The half-closed end can still read what the other end writes.
	_, err = b.Write([]byte("reply"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = io.ReadFull(a, buf)
	require.NoError(t, err)
}

func TestWriteAfterPeerClosedFails(t *testing.T) {
	a, b := New(Options{})
	defer a.Close()
	require.NoError(t, b.Close())
	_, err := a.Write([]byte("x"))
	require.Error(t, err)
	_, err = a.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

func TestCloseUnblocksReadWithErrClosed(t *testing.T) {
	a, b := New(Options{})
	defer b.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "Close is idempotent")
	err := <-errc
	require.True(t, errors.Is(err, net.ErrClosed), "got %v", err)
}

func TestLargeTransferIntact(t *testing.T) {
	a, b := New(Options{Buffer: 8 << 10})
	defer a.Close()
	defer b.Close()
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	go func() {
		_, _ = a.Write(data)
		_ = a.CloseWrite()
	}()
	got, err := io.ReadAll(b)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
}
