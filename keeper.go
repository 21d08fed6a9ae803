package foxtrot

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/foxtrotnet/foxtrot/dht"
	"github.com/foxtrotnet/foxtrot/peer"
)

// defaultTargetPeers is Config.TargetPeers' default.
const defaultTargetPeers = 8

// Timing of the keeper: how often it checks without being woken, how long
// it waits for one link, and how long a contact it failed to link to (or
// whose kept link went down) rests before it is tried again.
const (
	keepInterval  = 30 * time.Second
	keepDialLimit = 10 * time.Second
	keepCooldown  = 2 * time.Minute
)

// keeper keeps the node's links at Config.TargetPeers while the DHT runs:
// when fewer links are up than that (the DHT's own on-demand links, which
// it closes as it likes, do not count), it links to contacts of the DHT's
// table, one per bucket, the farthest buckets first, so the kept links
// are spread across the ID space; a kept link that goes down wakes it to
// replace it. When the table has too few contacts it asks its peers for
// more: a FIND_NODE lookup of a random ID in a bucket no link covers is
// the peer exchange (each peer on the way answers with the nodes it knows
// there, and the table learns them).
//
// One goroutine (run) decides and links, one at a time; each kept link
// has a watcher that wakes run when the link ends. Both stop with ctx.
type keeper struct {
	target int
	set    *peer.Set
	d      *dht.DHT
	now    func() time.Time

	wake chan struct{} // buffered 1: "look again"

	mu   sync.Mutex
	kept map[*peer.Link]dht.ID
	rest map[dht.ID]time.Time // contacts not to try before then

	exchanges atomic.Int64
}

func newKeeper(target int, set *peer.Set, d *dht.DHT) *keeper {
	return &keeper{target: target, set: set, d: d, now: time.Now, wake: make(chan struct{}, 1),
		kept: make(map[*peer.Link]dht.ID), rest: make(map[dht.ID]time.Time)}
}

// run keeps links until ctx ends; wg tracks it and its watchers.
func (k *keeper) run(ctx context.Context, wg *sync.WaitGroup) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-k.wake:
		case <-t.C:
		}
		k.fill(ctx, wg)
		t.Reset(keepInterval)
	}
}

