package session

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/stretchr/testify/require"
)

// Loop-level tests: whole sessions over in-memory pipes inside a
// synctest bubble, so every timeout (stall, failover, linger) passes in
// fake time, at once, and a deadlock fails the test instead of hanging it.

var testMaster = [32]byte{42}

func loopConfig(dialer bool, mod func(*Config)) Config {
	c := Config{ID: addr.ConnID{1}, Dialer: dialer, Master: testMaster, Hello: make([]byte, 33+64+1),
		SendBuffer: 2 << 20, RecvBuffer: 1 << 20, Heartbeat: time.Second,
		StallTimeout: 4 * time.Second, FailoverTimeout: 20 * time.Second, Linger: 10 * time.Second,
		Stats: new(Counters)}
	if mod != nil {
		mod(&c)
	}
	return c
}

// accept plays the target's connection setup on a new stream: a hello
// starts target (made on first use), a resume moves it.
type target struct {
	mu  sync.Mutex
	s   *Session
	cfg Config
	got chan *Session // the session, once it started
}

func newTarget(mod func(*Config)) *target {
	return &target{cfg: loopConfig(false, mod), got: make(chan *Session, 1)}
}

func (tg *target) accept(t *testing.T, st io.ReadWriteCloser, num uint32) {
	p := NewPath(st, PathInfo{ID: addr.ConnID{1}, Num: num}, testMaster, false)
	first, err := p.ReadFirst(time.Second)
	if err != nil {
		p.Close()
		return
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if first.Hello != nil {
		tg.s = New(tg.cfg)
		tg.s.Start(p)
		tg.got <- tg.s
		return
	}
	if err := tg.s.Adopt(p, first.Resume); err != nil {
		t.Errorf("adopt: %v", err)
		p.Close()
	}
}

// pipeFinder gives the dialler a fresh pipe to the target each time.
type pipeFinder struct {
	t    *testing.T
	tg   *target
	mu   sync.Mutex
	num  uint32
	fail error // when set, every request fails with it
	done []bool
}

func (f *pipeFinder) NewPath(ctx context.Context) (*Path, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.num++
	a, b := net.Pipe()
	go f.tg.accept(f.t, b, f.num)
	return NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: f.num}, testMaster, true), nil
}

func (f *pipeFinder) PathDone(p *Path, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = append(f.done, ok)
}

// dial starts a dialler on a pipe to tg; it returns the dialler and the
// dialler's end of the pipe.
func dialPipe(t *testing.T, tg *target, f Finder, mod func(*Config)) (*Session, net.Conn) {
	cfg := loopConfig(true, mod)
	cfg.Finder = f
	d := New(cfg)
	a, b := net.Pipe()
	go tg.accept(t, b, 1)
	d.Start(NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: 1}, testMaster, true))
	return d, a
}

func echoAll(s *Session) {
	io.Copy(s, s)
	s.Close()
}

// exchange writes data while reading the echo, and returns what came
// back.
func exchange(t *testing.T, s *Session, data []byte, mid func()) []byte {
	werr := make(chan error, 1)
	go func() {
		_, err := s.Write(data)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	got := make([]byte, 0, len(data))
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		got = append(got, buf[:n]...)
		if mid != nil && len(got) >= len(data)/4 {
			mid()
			mid = nil
		}
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
	}
	require.NoError(t, <-werr)
	return got
}

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>13)
	}
	return b
}

func TestAFullDuplexEchoWithSmallBuffersNeverDeadlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		small := func(c *Config) { c.SendBuffer, c.RecvBuffer = 48<<10, 32<<10 }
		tg := newTarget(small)
		d, _ := dialPipe(t, tg, nil, small)
		go echoAll(<-tg.got)
		data := testData(6 << 20)
		got := exchange(t, d, data, nil)
		require.Equal(t, sha256.Sum256(data), sha256.Sum256(got))
		d.Close()
		<-d.Done()
		require.NoError(t, d.Err())
		d.Wait()
	})
}

func TestALostPathIsReplacedAndNothingIsLostOrRepeated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		f := &pipeFinder{t: t, tg: tg, num: 1}
		d, first := dialPipe(t, tg, f, nil)
		go echoAll(<-tg.got)
		data := testData(8 << 20)
		start := time.Now()
		got := exchange(t, d, data, func() { first.Close() })
		require.True(t, bytes.Equal(data, got), "the echo came back whole and in order")
		require.EqualValues(t, 1, d.cfg.Stats.Failovers.Load())
		require.Less(t, time.Since(start), time.Second, "a broken stream fails over at once, no stall timeout")
		d.Close()
		<-d.Done()
		d.Wait()
		f.mu.Lock()
		require.Equal(t, []bool{false, true}, f.done, "the first path broke, the second ended well")
		f.mu.Unlock()
	})
}

// silent is a stream that swallows writes and never delivers a byte.
type silent struct {
	once   sync.Once
	closed chan struct{}
}

func newSilent() *silent { return &silent{closed: make(chan struct{})} }

func (s *silent) Read([]byte) (int, error)    { <-s.closed; return 0, io.EOF }
func (s *silent) Write(b []byte) (int, error) { return len(b), nil }
func (s *silent) Close() error                { s.once.Do(func() { close(s.closed) }); return nil }

