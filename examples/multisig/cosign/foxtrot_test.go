package cosign

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// foxtrotNet is an in-process foxtrot network for the tests: a ring of six
// nodes laid out by internal/simnet over an isolated mem transport. The
// proposer dials from node 0; co-signers listen on their wallet keys at
// nodes 2, 3 and 4, two or three hops away, so every connection runs
// through at least one relay.
//
//	  1 --- 2
//	 /       \
//	0         3
//	 \       /
//	  5 --- 4
type foxtrotNet struct {
	sn    *simnet.Net
	nodes []*foxtrot.Node

	mu    sync.Mutex
	next  int              // guarded by mu: the next co-signer node, round robin
	paths map[string][]int // guarded by mu: relays per connection, by address dialled
}

const proposerNode = 0

var cosignerNodes = []int{2, 3, 4}

// newFoxtrotNet starts the network and waits until every link is up; the
// nodes close when the test ends.
func newFoxtrotNet(t *testing.T) *foxtrotNet {
	t.Helper()
	fn := &foxtrotNet{sn: simnet.New(6, simnet.Ring, simnet.Options{}), paths: make(map[string][]int)}
	for i := range fn.sn.Len() {
		n, err := foxtrot.NewNode(foxtrot.Config{
			Identity:    fn.sn.Keys[i],
			ListenAddrs: []string{fn.sn.Listen(i)},
			Peers:       fn.sn.Peers(i),
			Transports:  fn.sn.Transports(),
		})
		require.NoError(t, err)
		t.Cleanup(func() { n.Close() })
		fn.nodes = append(fn.nodes, n)
	}
	require.Eventually(t, func() bool {
		for i, n := range fn.nodes {
			if len(n.Peers()) != len(fn.sn.Neighbours(i)) {
				return false
			}
		}
		return true
	}, 20*time.Second, 5*time.Millisecond, "the network did not link up")
	for _, i := range cosignerNodes {
		require.GreaterOrEqual(t, fn.sn.Distance(proposerNode, i), 2)
	}
	return fn
}

// listenAt listens on key at node i.
func (fn *foxtrotNet) listenAt(t testing.TB, i int, key *btcec.PrivateKey) net.Listener {
	t.Helper()
	l, err := fn.nodes[i].Listen(key)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l
}

func (fn *foxtrotNet) carrier() carrier {
	return carrier{
		listen: func(t testing.TB, key *btcec.PrivateKey) net.Listener {
			fn.mu.Lock()
			i := cosignerNodes[fn.next%len(cosignerNodes)]
			fn.next++
			fn.mu.Unlock()
			return fn.listenAt(t, i, key)
		},
		dial: func(ctx context.Context, address string) (net.Conn, error) {
			c, err := fn.nodes[proposerNode].DialContext(ctx, "foxtrot", address)
			if err != nil {
				return nil, err
			}
			fn.mu.Lock()
			fn.paths[address] = append(fn.paths[address], len(c.(*foxtrot.Conn).Path()))
			fn.mu.Unlock()
			return c, nil
		},
		relays: func(address string) []int {
			fn.mu.Lock()
			defer fn.mu.Unlock()
			return append([]int(nil), fn.paths[address]...)
		},
	}
}

func foxtrotCarrier(t *testing.T) carrier { return newFoxtrotNet(t).carrier() }

// requireRelayed checks, on carriers that know paths, that every
// connection to each peer ran through at least one relay.
func requireRelayed(t *testing.T, c carrier, peers ...Peer) {
	t.Helper()
	if c.relays == nil {
		return
	}
	for _, p := range peers {
		relays := c.relays(p.Address)
		require.NotEmpty(t, relays, "%s was dialled", p)
		for _, n := range relays {
			require.GreaterOrEqual(t, n, 1, "the connection to %s has a relay", p)
		}
	}
}

// Offline, the foxtrot way: a co-signer whose node is down, and one whose
// node is up but who does not listen, give no answer at all (nobody can
// say no for a key nobody holds), so the proposer gives up on them after
// its dial timeout, reports them, and finishes with the co-signer that
// answers.
func TestCosignersWhoseNodeIsDownOrWhoDoNotListenAreReported(t *testing.T) {
	checkLeaks(t)
	fn := newFoxtrotNet(t)
	c := fn.carrier()
	w := testWallet(t, 2, "alice", "bob", "carol", "dave")

	// bob listened at node 2, then his node went down. The ring survives
	// it: 3 and 4 are still reachable through 5.
	bob := Peer{Key: testKey("bob").PubKey(), Address: fn.listenAt(t, 2, testKey("bob")).Addr().String()}
	require.NoError(t, fn.nodes[2].Close())
	// carol's node 3 is up, but carol does not listen.
	carol := Peer{Key: testKey("carol").PubKey(), Address: foxtrot.AddrFromPubKey(testKey("carol").PubKey()).String()}
	// dave listens at node 4 and approves.
	cs, err := NewCosigner(CosignerConfig{Wallet: w, Key: testKey("dave"), Policy: Approve, Logger: testLogger(t)})
	require.NoError(t, err)
	l := fn.listenAt(t, 4, testKey("dave"))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- cs.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-served) })
	dave := Peer{Key: testKey("dave").PubKey(), Address: l.Addr().String()}

	// The dial timeout is what this test waits for; it leaves dave's dial,
	// tens of milliseconds, a wide margin on a loaded machine.
	const dialTimeout = 6 * time.Second
	p, err := NewProposer(ProposerConfig{Wallet: w, Key: testKey("alice"), Dial: c.dial,
		Timeout: time.Minute, DialTimeout: dialTimeout, Logger: testLogger(t)})
	require.NoError(t, err)
	start := time.Now()
	res, err := p.Propose(context.Background(), testProposal(t, w, "alice"), []Peer{bob, carol, dave})
	require.NoError(t, err)
	took := time.Since(start)
	require.GreaterOrEqual(t, took, dialTimeout, "nobody says no for a key nobody holds")
	require.Less(t, took, 30*time.Second, "the dial timeout, not the answer timeout, bounds an offline co-signer")

	for i, name := range []string{"bob", "carol"} {
		a := res.Answers[i]
		require.False(t, a.Approved, name)
		require.ErrorContains(t, a.Err, "offline", name)
		require.ErrorIs(t, a.Err, context.DeadlineExceeded, name)
		var op *net.OpError
		require.ErrorAs(t, a.Err, &op, "%s: foxtrot's dial error", name)
		require.Contains(t, a.String(), a.Peer.Address, "the report names the co-signer's address")
	}
	require.True(t, res.Answers[2].Approved, "dave: %v", res.Answers[2].Err)
	requireRelayed(t, c, dave)
	require.True(t, res.Signers[1].IsEqual(testKey("dave").PubKey()))
	require.NoError(t, VerifyTx(res.Tx, prevOuts(res.Proposal.Packet)))
}