// poke asks run to look again, without blocking.
func (k *keeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// counted returns the links that count toward the target: every link up
// except those the DHT made for its lookups (a contact linked so is still
// a candidate: the keeper takes its link over, with no new handshake). A
// link another node made for its own lookups counts, though that node
// may close it; the periodic check then tops up.
func (k *keeper) counted() []*peer.Link {
	links := k.set.Links()
	return slices.DeleteFunc(links, k.d.Made)
}

// fill links to chosen contacts until the target is met or no candidate
// is left; with too few candidates it runs one peer exchange first.
func (k *keeper) fill(ctx context.Context, wg *sync.WaitGroup) {
	self := k.d.ID()
	for exchanged := false; ctx.Err() == nil; {
		have := k.counted()
		need := k.target - len(have)
		if need <= 0 {
			return
		}
		linked := make(map[dht.ID]bool, len(have))
		for _, l := range have {
			linked[dht.NodeID(l.RemoteKey())] = true
		}
		contacts := k.d.Contacts(self, maxKeeperContacts)
		k.mu.Lock()
		now := k.now()
		for id, until := range k.rest {
			if !now.Before(until) {
				delete(k.rest, id)
			}
		}
		resting := func(id dht.ID) bool { _, ok := k.rest[id]; return ok }
		cands := chooseKept(self, contacts, linked, resting, need)
		k.mu.Unlock()
		if len(cands) < need && !exchanged {
			exchanged = true
			k.exchange(ctx, self, have)
			continue
		}
		if len(cands) == 0 {
			return
		}
		for _, c := range cands {
			if ctx.Err() != nil {
				return
			}
			k.link(ctx, wg, c)
		}
		if len(cands) < need {
			return // the rest waits for the next round
		}
	}
}

// maxKeeperContacts bounds the contacts the keeper reads from the table
// per round (a table of K-buckets holds a few hundred).
const maxKeeperContacts = 4096

// exchange learns contacts from peers: a FIND_NODE lookup of a random ID
// in the farthest bucket none of have covers.
func (k *keeper) exchange(ctx context.Context, self dht.ID, have []*peer.Link) {
	covered := make(map[int]bool, len(have))
	for _, l := range have {
		covered[dht.CommonPrefixLen(self, dht.NodeID(l.RemoteKey()))] = true
	}
	b := 0
	for covered[b] && b < dht.IDSize*8-1 {
		b++
	}
	k.exchanges.Add(1)
	ctx, cancel := context.WithTimeout(ctx, keepDialLimit)
	defer cancel()
	k.d.FindNode(ctx, dht.RandomInBucket(self, b)) // what it learns lands in the table
}

// link links to c and, once up, watches the link so that its end wakes
// the keeper. A failure rests c.
func (k *keeper) link(ctx context.Context, wg *sync.WaitGroup, c dht.Contact) {
	addrs, err := c.DialAddrs()
	var l *peer.Link
	if err == nil {
		for _, a := range addrs {
			lctx, cancel := context.WithTimeout(ctx, keepDialLimit)
			l, err = k.set.Connect(lctx, a)
			cancel()
			if err == nil {
				break
			}
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.rest[c.ID] = k.now().Add(keepCooldown) // try others first
		return
	}
	if _, ok := k.kept[l]; ok {
		return
	}
	k.d.Release(l) // if the DHT made it for a lookup, it is kept now
	k.kept[l] = c.ID
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			return
		case <-l.Done():
		}
		k.mu.Lock()
		delete(k.kept, l)
		k.rest[c.ID] = k.now().Add(keepCooldown) // replace it by another first
		k.mu.Unlock()
		k.poke()
	}()
}

// keptCount returns how many links the keeper made that are still up.
func (k *keeper) keptCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.kept)
}

// chooseKept picks up to n contacts to link to, spread across the ID
// space: contacts are grouped by bucket (their common prefix with self),
// buckets that no linked node covers come first, farthest first, then a
// second contact per bucket, and so on; within a bucket the most recently
// seen first. Contacts linked already or resting are skipped.
func chooseKept(self dht.ID, contacts []dht.Contact, linked map[dht.ID]bool, resting func(dht.ID) bool, n int) []dht.Contact {
	if n <= 0 {
		return nil
	}
	const nb = dht.IDSize*8 + 1
	var buckets [nb][]dht.Contact
	var uses [nb]int // links (existing and chosen) per bucket
	for id := range linked {
		uses[dht.CommonPrefixLen(self, id)]++
	}
	for _, c := range contacts {
		if c.ID == self || linked[c.ID] || resting(c.ID) {
			continue
		}
		b := dht.CommonPrefixLen(self, c.ID)
		buckets[b] = append(buckets[b], c)
	}
	for b := range buckets {
		slices.SortStableFunc(buckets[b], func(x, y dht.Contact) int { return y.Seen.Compare(x.Seen) })
	}
	var out []dht.Contact
	for len(out) < n {
		best := -1
		for b := range buckets {
			if len(buckets[b]) == 0 {
				continue
			}
			if best < 0 || uses[b] < uses[best] { // ties: the lower (farther) bucket
				best = b
			}
		}
		if best < 0 {
			break
		}
		out = append(out, buckets[best][0])
		buckets[best] = buckets[best][1:]
		uses[best]++
	}
	return out
}

// keptPeers returns the peers of the links the keeper holds.
func (k *keeper) keptPeers() []Addr {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Addr, 0, len(k.kept))
	for l := range k.kept {
		out = append(out, AddrFromHash160(l.ID()))
	}
	return out
}
