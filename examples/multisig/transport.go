package main

import (
	"context"
	"net"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/examples/multisig/cosign"
)

// listenFunc opens the listener a co-signer serves on, for its wallet key.
type listenFunc func(ctx context.Context, key *btcec.PrivateKey, address string) (net.Listener, error)

// transport is the only place this program touches the network. Everything
// else, the whole cosign package included, sees a net.Listener, a
// cosign.DialFunc and the net.Conns they yield.
//
// For now it is plain loopback TCP, so that the example runs before
// foxtrot's Listen and Dial exist: listen binds the host:port given with
// serve's -listen flag (the key is unused), and the address part of
// propose's -cosigner KEY@ADDRESS flag is the host:port that serve printed.
// Plain TCP carries the messages unencrypted; they are signed, so they
// cannot be altered unnoticed, but an observer sees the PSBTs.
//
// The foxtrot wiring replaces this function and nothing else: listen
// becomes foxtrot's Listen on the co-signer's wallet key (so a co-signer is
// reachable at its key's foxtrot address, wherever it runs, and -listen
// goes away), dial becomes foxtrot's DialContext, and a co-signer's ADDRESS
// is the foxtrot address of its KEY. Foxtrot's end-to-end encryption then
// also hides the proposals from relays.
func transport() (listenFunc, cosign.DialFunc) {
	listen := func(ctx context.Context, _ *btcec.PrivateKey, address string) (net.Listener, error) {
		var lc net.ListenConfig
		return lc.Listen(ctx, "tcp", address)
	}
	var d net.Dialer
	dial := func(ctx context.Context, address string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", address)
	}
	return listen, dial
}
