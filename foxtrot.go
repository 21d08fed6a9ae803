// Package foxtrot is a network in which an endpoint is a secp256k1 public
// key instead of an IP address. A program listens on a key and dials an
// address, and gets what it knows from package net: a net.Listener and a
// net.Conn, so existing code (net/http, ssh, gRPC) runs over it unchanged.
//
// # Overview
//
// An address is HASH160 of a compressed public key in Base58Check, like a
// Bitcoin P2PKH address (see Addr). Nodes link to each other over ordinary
// transports (TCP, UDP, or the in-process mem transport for tests), encrypted
// and authenticated hop by hop with Noise in the manner of Lightning's
// BOLT 8 (package peer). To reach an address a node floods a signed
// connect request through its peers; the node that listens on the key
// answers along the reverse path, each relay on the way records the
// circuit, and the connection's bytes then flow through those relays,
// encrypted end to end so a relay sees neither the data nor who is
// calling (package route).
//
// A node may also listen on a stealth address (ListenStealth): a BIP-352
// silent payment address, sp1..., that a wallet receives payments on too.
// Each dial to it goes to a one-time key that only the address's keys can
// answer for, so relays cannot link two connections to one address
// (package stealth); a listener may advertise its scan key's fingerprint
// so requests find it without a flood (StealthOptions.Advertise).
//
// # Usage
//
//	node, err := foxtrot.NewNode(foxtrot.Config{
//		ListenAddrs: []string{"/ip4/0.0.0.0/tcp/9000"},
//		Peers:       []string{"/ip4/203.0.113.7/tcp/9000/foxtrot/1Abc..."},
//	})
//	key, _ := foxtrot.GenerateKey()
//	l, _ := node.Listen(key)          // net.Listener on key's address
//	http.Serve(l, handler)            // anything that takes a listener
//
//	c, _ := node.Dial("1Abc...")      // net.Conn to whoever holds that key
//	client := &http.Client{Transport: &http.Transport{DialContext: node.DialContext}}
//
// Package-level Listen and Dial use a default node configured from the
// environment (FOXTROT_LISTEN, FOXTROT_PEERS), so replacing net.Dial with
// foxtrot.Dial is often the whole port, even at program start: a dial made
// before the node's first peer link is up waits for one within its
// timeout. Node.WaitReady blocks until the node has a link, for programs
// that want to know.
//
// # gRPC
//
// gRPC dials through a function, with the "passthrough:///" scheme so that
// the address reaches it untouched (the default "dns" scheme would try to
// resolve it); the server serves any foxtrot listener:
//
//	cc, err := grpc.NewClient("passthrough:///"+address,
//		grpc.WithTransportCredentials(insecure.NewCredentials()), // encrypted end to end already
//		grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) {
//			return node.DialContext(ctx, "foxtrot", a)
//		}))
//	go grpcServer.Serve(l)
//
// # Operating a node
//
// At Info level a node logs what an operator needs: peer links up and
// down (with the reason), the peers it cannot reach (a Warn on the 1st,
// 2nd, 4th, 8th... failed attempt in a row, not one per attempt), and the
// addresses and keys it listens on; everything else is Debug.
// Stats.Unlinked lists the Config.Peers that have no link, with their
// failed attempts and last error.
//
// # Security
//
// Peer links are authenticated both ways: a multiaddr ending in
// /foxtrot/<66-hex key> is dialled with BOLT 8's Noise_XK, one ending in
// /foxtrot/<address> with Noise_XX and the key checked against the
// address before this node reveals its own. An optional network key makes
// a node silent to anyone who does not hold it. Over UDP every datagram is
// also keyed, by the network key or the responder's public key (so a UDP
// peer is named by its 66-hex key unless there is a network key), and
// reads as random bytes; one that does not authenticate or is a replay
// gets no answer (packages transport/quic and transport/obfs). Connections are encrypted
// end to end with AES-256-GCM under keys from ECDH of both ends' ephemeral
// keys, bound to the target's key, which signs the exchange, so no relay
// can swap it, and the dialler proves its own identity inside the
// encryption, so relays do not learn who calls whom. A connection without
// relays, once both ends have checked that it runs inside the peer link
// between their two nodes, relies on that link's encryption rather than
// encrypting every byte twice (Config.EncryptDirect keeps both). A relay that alters,
// drops or reorders bytes ends the connection (route.ErrTampered); it
// cannot make either end accept altered data. Connect requests are rate
// limited per peer, deduplicated, and refused outside a clock-skew window.
// What relays do learn: that some connection runs through them, to which
// address (the request names it), and its timing and volume.
//
// # Concurrency
//
// Node, Listener and Conn are safe for concurrent use. A Conn allows one
// concurrent Read and one concurrent Write as net.Conn does (more are
// serialised). Close on any of them is idempotent and unblocks every call
// blocked on it; Node.Close waits for all of the node's goroutines.
package foxtrot

import (
	"net"
	"os"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

var defaultNode struct {
	mu   sync.Mutex
	node *Node
}

// DefaultNode returns the node that package-level Listen and Dial use,
// creating it on first use from the environment: FOXTROT_LISTEN and
// FOXTROT_PEERS hold comma-separated multiaddrs (Config.ListenAddrs and
// Config.Peers). Its identity is fresh each run.
func DefaultNode() (*Node, error) {
	defaultNode.mu.Lock()
	defer defaultNode.mu.Unlock()
	if defaultNode.node != nil {
		return defaultNode.node, nil
	}
	n, err := NewNode(EnvConfig())
	if err != nil {
		return nil, err
	}
	defaultNode.node = n
	return n, nil
}

// CloseDefaultNode closes the default node, if one was created; the next
// package-level call creates a new one.
func CloseDefaultNode() error {
	defaultNode.mu.Lock()
	n := defaultNode.node
	defaultNode.node = nil
	defaultNode.mu.Unlock()
	if n == nil {
		return nil
	}
	return n.Close()
}

// EnvConfig returns a Config whose ListenAddrs and Peers come from the
// environment: FOXTROT_LISTEN and FOXTROT_PEERS, comma-separated
// multiaddrs. It is what DefaultNode uses; programs that take flags can
// fall back to it.
func EnvConfig() Config {
	return Config{ListenAddrs: splitEnv("FOXTROT_LISTEN"), Peers: splitEnv("FOXTROT_PEERS")}
}

func splitEnv(name string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Listen listens on key with the default node (see DefaultNode).
func Listen(key *btcec.PrivateKey) (net.Listener, error) {
	n, err := DefaultNode()
	if err != nil {
		return nil, err
	}
	return n.Listen(key)
}

// Dial dials a foxtrot address with the default node (see DefaultNode).
func Dial(address string) (net.Conn, error) {
	n, err := DefaultNode()
	if err != nil {
		return nil, err
	}
	return n.Dial(address)
}
