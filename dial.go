package foxtrot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/route"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// Listen starts accepting connections to key's address. One node may
// listen on many keys, each once. The key is separate from the node's
// identity: a listener can move between nodes with its key. While the
// DHT runs (Config.DHT), the node publishes a blinded listener record
// naming itself for the key, so diallers find it without flooding (see
// ListenWith to opt out); closing the listener stops republishing it.
func (n *Node) Listen(key *btcec.PrivateKey) (net.Listener, error) {
	return n.ListenWith(key, ListenOptions{})
}

// ListenWith is Listen with options: ListenOptions.Unpublished keeps the
// listener out of the DHT.
func (n *Node) ListenWith(key *btcec.PrivateKey, opts ListenOptions) (net.Listener, error) {
	a := AddrFromPubKey(key.PubKey())
	l, err := n.router.Listen(key)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "foxtrot", Addr: a, Err: err}
	}
	n.log.Info("listening", "addr", a.String())
	lst := &Listener{l: l, addr: a}
	if n.dht != nil && !opts.Unpublished {
		lst.unpublish = n.dht.publish(key, func(msg string, args ...any) { n.log.Debug(msg, append(args, "addr", a.String())...) })
	}
	return lst, nil
}

// Dial connects to a foxtrot address (see DialContext).
func (n *Node) Dial(address string) (net.Conn, error) {
	return n.DialContext(context.Background(), "foxtrot", address)
}

// DialContext connects to a foxtrot address. It has the signature of
// net.Dialer.DialContext, so it plugs into http.Transport.DialContext and
// anything else that dials through a function.
//
// network must be "foxtrot", or "tcp", "tcp4" or "tcp6" (what
// http.Transport and many libraries ask for). address is a foxtrot
// address ("1...", or 66 hex characters of a compressed public key) or a
// stealth address ("sp1..." or "tsp1...", see ListenStealth),
// optionally followed by ":port" as http.Transport appends one. The port is
// accepted and ignored: a foxtrot listener is per key, so a key is a whole
// host-and-port.
//
// The result is a *Conn. Failures are *net.OpError with Op "dial" and Net
// "foxtrot", wrapping a cause errors.Is can test: ErrBadAddr (malformed
// address), route.ErrNoRoute (no peer to ask), route.ErrRefused (the
// target refused, or no longer listens), context.DeadlineExceeded (no
// answer in time: also what an address nobody listens on gives) or
// context.Canceled. A context without a deadline gets Config.DialTimeout.
func (n *Node) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "foxtrot", Source: n.id, Err: err}
	}
	switch network {
	case "foxtrot", "tcp", "tcp4", "tcp6":
	default:
		return nil, opErr(net.UnknownNetworkError(network))
	}
	a, sa, err := parseDialTarget(address)
	if err != nil {
		return nil, opErr(err)
	}
	ctx, cancel := n.dialContext(ctx)
	defer cancel()
	s, err := n.dialWhenLinked(ctx, func(ctx context.Context) (*route.Session, error) {
		if sa.Scan != nil {
			return n.dialStealth(ctx, sa)
		}
		return n.router.DialWithin(ctx, nil, a.Hash160(), n.learnRoute(ctx, a))
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = timeoutError{err}
		}
		e := opErr(err).(*net.OpError)
		e.Addr = a
		if sa.Scan != nil {
			e.Addr = sa
		}
		return nil, e
	}
	n.nat.afterDial(s)
	return newConn(s), nil
}

// timeoutError marks a dial that ran out of time, so net.OpError's
// Timeout (which looks at its Err directly, not through wrapping) says so.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() error   { return e.err }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// parseDialAddr parses "address" or "address:port", the address in any
// form addr.Parse reads.
func parseDialAddr(address string) (Addr, error) {
	a, _, err := parseDialTarget(address)
	return a, err
}

// parseDialTarget is parseDialAddr that also reads a stealth address
// ("sp1..."/"tsp1..."), returned as the second value (the first is then
// zero).
func parseDialTarget(address string) (Addr, stealth.Address, error) {
	host := address
	if i := strings.LastIndexByte(address, ':'); i >= 0 {
		host = address[:i]
		if _, err := strconv.ParseUint(address[i+1:], 10, 16); err != nil {
			return Addr{}, stealth.Address{}, fmt.Errorf("%w %q: bad port", ErrBadAddr, address)
		}
	}
	if addr.IsStealth(host) {
		sa, err := stealth.ParseAddress(host)
		if err != nil {
			return Addr{}, stealth.Address{}, fmt.Errorf("%w %q: %w", ErrBadAddr, host, err)
		}
		return Addr{}, sa, nil
	}
	a, err := addr.Parse(host)
	return a, stealth.Address{}, err
}
