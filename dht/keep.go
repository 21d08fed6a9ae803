package dht

import (
	"encoding/hex"
	"fmt"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
)

// DialAddrs returns c's multiaddrs with its identity key as their
// /foxtrot suffix (the 66-hex form), ready for peer.Set.Connect: dialled
// so, a link checks it reached c's key, and a UDP link keys its
// datagrams by it.
func (c *Contact) DialAddrs() ([]ma.Multiaddr, error) {
	pub, err := c.PubKey()
	if err != nil {
		return nil, err
	}
	if len(c.Addrs) == 0 {
		return nil, fmt.Errorf("%w: contact has no address", ErrNotFound)
	}
	hexKey := hex.EncodeToString(pub.SerializeCompressed())
	out := make([]ma.Multiaddr, 0, len(c.Addrs))
	var werr error
	for _, a := range c.Addrs {
		base, _ := transport.SplitIdentity(a)
		full, err := transport.WithIdentity(base, hexKey)
		if err != nil {
			werr = err
			continue
		}
		out = append(out, full)
	}
	if len(out) == 0 {
		return nil, werr
	}
	return out, nil
}

// RandomInBucket returns a random ID whose common prefix with self is
// exactly bucket bits long: an ID in the bucket's part of the ID space
// (bucket 0 is the half farthest from self).
func RandomInBucket(self ID, bucket int) ID { return randomInBucket(self, bucket) }

// Made reports whether l is one of the links the DHT made on demand for
// its lookups (and may close, least recently used first), as opposed to a
// link the node made or accepted for other reasons.
func (d *DHT) Made(l *peer.Link) bool {
	lc, ok := d.carrier.(*linkCarrier)
	if !ok {
		return false
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	_, ok = lc.el[l]
	return ok
}

// Release gives up l if the DHT made it: the DHT no longer counts it
// under MaxLinks nor closes it, so the node may keep it (Config.TargetPeers
// in the root). It reports whether l was the DHT's.
func (d *DHT) Release(l *peer.Link) bool {
	lc, ok := d.carrier.(*linkCarrier)
	if !ok {
		return false
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	e, ok := lc.el[l]
	if ok {
		lc.lru.Remove(e)
		delete(lc.el, l)
	}
	return ok
}
