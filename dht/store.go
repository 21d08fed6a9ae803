package dht

import (
	"fmt"
	"time"
)

// StoreConfig bounds a Store. The zero value works.
type StoreConfig struct {
	// MaxRecords bounds the records held in all. Default 4096 (at most
	// MaxRecordSize each: under 5 MiB).
	MaxRecords int
	// MaxPerSource bounds the records one source (the node whose put
	// stored them) holds. Default 64.
	MaxPerSource int
	// MaxKeysPerTarget bounds the keys writing under one locator target.
	// Default 8.
	MaxKeysPerTarget int
	// MaxTTL bounds how far ahead a record's expiry may be. Default 48h
	// (two listener periods).
	MaxTTL time.Duration
}

func (c *StoreConfig) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxRecords, 4096)
	def(&c.MaxPerSource, 64)
	def(&c.MaxKeysPerTarget, 8)
	if c.MaxTTL <= 0 {
		c.MaxTTL = 48 * time.Hour
	}
}

// Store holds the records this node stores for others, bounded in total,
// per source and per target, under BEP 44's rules: a newer seq replaces
// an older one, an older one is refused (ErrStale), the same seq is
// accepted only with the same content (a refresh), and a put carrying a
// cas must name the seq stored (ErrCASMismatch; cas 0 when nothing is
// stored). When a bound is reached new records are refused, not evicted,
// so a flood cannot push out what is stored; expired records are dropped
// first. Store is pure (no clock, no goroutines) and not safe for
// concurrent use: its owner locks.
type Store struct {
	cfg     StoreConfig
	targets map[ID]map[[32]byte]*stored
	sources map[ID]int
	n       int
}

type stored struct {
	rec    *Record
	source ID
}

// NewStore returns an empty store.
func NewStore(cfg StoreConfig) *Store {
	cfg.setDefaults()
	return &Store{cfg: cfg, targets: make(map[ID]map[[32]byte]*stored), sources: make(map[ID]int)}
}

// Len returns how many records the store holds.
func (s *Store) Len() int { return s.n }

// Put stores r for source at now, checking its signature, bounds and
// expiry. cas, if not nil, must equal the seq stored under r's target and
// key (0 if none).
func (s *Store) Put(r *Record, source ID, cas *uint64, now time.Time) error {
	if err := r.Verify(); err != nil {
		return err
	}
	if !r.Expires.After(now) {
		return ErrExpired
	}
	if r.Expires.After(now.Add(s.cfg.MaxTTL)) {
		return fmt.Errorf("%w: %v ahead, MaxTTL %v", ErrTooFarAhead, r.Expires.Sub(now), s.cfg.MaxTTL)
	}
	t := r.Target()
	keys := s.targets[t]
	old := keys[r.Key]
	if old != nil && !old.rec.Expires.After(now) {
		s.remove(t, r.Key)
		keys, old = s.targets[t], nil
	}
	if cas != nil {
		var cur uint64
		if old != nil {
			cur = old.rec.Seq
		}
		if *cas != cur {
			return fmt.Errorf("%w: cas %d, stored %d", ErrCASMismatch, *cas, cur)
		}
	}
	if old != nil {
		switch {
		case r.Seq < old.rec.Seq:
			return fmt.Errorf("%w: seq %d below stored %d", ErrStale, r.Seq, old.rec.Seq)
		case r.Seq == old.rec.Seq && !r.sameContent(old.rec):
			return fmt.Errorf("%w: seq %d stored with other content", ErrStale, r.Seq)
		}
		old.rec = r // the source that first stored it keeps the charge
		return nil
	}
	if s.n >= s.cfg.MaxRecords || s.sources[source] >= s.cfg.MaxPerSource || len(keys) >= s.cfg.MaxKeysPerTarget {
		s.Expire(now)
		keys = s.targets[t]
	}
	switch {
	case s.n >= s.cfg.MaxRecords:
		return ErrStoreFull
	case s.sources[source] >= s.cfg.MaxPerSource:
		return ErrSourceFull
	case len(keys) >= s.cfg.MaxKeysPerTarget:
		return ErrTargetFull
	}
	if keys == nil {
		keys = make(map[[32]byte]*stored)
		s.targets[t] = keys
	}
	keys[r.Key] = &stored{rec: r, source: source}
	s.sources[source]++
	s.n++
	return nil
}

// Get returns the unexpired records under target (at most
// MaxKeysPerTarget).
func (s *Store) Get(target ID, now time.Time) []*Record {
	var out []*Record
	for _, st := range s.targets[target] {
		if st.rec.Expires.After(now) {
			out = append(out, st.rec)
		}
	}
	return out
}

// Expire drops every record expired at now.
func (s *Store) Expire(now time.Time) {
	for t, keys := range s.targets {
		for k, st := range keys {
			if !st.rec.Expires.After(now) {
				s.remove(t, k)
			}
		}
	}
}

func (s *Store) remove(t ID, key [32]byte) {
	keys := s.targets[t]
	st := keys[key]
	if st == nil {
		return
	}
	delete(keys, key)
	if len(keys) == 0 {
		delete(s.targets, t)
	}
	if s.sources[st.source]--; s.sources[st.source] <= 0 {
		delete(s.sources, st.source)
	}
	s.n--
}
