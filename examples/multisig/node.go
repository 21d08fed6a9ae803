package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/examples/multisig/cosign"
)

// This file is the program's side of foxtrot: the node each command runs,
// configured from -listen and -peer, and the co-signers' addresses, which
// come from the wallet. Everything else, the whole cosign package
// included, sees a net.Listener, a cosign.DialFunc and the net.Conns they
// yield.

// multiaddrs collects a repeatable multiaddr flag. foxtrot.NewNode checks
// the values.
type multiaddrs []string

func (m *multiaddrs) String() string { return strings.Join(*m, " ") }

func (m *multiaddrs) Set(s string) error {
	*m = append(*m, s)
	return nil
}

// linkWait bounds how long serve waits for its -peer links before it
// starts answering; the node keeps redialling them afterwards.
const linkWait = 10 * time.Second

// cosigners returns every member of w but self, each at the foxtrot
// address of its wallet key: that is where its co-signer listens.
func cosigners(w *cosign.Wallet, self *btcec.PublicKey) []cosign.Peer {
	var peers []cosign.Peer
	for _, k := range w.Keys() {
		if !k.IsEqual(self) {
			peers = append(peers, cosign.Peer{Key: k, Address: foxtrot.AddrFromPubKey(k).String()})
		}
	}
	return peers
}

// waitForLinks waits until node has at least want peer links, or for at
// most linkWait, and reports whom it is linked to.
func waitForLinks(ctx context.Context, node *foxtrot.Node, want int, out io.Writer) error {
	wait := time.NewTimer(linkWait)
	defer wait.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for len(node.Peers()) < want {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-wait.C:
			fmt.Fprintf(out, "linked to %d of %d peers so far; retrying the others in the background\n",
				len(node.Peers()), want)
			return nil
		}
	}
	for _, p := range node.Peers() {
		fmt.Fprintf(out, "linked to node %s\n", p)
	}
	return nil
}

// linkPeers links node to every peer at once, for at most timeout, and
// reports each. It fails only if none links.
func linkPeers(ctx context.Context, node *foxtrot.Node, peers []string, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	linked, err := node.ConnectAll(ctx, peers)
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			fmt.Fprintf(out, "cannot link to %v\n", e) // "multiaddr: cause"
		}
	}
	for _, p := range node.Peers() {
		fmt.Fprintf(out, "linked to node %s\n", p)
	}
	if linked == 0 {
		return fmt.Errorf("linked to none of the %d peer(s)", len(peers))
	}
	return nil
}

// dialer returns the proposer's dial function: foxtrot's DialContext from
// node, reporting the path of each connection on out.
func dialer(node *foxtrot.Node, out io.Writer) cosign.DialFunc {
	return func(ctx context.Context, address string) (net.Conn, error) {
		c, err := node.DialContext(ctx, "foxtrot", address)
		if err != nil {
			return nil, err
		}
		path := c.(*foxtrot.Conn).Path()
		switch len(path) {
		case 0:
			fmt.Fprintf(out, "  %s reached directly\n", address)
		default:
			relays := make([]string, len(path))
			for i, a := range path {
				relays[i] = a.String()
			}
			fmt.Fprintf(out, "  %s reached through %d relay(s): node %s\n", address, len(path), strings.Join(relays, ", node "))
		}
		return c, nil
	}
}
