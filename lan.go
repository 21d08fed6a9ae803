package foxtrot

import (
	"context"
	"encoding/hex"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/lan"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// Bounds of LAN discovery: how many links it keeps up at most, how many
// beacons wait to be followed, and how long one link attempt may take.
const (
	lanMaxLinks  = 16
	lanQueue     = 16
	lanDialLimit = 10 * time.Second
)

// lanPart is LAN discovery (Config.LANDiscovery): the node's beacons on
// the local segment (package internal/lan), and one goroutine that links
// to the nodes heard, at most lanMaxLinks at a time.
type lanPart struct {
	peers  *peer.Set
	b      *lan.Beaconer
	queue  chan lanFound
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	links map[*peer.Link]struct{} // links it made, still up
}

type lanFound struct {
	id    addr.NodeID
	addrs []ma.Multiaddr
}

// startLAN starts LAN discovery for node n. group overrides the multicast
// group (tests); nil means lan.DefaultGroup.
func startLAN(n *Node, networkKey []byte, group *net.UDPAddr) (*lanPart, error) {
	p := &lanPart{peers: n.peers, queue: make(chan lanFound, lanQueue), links: make(map[*peer.Link]struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	cfg := lan.Config{Key: n.key.PubKey(), Addrs: p.announce, NetworkKey: networkKey, Found: p.found, Logger: n.log}
	if group != nil {
		cfg.Group = group
	}
	b, err := lan.Start(cfg)
	if err != nil {
		p.cancel()
		return nil, err
	}
	p.b = b
	p.wg.Add(1)
	go p.linker()
	return p, nil
}

// announce returns the node's IP listen addresses, without identity (the
// hearer adds the key the beacon carries).
func (p *lanPart) announce() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range p.peers.ListenAddrs() {
		base, _ := transport.SplitIdentity(a)
		if len(base) > 0 && (base[0].Code() == ma.P_IP4 || base[0].Code() == ma.P_IP6) {
			out = append(out, base)
		}
	}
	return out
}

// found queues a heard node to link to, unless it is linked already or
// the queue is full (it beacons again).
func (p *lanPart) found(b lan.Beacon, from net.Addr) {
	id := addr.NodeIDFromPubKey(b.Key)
	if p.peers.Link(id) != nil {
		return
	}
	src, _ := from.(*net.UDPAddr)
	key := hex.EncodeToString(b.Key.SerializeCompressed())
	var addrs []ma.Multiaddr
	for _, a := range b.Addrs {
		if len(a) == 0 || (a[0].Code() != ma.P_IP4 && a[0].Code() != ma.P_IP6) {
			continue
		}
		if ip := net.ParseIP(a[0].Value()); ip != nil && ip.IsUnspecified() {
			// Listening on every interface: the beacon's source is one.
			if src == nil {
				continue
			}
			proto := "ip6"
			if src.IP.To4() != nil {
				proto = "ip4"
			}
			c, err := ma.NewComponent(proto, src.IP.String())
			if err != nil {
				continue
			}
			a = append(ma.Multiaddr{*c}, a[1:]...)
		}
		full, err := transport.WithIdentity(a, key)
		if err != nil {
			continue
		}
		addrs = append(addrs, full)
	}
	if len(addrs) == 0 {
		return
	}
	select {
	case p.queue <- lanFound{id, addrs}:
	default:
	}
}

// linker links to queued nodes one at a time, while fewer than
// lanMaxLinks of its links are up.
func (p *lanPart) linker() {
	defer p.wg.Done()
	for {
		var f lanFound
		select {
		case <-p.ctx.Done():
			return
		case f = <-p.queue:
		}
		if p.peers.Link(f.id) != nil || p.count() >= lanMaxLinks {
			continue
		}
		for _, a := range f.addrs {
			ctx, cancel := context.WithTimeout(p.ctx, lanDialLimit)
			l, err := p.peers.Connect(ctx, a)
			cancel()
			if err == nil {
				p.mu.Lock()
				p.links[l] = struct{}{}
				p.mu.Unlock()
				break
			}
		}
	}
}

// count returns how many links LAN discovery made are up, forgetting the
// others.
func (p *lanPart) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		select {
		case <-l.Done():
			delete(p.links, l)
		default:
		}
	}
	return len(p.links)
}

// close stops the beacons and the linker. Idempotent.
func (p *lanPart) close() error {
	p.cancel()
	err := p.b.Close()
	p.wg.Wait()
	return err
}
