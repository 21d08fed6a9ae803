package cosign

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// testKey returns a fixed key derived from name, so that tests and golden
// vectors are reproducible.
func testKey(name string) *btcec.PrivateKey {
	h := sha256.Sum256([]byte("cosign test key " + name))
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

func testWallet(t testing.TB, m int, names ...string) *Wallet {
	t.Helper()
	keys := make([]*btcec.PublicKey, len(names))
	for i, n := range names {
		keys[i] = testKey(n).PubKey()
	}
	w, err := NewWallet(m, keys, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	return w
}

// testUTXO is a made-up wallet output; nothing checks a chain.
func testUTXO(name string, amount btcutil.Amount) UTXO {
	return UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(name))), Index: 1}, Amount: amount}
}

// payeeAddress is a P2WPKH regtest address outside every test wallet.
func payeeAddress(t testing.TB, name string) string {
	t.Helper()
	pub := testKey("payee " + name).PubKey().SerializeCompressed()
	a, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	return a.EncodeAddress()
}

// testProposal is alice's proposal to spend two wallet outputs (1.5 BTC)
// paying carol's shop 0.4 BTC and dave 0.1 BTC with a 2,000 sat fee.
func testProposal(t testing.TB, w *Wallet, proposer string) *Proposal {
	t.Helper()
	p, err := NewProposal(w, testKey(proposer),
		[]UTXO{testUTXO("funding 1", 100_000_000), testUTXO("funding 2", 50_000_000)},
		Memo{
			Payees: []Payee{
				{Address: payeeAddress(t, "shop"), Amount: 40_000_000},
				{Address: payeeAddress(t, "dave"), Amount: 10_000_000},
			},
			Fee:  2_000,
			Note: "March: shop invoice 1142, dave's expenses",
		})
	require.NoError(t, err)
	return p
}

// A carrier is a way to connect a proposer and co-signers: listeners for
// co-signers' keys and the matching dial function. The cosign package sees
// only net.Listener, net.Conn and DialFunc; the program runs it over
// foxtrot (see foxtrot_test.go), and the same scenarios run over loopback
// TCP and in-memory pipes to show that the logic does not care.
type carrier struct {
	// listen returns a listener for the co-signer holding key; the
	// string of its Addr is what dial takes. TCP and pipes ignore the key;
	// foxtrot listens on it.
	listen func(t testing.TB, key *btcec.PrivateKey) net.Listener
	dial   DialFunc
	// relays, if not nil, returns the number of relays of each connection
	// dialled to address so far (foxtrot's Conn.Path).
	relays func(address string) []int
}

// carriers is the table of carrier constructors. A carrier is made inside
// the (sub)test that uses it, after checkLeaks, so that the leak check
// runs after its network is gone.
func carriers() []struct {
	name string
	new  func(t *testing.T) carrier
} {
	return []struct {
		name string
		new  func(t *testing.T) carrier
	}{
		{"foxtrot", foxtrotCarrier},
		{"loopback TCP", tcpCarrier},
		{"in-memory pipes", pipeCarrier},
	}
}

// overEveryCarrier runs test once over each carrier, each in a subtest
// with its own leak check.
func overEveryCarrier(t *testing.T, test func(t *testing.T, c carrier)) {
	for _, cc := range carriers() {
		t.Run(cc.name, func(t *testing.T) {
			checkLeaks(t)
			test(t, cc.new(t))
		})
	}
}

func tcpCarrier(*testing.T) carrier {
	var d net.Dialer
	return carrier{
		listen: func(t testing.TB, _ *btcec.PrivateKey) net.Listener {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			return l
		},
		dial: func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
	}
}

func pipeCarrier(*testing.T) carrier {
	pipes := newPipeNet()
	return carrier{listen: pipes.listen, dial: pipes.dial}
}

// pipeNet is an in-process network of net.Pipe connections.
type pipeNet struct {
	mu        sync.Mutex
	listeners map[string]*pipeListener
	next      int
}

func newPipeNet() *pipeNet { return &pipeNet{listeners: make(map[string]*pipeListener)} }

func (n *pipeNet) listen(t testing.TB, _ *btcec.PrivateKey) net.Listener {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	l := &pipeListener{net: n, addr: pipeAddr(fmt.Sprintf("pipe-%d", n.next)), conns: make(chan net.Conn), done: make(chan struct{})}
	n.listeners[string(l.addr)] = l
	return l
}

func (n *pipeNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	if l == nil {
		return nil, &net.OpError{Op: "dial", Net: "pipe", Err: errors.New("connection refused")}
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "pipe", Err: errors.New("connection refused")}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "pipe", Err: ctx.Err()}
	}
}

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

type pipeListener struct {
	net   *pipeNet
	addr  pipeAddr
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "pipe", Err: net.ErrClosed}
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.net.mu.Lock()
		delete(l.net.listeners, string(l.addr))
		l.net.mu.Unlock()
	})
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// checkLeaks fails the test if goroutines outlive it. Call it first, so
// its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// serve runs a co-signer on a fresh listener of c until the test ends and
// returns the peer to dial.
func serve(t *testing.T, c carrier, w *Wallet, name string, policy Policy) Peer {
	t.Helper()
	cs, err := NewCosigner(CosignerConfig{Wallet: w, Key: testKey(name), Policy: policy, Logger: testLogger(t)})
	require.NoError(t, err)
	l := c.listen(t, testKey(name))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cs.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return Peer{Key: testKey(name).PubKey(), Address: l.Addr().String()}
}

// offline returns name's address after its listener closed: nothing
// listens there any more.
func offline(t *testing.T, c carrier, name string) Peer {
	l := c.listen(t, testKey(name))
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return Peer{Key: testKey(name).PubKey(), Address: addr}
}

// exchange sends one message to a co-signer and returns its parsed answer.
func exchange(t *testing.T, c carrier, peer Peer, msg []byte) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.dial(ctx, peer.Address)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	require.NoError(t, WriteFrame(conn, msg))
	raw, err := ReadFrame(conn)
	require.NoError(t, err)
	m, err := Parse(raw)
	require.NoError(t, err)
	require.True(t, m.Head().Sender.IsEqual(peer.Key), "answer signed by the co-signer")
	return m
}

// requireRefusal checks that m refuses with code.
func requireRefusal(t *testing.T, m Message, code Code) *Refusal {
	t.Helper()
	r, ok := m.(*Refusal)
	require.True(t, ok, "want a refusal, got %T", m)
	require.Equal(t, code, r.Code, "reason: %s", r.Reason)
	return r
}

// testDialTimeout is the proposers' dial timeout in tests. A dial through
// a few relays of the in-process network takes tens of milliseconds under
// -race, a few hundred on a machine loaded by other tests; no test here
// waits for it to pass.
const testDialTimeout = 10 * time.Second

func newProposer(t *testing.T, c carrier, w *Wallet, name string, timeout time.Duration) *Proposer {
	t.Helper()
	p, err := NewProposer(ProposerConfig{Wallet: w, Key: testKey(name), Dial: c.dial, Timeout: timeout,
		DialTimeout: testDialTimeout, Logger: testLogger(t)})
	require.NoError(t, err)
	return p
}
