package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// The go-libp2p setup, kept fair and stated in README.md: TCP only with
// reuseport off (each dial its own socket, as ours), Noise, yamux,
// secp256k1 identities (ours are too), no resource manager, no connection
// manager, no metrics. Everything else is go-libp2p's default, including
// its yamux configuration (16 MiB maximum stream window) and identify.
const (
	sinkProto protocol.ID = "/foxtrot-bench/sink/1.0.0"
	echoProto protocol.ID = "/foxtrot-bench/echo/1.0.0"
)

func newLibp2pHost(listen bool) (host.Host, error) {
	sk, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	opts := []libp2p.Option{
		libp2p.Identity(sk),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.ConnectionManager(&connmgr.NullConnMgr{}),
		libp2p.DisableMetrics(),
		libp2p.EnableRelay(), // the circuit v2 client transport (the default, said out loud)
	}
	if listen {
		opts = append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	} else {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, err
	}
	h.SetStreamHandler(sinkProto, func(s network.Stream) { sinkServe(s) })
	h.SetStreamHandler(echoProto, func(s network.Stream) { echoServe(s) })
	return h, nil
}

func addrInfo(h host.Host) peer.AddrInfo { return peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()} }

// startRelayService makes h a circuit v2 relay that carries bulk data: the
// defaults cap each circuit at 128 KiB and 2 minutes, with 2 KiB copy
// buffers and 16 circuits per peer. Here the limit is gone (no data or
// duration cap, so circuits are not "limited"), the copy buffer is 64 KiB
// like foxtrot's splice, and the reservation and circuit counts are far
// above what the benchmark opens.
func startRelayService(h host.Host) (*relay.Relay, error) {
	rc := relay.DefaultResources()
	rc.Limit = nil
	rc.BufferSize = 64 << 10
	rc.MaxCircuits = 1 << 20
	rc.MaxReservations = 1 << 20
	rc.MaxReservationsPerIP = 1 << 20
	rc.MaxReservationsPerASN = 1 << 20
	return relay.New(h, relay.WithResources(rc), relay.WithInfiniteLimits())
}

// circuitAddr is dest's address through relay r.
func circuitAddr(r host.Host, dest peer.ID) ma.Multiaddr {
	return r.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit/p2p/" + dest.String()))
}

// checkCircuit fails unless c runs through a relay, unlimited.
func checkCircuit(c network.Conn) error {
	if c == nil {
		return fmt.Errorf("no connection")
	}
	if !strings.Contains(c.RemoteMultiaddr().String(), "/p2p-circuit") {
		return fmt.Errorf("connection to %s is not a circuit: %s", c.RemotePeer(), c.RemoteMultiaddr())
	}
	if c.Stat().Limited {
		return fmt.Errorf("circuit is limited: the relay's limits are still on")
	}
	return nil
}

// libp2pNet is every go-libp2p host of the timed rows.
type libp2pNet struct {
	a, b   host.Host // a dials b directly (throughput, new stream)
	c, d   host.Host // c dials d anew for each setup sample
	r      host.Host // the relay
	t      host.Host // the target behind the relay: no listen address at all
	ar     host.Host // a: throughput over a circuit to t
	e      host.Host // dials t through r anew for each setup sample
	relay  *relay.Relay
	circ   network.Conn // ar's circuit to t
	closed []host.Host
}

func startLibp2p(ctx context.Context) (*libp2pNet, error) {
	n := &libp2pNet{}
	mk := func(listen bool) host.Host {
		h, err := newLibp2pHost(listen)
		if err != nil {
			panic(err)
		}
		n.closed = append(n.closed, h)
		return h
	}
	var err error
	n.a, n.b, n.c, n.d = mk(false), mk(true), mk(false), mk(true)
	n.r, n.t, n.ar, n.e = mk(true), mk(false), mk(false), mk(false)
	if n.relay, err = startRelayService(n.r); err != nil {
		return nil, err
	}
	// Existing connections: a-b, and everyone in the relay rows to r.
	if err := n.a.Connect(ctx, addrInfo(n.b)); err != nil {
		return nil, err
	}
	for _, h := range []host.Host{n.t, n.ar, n.e} {
		if err := h.Connect(ctx, addrInfo(n.r)); err != nil {
			return nil, err
		}
	}
	if _, err := relayclient.Reserve(ctx, n.t, addrInfo(n.r)); err != nil {
		return nil, fmt.Errorf("reservation: %w", err)
	}
	// c knows d's address; ar and e know t only through the relay.
	n.c.Peerstore().AddAddrs(n.d.ID(), n.d.Addrs(), peerstore.PermanentAddrTTL)
	circ := circuitAddr(n.r, n.t.ID())
	for _, h := range []host.Host{n.ar, n.e} {
		h.Peerstore().AddAddrs(n.t.ID(), []ma.Multiaddr{circ}, peerstore.PermanentAddrTTL)
	}
	if n.circ, err = n.ar.Network().DialPeer(ctx, n.t.ID()); err != nil {
		return nil, fmt.Errorf("circuit: %w", err)
	}
	if err := checkCircuit(n.circ); err != nil {
		return nil, err
	}
	// Let identify finish on every connection, so that no row pays for
	// another's background work.
	time.Sleep(200 * time.Millisecond)
	return n, nil
}

func (n *libp2pNet) Close() {
	if n.relay != nil {
		n.relay.Close()
	}
	for _, h := range n.closed {
		h.Close()
	}
}

// waitDisconnected waits until neither a nor b has a connection to the other.
func waitDisconnected(a, b host.Host) error {
	deadline := time.Now().Add(10 * time.Second)
	for a.Network().Connectedness(b.ID()) != network.NotConnected ||
		b.Network().Connectedness(a.ID()) != network.NotConnected {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s and %s still connected", a.ID(), b.ID())
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}