func TestASilentPathStallsAndAFailoverWithNoPathEndsInPathBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &pipeFinder{t: t, fail: errors.New("no route")}
		cfg := loopConfig(true, nil)
		cfg.Finder = f
		d := New(cfg)
		start := time.Now()
		d.Start(NewPath(newSilent(), PathInfo{ID: addr.ConnID{1}, Num: 1}, testMaster, true))
		<-d.Done()
		took := time.Since(start)
		require.ErrorIs(t, d.Err(), ErrPathBroken)
		require.ErrorIs(t, d.Err(), ErrStalled, "the first loss was the stall")
		require.Equal(t, cfg.StallTimeout+cfg.FailoverTimeout, took, "stall, then the whole failover timeout")
		_, err := d.Write([]byte("x"))
		require.ErrorIs(t, err, ErrPathBroken)
		d.Wait()
	})
}

func TestCloseLingersThenDropsWhatNobodyAcknowledged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := New(loopConfig(true, func(c *Config) { c.Linger = time.Second }))
		d.Start(NewPath(newSilent(), PathInfo{ID: addr.ConnID{1}, Num: 1}, testMaster, true))
		_, err := d.Write([]byte("never acknowledged"))
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, d.Close())
		require.NoError(t, d.Close(), "idempotent")
		_, err = d.Read(make([]byte, 1))
		require.ErrorIs(t, err, ErrClosed, "reads end at once")
		<-d.Done()
		require.Equal(t, time.Second, time.Since(start))
		require.ErrorIs(t, d.Err(), ErrClosed)
		d.Wait()
	})
}

func TestAForgedResumeIsRefusedAndThePathStays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		d, _ := dialPipe(t, tg, nil, nil)
		g := <-tg.got
		go echoAll(g)
		a, b := net.Pipe()
		defer a.Close()
		p := NewPath(b, PathInfo{ID: addr.ConnID{1}, Num: 2}, testMaster, false)
		go NewPath(a, PathInfo{ID: addr.ConnID{1}, Num: 2}, testMaster, true).SendResume(&Resume{ID: addr.ConnID{1}})
		first, err := p.ReadFirst(time.Second)
		require.NoError(t, err)
		require.ErrorIs(t, g.Adopt(p, first.Resume), ErrProtocol, "a guessed proof")
		got := exchange(t, d, []byte("still mine"), nil)
		require.Equal(t, "still mine", string(got))
		d.Close()
		<-d.Done()
		d.Wait()
	})
}

// A ticket the target sends reaches the dialler's OnTicket, between data
// records; at the dialler SendTicket does nothing.
func TestATicketRecordReachesTheDiallerOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		got := make(chan []byte, 1)
		d, _ := dialPipe(t, tg, nil, func(c *Config) { c.OnTicket = func(b []byte) { got <- b } })
		s := <-tg.got
		go echoAll(s)
		data := testData(256 << 10)
		s.SendTicket([]byte("a ticket"))
		require.Equal(t, data, exchange(t, d, data, nil))
		require.Equal(t, []byte("a ticket"), <-got)
		d.SendTicket([]byte("ignored: the dialler sends none"))
		d.Close()
		d.Wait()
		s.Wait()
		require.NoError(t, d.Err())
	})
}

// A dialler with Rekey moves its first path onto keys from an ephemeral
// ECDH right after its hello; both ends derive the same secret, data
// crosses the switch intact, the target's ticket for the next dial goes
// out under the new keys, and a failover afterwards is proved with the
// new secret, which the target then requires.
func TestARekeyedSessionCarriesDataAndResumesWithTheNewSecret(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		atTarget, atDialler := make(chan [32]byte, 1), make(chan [32]byte, 1)
		tg := newTarget(func(c *Config) {
			c.OnRekey = func(m [32]byte) []byte { atTarget <- m; return []byte("ticket from the new secret") }
		})
		f := &pipeFinder{t: t, tg: tg, num: 1}
		tickets := make(chan []byte, 1)
		d, first := dialPipe(t, tg, f, func(c *Config) {
			c.Rekey = newRekeyKey(t)
			c.OnRekey = func(m [32]byte) []byte { atDialler <- m; return nil }
			c.OnTicket = func(b []byte) { tickets <- b }
		})
		go echoAll(<-tg.got)
		data := testData(4 << 20)
		got := exchange(t, d, data, func() {
			m := <-atDialler
			require.Equal(t, <-atTarget, m, "both ends derived the same secret")
			require.NotEqual(t, testMaster, m)
			require.Equal(t, []byte("ticket from the new secret"), <-tickets)
			synctest.Wait() // the marker has reached the target
			require.Equal(t, [][32]byte{m}, tg.s.resumeMasters(), "only the new secret resumes now")
			first.Close()
		})
		require.True(t, bytes.Equal(data, got), "the echo came back whole and in order")
		require.EqualValues(t, 1, d.cfg.Stats.Failovers.Load())
		d.Close()
		<-d.Done()
		require.NoError(t, d.Err())
		d.Wait()
	})
}

// A session that was not told to accept a rekey ends at an offer: the
// rekey records are only for connections set up to rekey.
func TestARekeyOfferToATargetNotExpectingOneEndsTheSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tg := newTarget(nil)
		d, _ := dialPipe(t, tg, nil, func(c *Config) { c.Rekey = newRekeyKey(t) })
		s := <-tg.got
		<-s.Done()
		require.ErrorIs(t, s.Err(), ErrProtocol)
		d.Abort(nil)
		d.Wait()
		s.Wait()
	})
}

func newRekeyKey(t *testing.T) *RekeyKey {
	k, err := NewRekeyKey()
	require.NoError(t, err)
	return k
}
