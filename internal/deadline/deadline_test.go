package deadline

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestZeroDeadlineNeverFires(t *testing.T) {
	var d Deadline
	require.False(t, d.Exceeded())
	select {
	case <-d.Wait():
		t.Fatal("zero deadline fired")
	case <-time.After(20 * time.Millisecond):
	}
}

func TestPastDeadlineFiresAtOnce(t *testing.T) {
	var d Deadline
	d.Set(time.Now().Add(-time.Second))
	require.True(t, d.Exceeded())
	<-d.Wait()
}

func TestFutureDeadlineWakesWaiter(t *testing.T) {
	var d Deadline
	d.Set(time.Now().Add(30 * time.Millisecond))
	c := d.Wait()
	require.False(t, d.Exceeded())
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		t.Fatal("deadline did not fire")
	}
	require.True(t, d.Exceeded())
}

func TestRearmingAfterExpiry(t *testing.T) {
	var d Deadline
	d.Set(time.Unix(1, 0))
	require.True(t, d.Exceeded())
	d.Set(time.Now().Add(time.Hour))
	require.False(t, d.Exceeded())
	d.Set(time.Time{})
	require.False(t, d.Exceeded())
	require.True(t, d.Time().IsZero())
}

func TestExtendingDeadlineBeforeItFires(t *testing.T) {
	var d Deadline
	d.Set(time.Now().Add(10 * time.Millisecond))
	d.Set(time.Now().Add(time.Hour))
	time.Sleep(30 * time.Millisecond)
	require.False(t, d.Exceeded())
}

func TestErrExceededIsATimeout(t *testing.T) {
	var ne net.Error
	require.True(t, errors.As(ErrExceeded, &ne))
	require.True(t, ne.Timeout())
	require.ErrorIs(t, ErrExceeded, os.ErrDeadlineExceeded)
}

func TestConcurrentSetAndWait(t *testing.T) {
	var d Deadline
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			d.Set(time.Now().Add(time.Duration(i%3) * time.Microsecond))
		}
	}()
	for i := 0; i < 1000; i++ {
		select {
		case <-d.Wait():
		default:
		}
		d.Exceeded()
	}
	<-done
}
