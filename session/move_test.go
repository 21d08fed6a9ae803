package session

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Move, mid-transfer: the session leaves a working path for another, and
// the echo comes back whole and in order; the old path counts as ended
// well.
func TestMoveMidTransferLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		f := &pipeFinder{t: t, tg: tg, num: 1}
		d, _ := dialPipe(t, tg, f, nil)
		go echoAll(<-tg.got)
		data := testData(8 << 20)
		moved := make(chan error, 1)
		got := exchange(t, d, data, func() {
			a, b := net.Pipe()
			go tg.accept(t, b, 7)
			moved <- d.Move(NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: 7}, testMaster, true))
		})
		require.NoError(t, <-moved)
		require.True(t, bytes.Equal(data, got), "the echo came back whole and in order")
		require.EqualValues(t, 7, d.PathInfo().Num)
		d.Close()
		<-d.Done()
		d.Wait()
		f.mu.Lock()
		require.Equal(t, []bool{true, true}, f.done, "both paths ended well")
		f.mu.Unlock()
	})
}

func TestMoveIsRefusedAtTheTargetAndForAUsedPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		d, _ := dialPipe(t, tg, nil, nil)
		ts := <-tg.got
		a, b := net.Pipe()
		defer b.Close()
		err := ts.Move(NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: 9}, testMaster, false))
		require.True(t, errors.Is(err, ErrMoveRefused), "%v", err)
		a, b = net.Pipe()
		defer b.Close()
		err = d.Move(NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: 1}, testMaster, true))
		require.True(t, errors.Is(err, ErrMoveRefused), "%v", err)
		d.Close()
		ts.Close()
		<-d.Done()
		<-ts.Done()
		d.Wait()
		ts.Wait()
		require.False(t, d.Dialer() == ts.Dialer())
	})
}
