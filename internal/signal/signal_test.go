package signal

import (
	"sync"
	"testing"
	"time"
)

func TestNotifyWakesEveryWaiter(t *testing.T) {
	var mu sync.Mutex
	var s Signal
	var wg sync.WaitGroup
	for i := 0; i < 5; i++ {
		mu.Lock()
		c := s.Wait()
		mu.Unlock()
		wg.Add(1)
		go func() { defer wg.Done(); <-c }()
	}
	mu.Lock()
	s.Notify()
	s.Notify() // a second Notify with nobody waiting is harmless
	mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("waiters not woken")
	}
}

func TestWaitAfterNotifyBlocksUntilTheNext(t *testing.T) {
	var s Signal
	s.Notify()
	select {
	case <-s.Wait():
		t.Fatal("woken by an earlier Notify")
	default:
	}
}
