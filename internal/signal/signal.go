// Package signal is a broadcast wake-up for state guarded by a mutex: a
// waiter takes Wait() under the lock, unlocks, and selects on the channel
// beside its deadline and cancellation; a mutator calls Notify() under the
// lock after changing the state. Unlike sync.Cond it composes with select,
// which is what deadline-aware blocking calls need.
package signal

// Signal is zero-value ready. Use it only under the mutex that guards the
// state it signals about.
type Signal struct{ ch chan struct{} }

// Wait returns a channel closed at the next Notify.
func (s *Signal) Wait() <-chan struct{} {
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every current waiter. It allocates nothing when nobody waits.
func (s *Signal) Notify() {
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
