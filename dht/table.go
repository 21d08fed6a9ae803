package dht

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
)

// K is the bucket size and the replication factor.
const K = 20

// Contact is a node the table knows: its ID, identity key and the
// multiaddrs it said it listens on.
//
// A contact decoded from the wire carries its key's 33 bytes and an ID
// hashed from them, and Key is nil until the contact is used (PubKey):
// parsing a point costs a square root, about 50 us, and a response holds
// up to K contacts, most of which are never dialled.
type Contact struct {
	ID    ID
	Key   *btcec.PublicKey // nil in a decoded contact until PubKey parses it
	Addrs []ma.Multiaddr
	// Seen is when it was last heard from.
	Seen time.Time

	raw [keySize]byte // the compressed key as decoded, when Key is nil
}

// NewContact returns the contact of identity key pub at addrs.
func NewContact(pub *btcec.PublicKey, addrs []ma.Multiaddr) Contact {
	return Contact{ID: NodeID(pub), Key: pub, Addrs: addrs}
}

// PubKey returns the contact's identity key, parsing the decoded bytes
// (and keeping the result) if that has not been done yet. It fails with
// ErrMalformed when the bytes are not a point on the curve.
func (c *Contact) PubKey() (*btcec.PublicKey, error) {
	if c.Key != nil {
		return c.Key, nil
	}
	pub, err := btcec.ParsePubKey(c.raw[:])
	if err != nil {
		return nil, fmt.Errorf("%w: contact key: %w", ErrMalformed, err)
	}
	c.Key = pub
	return pub, nil
}

// keyBytes returns the compressed key without parsing it.
func (c *Contact) keyBytes() []byte {
	if c.Key != nil {
		return c.Key.SerializeCompressed()
	}
	return c.raw[:]
}

// isKey reports whether the contact's key is pub, without parsing it; on
// a match a decoded contact takes pub as its Key.
func (c *Contact) isKey(pub *btcec.PublicKey) bool {
	if c.Key != nil {
		return c.Key.IsEqual(pub)
	}
	if !bytes.Equal(c.raw[:], pub.SerializeCompressed()) {
		return false
	}
	c.Key = pub
	return true
}

// bucket is a k-bucket: live contacts, least recently seen first, and a
// replacement cache of contacts heard while it was full, most recent last.
type bucket struct {
	live, spare []Contact
}

// Table is a Kademlia routing table of k-buckets around an own ID. Bucket
// i holds contacts sharing exactly i leading bits with self; the last
// bucket holds every contact sharing at least its index, and is the only
// one that splits (the bucket on the own-ID side), so the table holds at
// most K contacts per distance class far away and splits finely close by.
//
// A full bucket that cannot split does not take a new contact: Add files
// it in the bucket's replacement cache (at most K, the oldest dropped) and
// returns the bucket's least recently seen contact for a liveness check.
// The caller checks it (a ping over a link) and reports Seen (it stays,
// moved to the back) or Failed (it goes, and the newest spare replaces
// it). Table is not safe for concurrent use: its owner locks.
type Table struct {
	self    ID
	buckets []*bucket
}

// NewTable returns an empty table around self.
func NewTable(self ID) *Table { return &Table{self: self, buckets: []*bucket{{}}} }

// Self returns the own ID.
func (t *Table) Self() ID { return t.self }

func (t *Table) index(id ID) int {
	return min(CommonPrefixLen(t.self, id), len(t.buckets)-1)
}

// Len returns how many live contacts the table holds.
func (t *Table) Len() int {
	n := 0
	for _, b := range t.buckets {
		n += len(b.live)
	}
	return n
}

