// Package simnet lays out simulated networks for tests and measurements:
// n nodes in one process over an isolated mem transport, linked in a named
// topology (line, ring, grid, random, scale-free), with optional latency.
//
// simnet decides who links to whom and hands out keys and addresses; the
// caller builds its nodes from them (foxtrot.Config has a field for each),
// so simnet stays below the packages it helps test:
//
//	sn := simnet.New(100, simnet.Random(4), simnet.Options{Seed: 1})
//	for i := range sn.Keys {
//		node, _ := foxtrot.NewNode(foxtrot.Config{
//			Identity: sn.Keys[i], ListenAddrs: []string{sn.Listen(i)},
//			Peers: sn.Peers(i), Transports: sn.Transports()})
//		...
//	}
package simnet

import (
	"fmt"
	"math/rand"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// Topology names a way to link n nodes.
type Topology struct {
	Name  string
	edges func(n int, rng *rand.Rand) [][2]int
}

// Line links i to i+1: the longest paths for n nodes.
var Line = Topology{"line", func(n int, _ *rand.Rand) [][2]int {
	var e [][2]int
	for i := 0; i+1 < n; i++ {
		e = append(e, [2]int{i, i + 1})
	}
	return e
}}

// Ring is a line closed into a circle: two disjoint paths between any two
// nodes.
var Ring = Topology{"ring", func(n int, rng *rand.Rand) [][2]int {
	e := Line.edges(n, rng)
	if n > 2 {
		e = append(e, [2]int{n - 1, 0})
	}
	return e
}}

// Grid lays nodes out in rows of width and links horizontal and vertical
// neighbours.
func Grid(width int) Topology {
	return Topology{fmt.Sprintf("grid%d", width), func(n int, _ *rand.Rand) [][2]int {
		var e [][2]int
		for i := 0; i < n; i++ {
			if (i+1)%width != 0 && i+1 < n {
				e = append(e, [2]int{i, i + 1})
			}
			if i+width < n {
				e = append(e, [2]int{i, i + width})
			}
		}
		return e
	}}
}

// Random is a connected random graph of average degree about degree: a
// random spanning tree plus random extra links.
func Random(degree int) Topology {
	return Topology{fmt.Sprintf("random%d", degree), func(n int, rng *rand.Rand) [][2]int {
		seen := map[[2]int]bool{}
		var e [][2]int
		add := func(a, b int) bool {
			if a == b {
				return false
			}
			if a > b {
				a, b = b, a
			}
			if seen[[2]int{a, b}] {
				return false
			}
			seen[[2]int{a, b}] = true
			e = append(e, [2]int{a, b})
			return true
		}
		order := rng.Perm(n)
		for i := 1; i < n; i++ {
			add(order[i], order[rng.Intn(i)])
		}
		want := n * degree / 2
		for tries := 0; len(e) < want && tries < 100*want; tries++ {
			add(rng.Intn(n), rng.Intn(n))
		}
		return e
	}}
}

// ScaleFree is a Barabási–Albert graph: each new node links to m existing
// nodes chosen in proportion to their degree, so a few hubs emerge.
func ScaleFree(m int) Topology {
	return Topology{fmt.Sprintf("scalefree%d", m), func(n int, rng *rand.Rand) [][2]int {
		var e [][2]int
		var ends []int // every edge end: choosing from it is degree-proportional
		for i := 1; i < n; i++ {
			picked := map[int]bool{}
			for k := 0; k < m && k < i; k++ {
				var j int
				if len(ends) == 0 {
					j = 0
				} else {
					j = ends[rng.Intn(len(ends))]
				}
				for picked[j] {
					j = rng.Intn(i)
				}
				picked[j] = true
				e = append(e, [2]int{j, i})
				ends = append(ends, i, j)
			}
		}
		return e
	}}
}

// Custom links exactly the given pairs.
func Custom(edges [][2]int) Topology {
	return Topology{"custom", func(int, *rand.Rand) [][2]int { return edges }}
}

// Options shape a simulated network. The zero value has no latency and a
// seed of 0.
type Options struct {
	// Latency is the one-way delay of every link.
	Latency time.Duration
	// Seed makes the random topologies and keys reproducible.
	Seed int64
}

// Net is a laid-out network.
type Net struct {
	Topology Topology
	Mem      *mem.Network
	Keys     []*btcec.PrivateKey
	Edges    [][2]int
	adj      [][]int
}

// New lays out n nodes in topology t.
func New(n int, t Topology, o Options) *Net {
	rng := rand.New(rand.NewSource(o.Seed))
	sn := &Net{Topology: t, Mem: mem.NewNetwork(mem.Options{Latency: o.Latency}), adj: make([][]int, n)}
	for i := 0; i < n; i++ {
		var b [32]byte
		rng.Read(b[:])
		b[0] |= 1 // never the zero scalar
		k, _ := btcec.PrivKeyFromBytes(b[:])
		sn.Keys = append(sn.Keys, k)
	}
	sn.Edges = t.edges(n, rng)
	for _, e := range sn.Edges {
		sn.adj[e[0]] = append(sn.adj[e[0]], e[1])
		sn.adj[e[1]] = append(sn.adj[e[1]], e[0])
	}
	return sn
}

// Len returns the number of nodes.
func (sn *Net) Len() int { return len(sn.Keys) }

// Transports returns the transport list for a node of this network.
func (sn *Net) Transports() []transport.Transport {
	return []transport.Transport{sn.Mem.Transport()}
}

// Listen returns node i's listen address.
func (sn *Net) Listen(i int) string { return fmt.Sprintf("/mem/%d", i+1) }

// Addr returns node i's full peer address, identity included.
func (sn *Net) Addr(i int) string {
	return sn.Listen(i) + "/foxtrot/" + addr.FromPubKey(sn.Keys[i].PubKey()).String()
}

// Peers returns the addresses node i dials: each link is dialled once, by
// its higher-numbered end. Nodes started in order (0 first) then dial only
// nodes that already listen, so no first dial fails and waits out a
// redial backoff (which reaches RedialMax when starting a large network
// takes long, as on a loaded machine under -race).
func (sn *Net) Peers(i int) []string {
	var out []string
	for _, j := range sn.adj[i] {
		if j < i {
			out = append(out, sn.Addr(j))
		}
	}
	return out
}

// Neighbours returns the nodes linked to i.
func (sn *Net) Neighbours(i int) []int { return sn.adj[i] }

// Distance returns the number of links on a shortest path from a to b, or
// -1 if b cannot be reached.
func (sn *Net) Distance(a, b int) int {
	dist := make([]int, len(sn.adj))
	for i := range dist {
		dist[i] = -1
	}
	dist[a] = 0
	q := []int{a}
	for len(q) > 0 {
		x := q[0]
		q = q[1:]
		for _, y := range sn.adj[x] {
			if dist[y] < 0 {
				dist[y] = dist[x] + 1
				q = append(q, y)
			}
		}
	}
	return dist[b]
}

// Farthest returns a node at the greatest distance from a.
func (sn *Net) Farthest(a int) int {
	best, far := a, 0
	for b := range sn.adj {
		if d := sn.Distance(a, b); d > far {
			best, far = b, d
		}
	}
	return best
}
