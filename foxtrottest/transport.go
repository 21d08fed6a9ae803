package foxtrottest

import (
	"context"
	"fmt"
	"net"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/transport"
)

// cuttable wraps node self's transport so that Net.Cut can keep it from
// linking to a peer: a dial to the listen address of a node it is cut
// from fails with ErrCut. Only dials are refused, which is enough: every
// link of a Net is dialled by one of its two ends.
type cuttable struct {
	transport.Transport
	net  *Net
	self int
}

func (c *cuttable) Dial(ctx context.Context, addr ma.Multiaddr) (net.Conn, error) {
	if j := c.net.byListenAddr(addr.String()); j >= 0 && c.net.isCut(c.self, j) {
		return nil, &net.OpError{Op: "dial", Net: "mem", Err: fmt.Errorf("%w: %d to %d", ErrCut, c.self, j)}
	}
	return c.Transport.Dial(ctx, addr)
}

// cuttablePeer is cuttable over a transport that dials keyed by the
// peer's identity (Options.UDP): the same refusal, for DialPeer too.
type cuttablePeer struct {
	cuttable
	pd transport.PeerDialer
}

func (c *cuttablePeer) DialPeer(ctx context.Context, addr ma.Multiaddr, pub *btcec.PublicKey) (net.Conn, error) {
	if j := c.net.byListenAddr(addr.String()); j >= 0 && c.net.isCut(c.self, j) {
		return nil, &net.OpError{Op: "dial", Net: "quic", Err: fmt.Errorf("%w: %d to %d", ErrCut, c.self, j)}
	}
	return c.pd.DialPeer(ctx, addr, pub)
}
