// Package mem is an in-process transport for tests and simulations.
//
// Addresses are /mem/<n>. Listeners and dialers meet in a Network, so tests
// can run isolated networks side by side; Default is a process-wide one.
// Conns are internal/pipe conns: buffered like sockets, with an optional
// latency per Network, and they pass nettest.TestConn.
package mem

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/internal/pipe"
	"github.com/foxtrotnet/foxtrot/transport"
)

// Options shape a Network. The zero value means no latency and 256 KiB of
// buffering per direction.
type Options struct {
	// Latency is added one way to every byte (default 0).
	Latency time.Duration
	// Buffer is how many bytes one direction of a conn holds before a
	// writer blocks (default 256 KiB).
	Buffer int
}

// Network is a namespace of in-process listeners.
type Network struct {
	opts Options

	mu        sync.Mutex
	listeners map[uint64]*listener
	next      uint64
}

// NewNetwork returns an empty network.
func NewNetwork(o Options) *Network {
	return &Network{opts: o, listeners: make(map[uint64]*listener), next: 1}
}

// Default is the process-wide network used by New.
var Default = NewNetwork(Options{})

// Transport dials and listens in one Network.
type Transport struct{ net *Network }

var _ transport.Transport = (*Transport)(nil)

// New returns a transport on Default.
func New() *Transport { return Default.Transport() }

// Transport returns a transport on n.
func (n *Network) Transport() *Transport { return &Transport{net: n} }

// Addr is the net.Addr of a mem endpoint.
type Addr uint64

// Network returns "mem".
func (Addr) Network() string { return "mem" }

// String returns the multiaddr form, /mem/<n>.
func (a Addr) String() string { return "/mem/" + strconv.FormatUint(uint64(a), 10) }

// Match reports whether addr is /mem/<n>.
func (t *Transport) Match(addr ma.Multiaddr) bool {
	return len(addr) == 1 && addr[0].Code() == transport.P_MEM
}

func parse(addr ma.Multiaddr) (uint64, error) {
	if len(addr) != 1 || addr[0].Code() != transport.P_MEM {
		return 0, fmt.Errorf("mem: not a /mem address: %s", addr)
	}
	return strconv.ParseUint(addr[0].Value(), 10, 64)
}

// ErrRefused is returned when nothing listens on a dialled address, as
// ECONNREFUSED is for TCP.
var ErrRefused = fmt.Errorf("mem: connection refused")

// Dial connects to the listener on addr.
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr) (net.Conn, error) {
	id, err := parse(addr)
	if err != nil {
		return nil, err
	}
	n := t.net
	n.mu.Lock()
	l := n.listeners[id]
	local := Addr(n.next)
	n.next++
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: "mem", Addr: Addr(id), Err: ErrRefused}
	}
	a, b := pipe.New(pipe.Options{Buffer: n.opts.Buffer, Latency: n.opts.Latency, A: local, B: Addr(id)})
	select {
	case l.conns <- b:
		return a, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "mem", Addr: Addr(id), Err: ErrRefused}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "mem", Addr: Addr(id), Err: ctx.Err()}
	}
}

// Listen listens on addr; /mem/0 picks a free number.
func (t *Transport) Listen(addr ma.Multiaddr) (transport.Listener, error) {
	id, err := parse(addr)
	if err != nil {
		return nil, err
	}
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if id == 0 {
		for n.listeners[n.next] != nil {
			n.next++
		}
		id = n.next
		n.next++
	}
	if n.listeners[id] != nil {
		return nil, &net.OpError{Op: "listen", Net: "mem", Addr: Addr(id), Err: fmt.Errorf("mem: address in use")}
	}
	maddr, err := ma.NewMultiaddr(Addr(id).String())
	if err != nil {
		return nil, err
	}
	l := &listener{net: n, id: id, addr: maddr, conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[id] = l
	return l, nil
}

type listener struct {
	net   *Network
	id    uint64
	addr  ma.Multiaddr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "mem", Addr: Addr(l.id), Err: net.ErrClosed}
	}
}

func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		delete(l.net.listeners, l.id)
		l.net.mu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr          { return Addr(l.id) }
func (l *listener) Multiaddr() ma.Multiaddr { return l.addr }
