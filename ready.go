package foxtrot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/route"
)

// WaitReady blocks until the node has at least one live peer link (one
// the router can send connect requests over), and returns nil then. It
// returns an error wrapping ErrNotReady and ctx's error if ctx ends
// first, or one wrapping net.ErrClosed if the node is closed. It waits on
// the event of a link coming up, so it returns as soon as one does.
//
// Dial does not need it: a dial made before any link is up waits for one
// within its own timeout. It is for programs that want to know the node is
// connected before they go on (a service that should not announce itself
// before it is reachable, say).
func (n *Node) WaitReady(ctx context.Context) error {
	err := n.peers.WaitLink(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, peer.ErrLinkClosed):
		return fmt.Errorf("%w: %w", route.ErrClosed, err)
	default:
		return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

// UnlinkedPeer is an entry of Config.Peers (or a multiaddr kept linked)
// that has no link now: still being dialled for the first time, or
// unreachable.
type UnlinkedPeer struct {
	Multiaddr string    // as configured
	Attempts  int       // failed dials since it was last linked (0: the first is under way)
	LastError string    // why the last dial failed ("" before the first failure)
	Since     time.Time // when the node started, or when its link last went down
}

// unlinked converts the peer set's report.
func (n *Node) unlinked() []UnlinkedPeer {
	us := n.peers.Unlinked()
	if len(us) == 0 {
		return nil
	}
	out := make([]UnlinkedPeer, len(us))
	for i, u := range us {
		out[i] = UnlinkedPeer{Multiaddr: u.Multiaddr, Attempts: u.Attempts, Since: u.Since}
		if u.LastError != nil {
			out[i].LastError = u.LastError.Error()
		}
	}
	return out
}

// dialWhenLinked runs dial, and if it found no peer to ask while the node
// is still linking (Config.Peers not linked yet, or a Connect under way),
// waits for a link and dials again, until ctx ends. A node that expects no
// link fails at once with route.ErrNoRoute, as before.
func (n *Node) dialWhenLinked(ctx context.Context, dial func(context.Context) (*route.Session, error)) (*route.Session, error) {
	for {
		s, err := dial(ctx)
		if err == nil || !errors.Is(err, route.ErrNoRoute) || !n.peers.Expecting() || len(n.peers.Links()) > 0 {
			return s, err // (with links up, no peer took the request: waiting would spin)
		}
		n.log.Debug("dial waits for a peer link", "err", err)
		if werr := n.peers.WaitLink(ctx); werr != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: no peer linked in time (%w)", err, ctx.Err())
			}
			return nil, err
		}
	}
}

// dialContext gives ctx the node's DialTimeout if it has no deadline, so
// that waiting for a link and the dial itself share one timeout.
func (n *Node) dialContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, n.dialTimeout)
}
