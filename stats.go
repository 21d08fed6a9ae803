package foxtrot

import (
	"sort"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/route"
)

// Stats is a snapshot of a node's activity, for monitoring and debugging.
type Stats struct {
	// Peers are the node's live links, sorted by address.
	Peers []PeerStats

	// Connect requests this node handled: new and valid ones (Seen),
	// copies it sent on (Forwarded, one per neighbour), and the ones it
	// dropped: already seen, failing a check, over a peer's rate limit,
	// over a peer's share of forwarding, or with nowhere to go.
	RequestsSeen, RequestsForwarded                       int64
	RequestsDuplicate, RequestsInvalid, RequestsThrottled int64
	RequestsNotForwarded, RequestsDeadEnd                 int64
	// Acks relayed back toward diallers, and acks or refusals dropped
	// because they failed their checks or answered nothing we saw.
	AcksRelayed, AcksInvalid, AcksUnknown int64
	// Circuits this node relayed (ever, and now) and the bytes it spliced
	// for them, both directions.
	CircuitsRelayed, CircuitsActive, BytesRelayed int64
	// Inbound links whose handshake failed, and inbound connections
	// dropped before Accept (a dialler that never completed its hello).
	HandshakesFailed, AcceptsFailed int64
	// Connections moved to a new path, and the total time those moves
	// took; dials whose directed request timed out and were flooded.
	Failovers        int64
	FailoverTime     time.Duration
	DirectedTimeouts int64
	// Billing: acks dropped for costing more than their request allowed,
	// neighbours cut off for unpaid relaying, and requests refused from
	// a cut-off neighbour.
	AcksOverPrice, CutOffs, RequestsRefusedCredit int64
	// Connection paths without relays that rely on the peer link's
	// encryption instead of sealing every record again (see
	// Config.EncryptDirect), counted by each end as it switches.
	DirectPaths int64
	// Refusals for lack of budget on the peer links (see peer.Refusals):
	// inbound connections closed before their handshake (over
	// MaxHandshakesPerAddr, or evicted when MaxInboundHandshakes were
	// open), handshakes closed after act one (over MaxHandshakes), and
	// streams reset unread (over MaxPendingStreamsPerPeer).
	SocketsRefused, HandshakesRefused, StreamsRefused int64
	// Cookie replies sent to inbound handshakes while under load, and
	// those not echoed correctly (see SPEC.md, "Cookies").
	HandshakeCookies, HandshakeCookiesFailed int64
	// Control messages not queued for a peer that was not reading them
	// (Config.MaxQueuedControl).
	ControlRefused int64
	// Unlinked are the Config.Peers entries (and other kept peers) with
	// no link now: being dialled for the first time, or unreachable,
	// with how often and why their dials failed. Sorted by multiaddr.
	Unlinked []UnlinkedPeer
	// Table shares (see route.Config.MaxSeen, MaxRoutes): requests
	// dropped because their peer held its share of the seen-request
	// table, entries evicted from the largest share to make room for a
	// smaller one, and routes not learned because their next hop held
	// its share of the route table.
	RequestsOverShare, SeenEvicted, RoutesOverShare int64
	// Circuits refused for a budget (Config.MaxCircuits and the rest):
	// their acks were dropped and the dialler used another path.
	CircuitsRefused int64
	// Requests refused because their listener's backlog was full.
	AcceptsRefused int64
	// Adverts counts the scan-key adverts of stealth listeners this node
	// sent (its own and passed on), received, dropped and held back by a
	// link's byte budget, and the fingerprints it knows.
	Adverts route.AdvertStats
	// DHTQueries counts DHT requests this node answered, DHTLookups the
	// lookups it ran (its own dials, publishing, bootstrap, refresh); DHT
	// has the rest of the DHT's counters. All zero while the DHT is off (Config.DHT).
	DHTQueries, DHTLookups int64
	DHT                    DHTStats
	// WindowCredit is how much of Config.MemoryBudget connections hold
	// now for windows grown past RecvBuffer and SendBuffer, and peer
	// link streams for windows grown past peer.InitialStreamWindow, in
	// bytes.
	WindowCredit int64
	// Resumption tickets (SPEC.md section 6). As a dialler: dials that
	// connected with a ticket, doing no public-key work (TicketDials),
	// those whose ticket was refused or unanswered and that made a full
	// handshake instead (TicketFallbacks), and tickets received
	// (TicketsKept). As a target: tickets issued, and tickets refused
	// (unknown, expired, another address's, or replayed).
	TicketDials, TicketFallbacks, TicketsKept, TicketsIssued, TicketsRefused int64
	// TicketRekeys counts resumed connections whose two ends completed
	// the ephemeral ECDH that makes their data forward-secret after the
	// first round trip (counted at each end).
	TicketRekeys int64
	// NAT counts NAT traversal: public addresses, punches (see NATConfig).
	NAT NATStats
}