// Add records that c was heard from at c.Seen. A contact already present
// is updated and moved to the back of its bucket. It returns added = true
// if c is now live in the table; otherwise c went to the replacement cache
// and check is the contact to probe (see Table). Self is never added.
func (t *Table) Add(c Contact) (added bool, check *Contact) {
	if c.ID == t.self {
		return false, nil
	}
	for {
		i := t.index(c.ID)
		b := t.buckets[i]
		if j := findContact(b.live, c.ID); j >= 0 {
			b.live = append(slices.Delete(b.live, j, j+1), c)
			return true, nil
		}
		if len(b.live) < K {
			b.spare = removeContact(b.spare, c.ID)
			b.live = append(b.live, c)
			return true, nil
		}
		if i == len(t.buckets)-1 && i < IDSize*8-1 {
			t.split()
			continue
		}
		b.spare = append(removeContact(b.spare, c.ID), c)
		if len(b.spare) > K {
			b.spare = slices.Delete(b.spare, 0, 1)
		}
		oldest := b.live[0]
		return false, &oldest
	}
}

// split divides the last bucket: contacts sharing one more bit with self
// move to a new last bucket.
func (t *Table) split() {
	last := t.buckets[len(t.buckets)-1]
	n := &bucket{}
	depth := len(t.buckets)
	keep := func(cs []Contact) (stay, move []Contact) {
		for _, c := range cs {
			if CommonPrefixLen(t.self, c.ID) >= depth {
				move = append(move, c)
			} else {
				stay = append(stay, c)
			}
		}
		return stay, move
	}
	last.live, n.live = keep(last.live)
	last.spare, n.spare = keep(last.spare)
	t.buckets = append(t.buckets, n)
}

// Seen marks id live at now and moves it to the back of its bucket.
func (t *Table) Seen(id ID, now time.Time) {
	b := t.buckets[t.index(id)]
	if j := findContact(b.live, id); j >= 0 {
		c := b.live[j]
		c.Seen = now
		b.live = append(slices.Delete(b.live, j, j+1), c)
	}
}

// Failed removes id (it did not answer) and promotes the most recently
// heard spare of its bucket in its place.
func (t *Table) Failed(id ID) {
	b := t.buckets[t.index(id)]
	j := findContact(b.live, id)
	if j < 0 {
		b.spare = removeContact(b.spare, id)
		return
	}
	b.live = slices.Delete(b.live, j, j+1)
	if n := len(b.spare); n > 0 {
		b.live = append(b.live, b.spare[n-1])
		b.spare = b.spare[:n-1]
	}
}

// Get returns the live contact id, if present.
func (t *Table) Get(id ID) (Contact, bool) {
	b := t.buckets[t.index(id)]
	if j := findContact(b.live, id); j >= 0 {
		return b.live[j], true
	}
	return Contact{}, false
}

// Closest returns up to n live contacts closest to target, closest first.
func (t *Table) Closest(target ID, n int) []Contact {
	var all []Contact
	for _, b := range t.buckets {
		all = append(all, b.live...)
	}
	SortByDistance(target, all)
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Stale returns the indexes of buckets whose most recently seen contact is
// older than before (or that are empty), for refresh lookups.
func (t *Table) Stale(before time.Time) []int {
	var out []int
	for i, b := range t.buckets {
		if len(b.live) == 0 || b.live[len(b.live)-1].Seen.Before(before) {
			out = append(out, i)
		}
	}
	return out
}

// Buckets returns how many buckets the table has.
func (t *Table) Buckets() int { return len(t.buckets) }

// SortByDistance sorts cs by XOR distance to target, closest first.
func SortByDistance(target ID, cs []Contact) {
	slices.SortFunc(cs, func(a, b Contact) int {
		switch {
		case Closer(target, a.ID, b.ID):
			return -1
		case Closer(target, b.ID, a.ID):
			return 1
		}
		return 0
	})
}

func findContact(cs []Contact, id ID) int {
	return slices.IndexFunc(cs, func(c Contact) bool { return c.ID == id })
}

func removeContact(cs []Contact, id ID) []Contact {
	if j := findContact(cs, id); j >= 0 {
		return slices.Delete(cs, j, j+1)
	}
	return cs
}
