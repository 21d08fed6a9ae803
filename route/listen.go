package route

import (
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/peer"
)

// Listener accepts connections to one key (Listen), or to the keys a
// Matcher recognises (ListenMatcher).
type Listener struct {
	r     *Router
	key   *keyPair // nil for a matcher's listener
	match Matcher  // nil for a key's listener
	addr  [20]byte
	queue chan *Session
	done  chan struct{}

	mu        sync.Mutex
	closed    bool
	pending   int                // backlog slots reserved by connections being set up
	pendingBy map[*peer.Link]int // ... by the peer their request came from
}

// Listen starts accepting connections to key. One node may listen on many
// keys; each key once (ErrAddrInUse).
func (r *Router) Listen(key *btcec.PrivateKey) (*Listener, error) {
	kp := newKeyPair(key)
	h := addr.FromPubKey(kp.pub).Hash160()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.listeners[h] != nil {
		return nil, ErrAddrInUse
	}
	delete(r.gone, h)
	l := newListener(r, kp, nil)
	r.listeners[h] = l
	return l, nil
}

func newListener(r *Router, kp *keyPair, m Matcher) *Listener {
	l := &Listener{r: r, key: kp, match: m, queue: make(chan *Session, r.cfg.AcceptBacklog), done: make(chan struct{})}
	if kp != nil {
		l.addr = addr.FromPubKey(kp.pub).Hash160()
	}
	return l
}

// Addr returns HASH160 of the listened key (zero for a matcher's
// listener).
func (l *Listener) Addr() [20]byte { return l.addr }

// Key returns the listened key (nil for a matcher's listener).
func (l *Listener) Key() *btcec.PrivateKey {
	if l.key == nil {
		return nil
	}
	return l.key.priv
}

func (l *Listener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Accept waits for the next connection whose dialler proved its identity.
// After Close it returns ErrClosed (which wraps net.ErrClosed).
func (l *Listener) Accept() (*Session, error) {
	select {
	case s := <-l.queue:
		return s, nil
	case <-l.done:
		return nil, ErrClosed
	}
}

// Done is closed when the listener is closed.
func (l *Listener) Done() <-chan struct{} { return l.done }

// The backlog counts the connections waiting for Accept and those being
// set up: a target reserves a slot (reserve) before it acks a request,
// and refuses the request when none is left, so a dialler that got an
// ack finds room when its hello arrives. The slot becomes the queued
// connection (enqueue with reserved), or is given back (release) when
// the setup never completes. Reserved slots are fair-shared among the
// peers requests arrive from, as the seen table is (see seen.go): one
// peer's setups that never complete hold at most its share, so requests
// through the others are still answered.

// minBacklogShare is the least number of connections being set up that
// one peer may bring to a listener, however many peers there are
// (bounded by the backlog): a setup lasts about a round trip, so this is
// a burst.
const minBacklogShare = 16

// reserve takes a backlog slot for a connection being set up whose
// request came from via (nil: this node), if one is free, via holds fewer
// than share, and the listener is open.
func (l *Listener) reserve(via *peer.Link, share int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || len(l.queue)+l.pending >= cap(l.queue) {
		return false
	}
	if via != nil {
		if l.pendingBy[via] >= share {
			return false
		}
		if l.pendingBy == nil {
			l.pendingBy = make(map[*peer.Link]int)
		}
		l.pendingBy[via]++
	}
	l.pending++
	return true
}

// release gives back a slot reserve took for via.
func (l *Listener) release(via *peer.Link) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(via)
}

func (l *Listener) releaseLocked(via *peer.Link) {
	l.pending--
	if via != nil {
		if l.pendingBy[via]--; l.pendingBy[via] <= 0 {
			delete(l.pendingBy, via)
		}
	}
}

// enqueue queues s for Accept, in the slot reserved for it (by a request
// from via) if reserved.
func (l *Listener) enqueue(s *Session, reserved bool, via *peer.Link) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if reserved {
		l.releaseLocked(via)
	}
	if l.closed {
		return false
	}
	select {
	case l.queue <- s:
		return true
	default:
		return false
	}
}

// Close stops listening: Accept returns ErrClosed, connections not yet
// accepted are closed, and for a minute the node refuses requests for
// the key with a signed refusal (so diallers fail fast). Idempotent.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	for {
		select {
		case s := <-l.queue:
			s.Close()
			continue
		default:
		}
		break
	}
	r := l.r
	r.mu.Lock()
	delete(r.matchers, l)
	if l.key != nil && r.listeners[l.addr] == l {
		delete(r.listeners, l.addr)
		if !r.closed {
			r.gone[l.addr] = goneKey{key: l.key, expires: r.now().Add(goneKeyTTL)}
		}
	}
	r.mu.Unlock()
	return nil
}