// PeerStats describes one link and what the node observed of the peer.
type PeerStats struct {
	Addr      Addr          // the peer's identity
	Multiaddr string        // the address dialled ("" for an inbound link)
	Outbound  bool          // this node dialled it
	Since     time.Time     // when the link came up
	RTT       time.Duration // smoothed ping round-trip time (0 before the first)
	// Forwarding: connect requests sent to the peer, and verified acks
	// that came back through it.
	RequestsSent, AcksBack int64
	// Relaying: circuits through the peer that ended well or broke, and
	// the bytes relayed to or from it.
	CircuitsOK, CircuitsBroke, BytesRelayed int64
	// Queued is the control bytes waiting to be written to the peer: a
	// peer that reads slowly shows here first.
	Queued int
}

// Stats returns a snapshot of the node's counters and links.
func (n *Node) Stats() Stats {
	r := n.router.Stats()
	s := Stats{
		RequestsSeen: r.RequestsSeen, RequestsForwarded: r.RequestsForwarded,
		RequestsDuplicate: r.RequestsDuplicate, RequestsInvalid: r.RequestsInvalid,
		RequestsThrottled: r.RequestsThrottled, RequestsNotForwarded: r.RequestsNotForwarded,
		RequestsDeadEnd: r.RequestsDeadEnd,
		AcksRelayed:     r.AcksRelayed, AcksInvalid: r.AcksInvalid, AcksUnknown: r.AcksUnknown,
		CircuitsRelayed: r.CircuitsRelayed, CircuitsActive: r.CircuitsActive, BytesRelayed: r.BytesRelayed,
		HandshakesFailed: int64(n.peers.FailedHandshakes()), AcceptsFailed: r.AcceptsFailed,
		Failovers: r.Failovers, FailoverTime: r.FailoverTime, DirectedTimeouts: r.DirectedTimeouts,
		AcksOverPrice: r.AcksOverPrice, CutOffs: r.CutOffs, RequestsRefusedCredit: r.RequestsRefusedCredit,
		Unlinked:          n.unlinked(),
		DirectPaths:       r.DirectPaths,
		RequestsOverShare: r.RequestsOverShare, SeenEvicted: r.SeenEvicted, RoutesOverShare: r.RoutesOverShare,
		CircuitsRefused: r.CircuitsRefused, AcceptsRefused: r.AcceptsRefused,
		TicketDials: r.TicketDials, TicketFallbacks: r.TicketFallbacks, TicketsKept: r.TicketsKept,
		TicketsIssued: r.TicketsIssued, TicketsRefused: r.TicketsRefused, TicketRekeys: r.TicketRekeys,
	}
	pr := n.peers.Refusals()
	s.SocketsRefused, s.HandshakesRefused, s.StreamsRefused = int64(pr.Sockets), int64(pr.Handshakes), int64(pr.Streams)
	s.HandshakeCookies, s.HandshakeCookiesFailed = int64(pr.Cookies), int64(pr.CookiesFailed)
	s.ControlRefused = int64(pr.Control)
	s.Adverts = n.router.AdvertStats()
	s.WindowCredit = n.budget.Used()
	n.dhtStats(&s)
	n.natStats(&s)
	obs := make(map[[20]byte]route.PeerObservation)
	for _, o := range n.router.Observations() {
		obs[o.Peer] = o
	}
	for _, l := range n.peers.Links() {
		o := obs[l.ID()]
		p := PeerStats{Addr: AddrFromHash160(l.ID()), Outbound: l.Outbound(), Since: l.Since(), RTT: l.RTT(),
			RequestsSent: o.RequestsSent, AcksBack: o.AcksBack, CircuitsOK: o.CircuitsOK,
			CircuitsBroke: o.CircuitsBroke, BytesRelayed: o.BytesRelayed, Queued: l.Queued()}
		if m := l.Multiaddr(); m != nil {
			p.Multiaddr = m.String()
		}
		s.Peers = append(s.Peers, p)
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].Addr.String() < s.Peers[j].Addr.String() })
	return s
}

// CircuitStatus describes one circuit this node relays now: a connection
// between two other nodes whose bytes it splices from one neighbour to
// the next.
type CircuitStatus struct {
	// ID is the connection's ID and Path which of its paths this is (a
	// connection may cross a relay on more than one).
	ID   addr.ConnID
	Path uint32
	// From is the neighbour toward the dialler, To the one toward the
	// target. Neither need be the connection's end.
	From, To Addr
	Age      time.Duration // since its stream arrived
	// Bytes relayed toward the target (From to To) and back.
	Sent, Received int64
	// Price is this node's charge per MiB through the circuit, Billed
	// whether it bills From for it (Config.Billing set, a priced path).
	Price  uint64
	Billed bool
}

// Circuits returns up to limit of the circuits this node relays now (all
// of them if limit <= 0), oldest first, and how many there are in all.
// It does not slow the circuits: their byte counts are read as they
// stand.
func (n *Node) Circuits(limit int) ([]CircuitStatus, int) {
	cs, total := n.router.Circuits(limit)
	out := make([]CircuitStatus, len(cs))
	for i, c := range cs {
		out[i] = CircuitStatus{ID: c.ID, Path: c.Path, From: AddrFromHash160(c.Up), To: AddrFromHash160(c.Down),
			Age: c.Age, Sent: c.UpDown, Received: c.DownUp, Price: c.Price, Billed: c.Billed}
	}
	return out, total
}
