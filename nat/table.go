package nat

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
)

// TableConfig configures a Table. The zero value works.
type TableConfig struct {
	// MinAgree is how many distinct peers must report an address before
	// it counts as a candidate: one peer alone could send anything.
	// Default 2.
	MinAgree int
	// TTL is how long a report counts after it arrived. Default 30
	// minutes.
	TTL time.Duration
	// MaxReporters bounds the peers whose reports are kept (one report
	// each, the latest); beyond it the oldest report is forgotten.
	// Default 64.
	MaxReporters int
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Table collects observed-address reports, one per reporting peer, and
// says which addresses enough peers agree on: this node's reflexive
// (public) UDP addresses. It is safe for concurrent use.
type Table struct {
	cfg     TableConfig
	mu      sync.Mutex
	reports map[addr.NodeID]report
}

type report struct {
	ap netip.AddrPort
	at time.Time
}

// NewTable returns an empty table.
func NewTable(cfg TableConfig) *Table {
	if cfg.MinAgree <= 0 {
		cfg.MinAgree = 2
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 30 * time.Minute
	}
	if cfg.MaxReporters <= 0 {
		cfg.MaxReporters = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Table{cfg: cfg, reports: make(map[addr.NodeID]report)}
}

// Usable reports whether ap could be a peer's address: a unicast IP that
// is not unspecified, with a port.
func Usable(ap netip.AddrPort) bool {
	ip := ap.Addr()
	return ap.IsValid() && ap.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast() && !ip.IsLinkLocalUnicast()
}

// Add records that peer from sees this node at ap, replacing its earlier
// report. An unusable address is ignored.
func (t *Table) Add(from addr.NodeID, ap netip.AddrPort) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !Usable(ap) {
		return
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.reports[from]; !ok && len(t.reports) >= t.cfg.MaxReporters {
		t.expireLocked(now)
		if len(t.reports) >= t.cfg.MaxReporters {
			var oldest addr.NodeID
			first := true
			for id, r := range t.reports {
				if first || r.at.Before(t.reports[oldest].at) {
					oldest, first = id, false
				}
			}
			delete(t.reports, oldest)
		}
	}
	t.reports[from] = report{ap: ap, at: now}
}

func (t *Table) expireLocked(now time.Time) {
	for id, r := range t.reports {
		if now.Sub(r.at) >= t.cfg.TTL {
			delete(t.reports, id)
		}
	}
}

// Candidates returns the addresses at least MinAgree live reports name,
// the most reported first.
func (t *Table) Candidates() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.cfg.Now())
	count := make(map[netip.AddrPort]int)
	for _, r := range t.reports {
		count[r.ap]++
	}
	var out []netip.AddrPort
	for ap, n := range count {
		if n >= t.cfg.MinAgree {
			out = append(out, ap)
		}
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int {
		return cmp.Or(count[b]-count[a], a.Compare(b))
	})
	return out
}

// Varies reports whether live reports name one IP with different ports:
// this node's NAT maps each destination to a port of its own (a
// symmetric NAT), so its reflexive addresses are of no use to a peer.
func (t *Table) Varies() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.cfg.Now())
	ports := make(map[netip.Addr]uint16)
	for _, r := range t.reports {
		if p, ok := ports[r.ap.Addr()]; ok && p != r.ap.Port() {
			return true
		}
		ports[r.ap.Addr()] = r.ap.Port()
	}
	return false
}

// Reports returns how many live reports the table holds.
func (t *Table) Reports() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.cfg.Now())
	return len(t.reports)
}

// Reported returns every address live reports name, the most reported
// first: behind a NAT that maps each destination apart they disagree,
// and none is a candidate, but a punch still offers them, since a peer
// that sends to one opens its own NAT's filter to that IP.
func (t *Table) Reported() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expireLocked(t.cfg.Now())
	count := make(map[netip.AddrPort]int)
	for _, r := range t.reports {
		count[r.ap]++
	}
	out := make([]netip.AddrPort, 0, len(count))
	for ap := range count {
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int {
		return cmp.Or(count[b]-count[a], a.Compare(b))
	})
	return out
}
