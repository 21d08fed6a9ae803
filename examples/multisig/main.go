// Command multisig lets the co-signers of an M-of-N P2WSH multisig wallet
// agree on a spend over foxtrot, without a shared server: one proposes a
// PSBT, the others check it, answer with their partial signatures or a
// signed refusal, and the proposer assembles the transaction. The protocol
// is in README.md, the logic in package cosign, and the network in node.go.
//
// Each co-signer's serve runs a foxtrot node and listens on its wallet key,
// so a co-signer's address is the foxtrot address of its key: whoever has
// the wallet file knows every member's address, and propose dials them
// all. -listen and -peer configure the node's peer links (multiaddrs such
// as /ip4/127.0.0.1/tcp/9000); serve prints the full multiaddrs other nodes
// pass as -peer.
//
// Usage:
//
//	multisig keygen -out alice.key
//	multisig pubkey -key alice.key
//	multisig wallet create -m 2 [-network regtest] -out wallet.json PUBKEY...
//	multisig wallet show -wallet wallet.json
//	multisig serve -wallet wallet.json -key bob.key [-listen MULTIADDR]... [-peer MULTIADDR]...
//	        [-approve | -reject [-reason TEXT]]
//	multisig propose -wallet wallet.json -key alice.key -utxos utxos.json \
//	        -pay ADDRESS=SATS [-pay ...] -fee SATS [-memo TEXT] \
//	        -peer MULTIADDR [-peer ...] [-timeout 2m] [-dial-timeout 15s]
//
// serve without -approve or -reject asks on the terminal for each proposal.
// propose prints the co-signers' answers on stderr and the signed
// transaction, in hex, on stdout.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/examples/multisig/cosign"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "multisig:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: multisig <command> [flags]

commands:
  keygen         make a co-signer key file
  pubkey         print a key file's public key
  wallet create  describe an M-of-N wallet from its co-signers' public keys
  wallet show    print a wallet's address and script
  serve          answer proposals as a co-signer, on a foxtrot node
  propose        propose a spend, collect signatures, print the transaction

Co-signers find each other over foxtrot: each listens on its wallet key, at
that key's foxtrot address, so the wallet file is the address book.
"multisig <command> -h" lists a command's flags.
`

// run runs one command; main's only job is to call it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	if cmd == "wallet" && len(args) > 0 {
		cmd, args = "wallet "+args[0], args[1:]
	}
	switch cmd {
	case "keygen":
		return keygen(args, stdout, stderr)
	case "pubkey":
		return pubkey(args, stdout, stderr)
	case "wallet create":
		return walletCreate(args, stdout, stderr)
	case "wallet show":
		return walletShow(args, stdout, stderr)
	case "serve":
		return serve(ctx, args, stdin, stdout, stderr)
	case "propose":
		return propose(ctx, args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "multisig: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

// parse parses a command's flags; bad flags are errUsage.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

func required(stderr io.Writer, fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			fmt.Fprintf(stderr, "multisig %s: -%s is required\n", fs.Name(), n)
			fs.Usage()
			return errUsage
		}
	}
	return nil
}

func keygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "", "key file to create (never overwritten)")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "out"); err != nil {
		return err
	}
	key, err := cosign.GenerateKey()
	if err != nil {
		return err
	}
	if err := cosign.SaveKey(*out, key); err != nil {
		return err
	}
	fmt.Fprintln(stdout, hex.EncodeToString(key.PubKey().SerializeCompressed()))
	return nil
}

func pubkey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pubkey", flag.ContinueOnError)
	keyFile := fs.String("key", "", "key file")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "key"); err != nil {
		return err
	}
	key, err := cosign.LoadKey(*keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, hex.EncodeToString(key.PubKey().SerializeCompressed()))
	return nil
}

func walletCreate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wallet create", flag.ContinueOnError)
	m := fs.Int("m", 0, "signatures a spend needs")
	network := fs.String("network", "regtest", "regtest, testnet or mainnet")
	out := fs.String("out", "", "wallet file to write")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: multisig wallet create -m M [-network regtest] -out FILE PUBKEY...")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "out"); err != nil {
		return err
	}
	net, err := cosign.Network(*network)
	if err != nil {
		return err
	}
	var keys []*btcec.PublicKey
	for _, s := range fs.Args() {
		k, err := cosign.ParsePublicKey(s)
		if err != nil {
			return err
		}
		keys = append(keys, k)
	}
	w, err := cosign.NewWallet(*m, keys, net)
	if err != nil {
		return err
	}
	js, err := w.MarshalJSON()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, w.Address().EncodeAddress())
	return nil
}

func walletShow(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wallet show", flag.ContinueOnError)
	walletFile := fs.String("wallet", "", "wallet file")
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "wallet"); err != nil {
		return err
	}
	w, err := cosign.LoadWallet(*walletFile)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "address        %s\n", w.Address().EncodeAddress())
	fmt.Fprintf(stdout, "policy         %d-of-%d P2WSH\n", w.M(), len(w.Keys()))
	fmt.Fprintf(stdout, "witness script %x\n", w.WitnessScript())
	for i, k := range w.Keys() {
		fmt.Fprintf(stdout, "key %-2d         %x  foxtrot %s\n", i+1, k.SerializeCompressed(), foxtrot.AddrFromPubKey(k))
	}
	return nil
}

// loadIdentity loads a wallet and a key file and checks the key belongs.
func loadIdentity(walletFile, keyFile string) (*cosign.Wallet, *btcec.PrivateKey, error) {
	w, err := cosign.LoadWallet(walletFile)
	if err != nil {
		return nil, nil, err
	}
	key, err := cosign.LoadKey(keyFile)
	if err != nil {
		return nil, nil, err
	}
	if !w.IsMember(key.PubKey()) {
		return nil, nil, fmt.Errorf("%w: the key in %s is not one of %s's keys", cosign.ErrNotMember, keyFile, walletFile)
	}
	return w, key, nil
}

func serve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	walletFile := fs.String("wallet", "", "wallet file")
	keyFile := fs.String("key", "", "this co-signer's key file")
	var listen, peers multiaddrs
	fs.Var(&listen, "listen", "`multiaddr` to take peer links on, such as /ip4/127.0.0.1/tcp/9000 (repeatable)")
	fs.Var(&peers, "peer", "`multiaddr` of a node to link to and keep linked, as another serve printed it (repeatable)")
	approve := fs.Bool("approve", false, "approve every proposal that passes the checks")
	reject := fs.Bool("reject", false, "refuse every proposal")
	reason := fs.String("reason", "declined by operator", "the reason -reject gives")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: multisig serve -wallet FILE -key FILE [-listen MULTIADDR]... [-peer MULTIADDR]...
        [-approve | -reject [-reason TEXT]]

Runs a foxtrot node, listens on the co-signer's wallet key and answers the
proposals sent to that key's foxtrot address. The node needs at least one
peer link: -listen to take links from other nodes (it prints the full
multiaddrs to give them as -peer), -peer to make links, or both. Without
-approve or -reject it asks on the terminal for each proposal.

`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "wallet", "key"); err != nil {
		return err
	}
	if *approve && *reject {
		fmt.Fprintln(stderr, "multisig serve: -approve and -reject exclude each other")
		return errUsage
	}
	if len(listen) == 0 && len(peers) == 0 {
		fmt.Fprintln(stderr, "multisig serve: give -listen, -peer or both, or no proposal can reach this co-signer")
		fs.Usage()
		return errUsage
	}
	w, key, err := loadIdentity(*walletFile, *keyFile)
	if err != nil {
		return err
	}

	out := &lockedWriter{w: stdout}
	var policy cosign.Policy
	switch {
	case *approve:
		policy = announce(out, cosign.Approve)
	case *reject:
		policy = announce(out, cosign.Reject(*reason))
	default:
		policy = newPrompter(ctx, stdin, out).decide
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)) // foxtrot says little above debug level
	c, err := cosign.NewCosigner(cosign.CosignerConfig{Wallet: w, Key: key, Policy: policy, Logger: logger})
	if err != nil {
		return err
	}
	node, err := foxtrot.NewNode(foxtrot.Config{ListenAddrs: listen, Peers: peers, Logger: logger})
	if err != nil {
		return err
	}
	defer node.Close()
	l, err := node.Listen(key)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "co-signer %x of %d-of-%d wallet %s\n",
		key.PubKey().SerializeCompressed(), w.M(), len(w.Keys()), w.Address().EncodeAddress())
	fmt.Fprintf(out, "node %s\n", node.Identity())
	for _, a := range node.ListenAddrs() {
		fmt.Fprintf(out, "peer links on %s\n", a)
	}
	if err := waitForLinks(ctx, node, len(peers), out); err != nil {
		l.Close()
		return nil // interrupted while linking
	}
	fmt.Fprintf(out, "listening on %s\n", l.Addr())
	return c.Serve(ctx, l)
}

// lockedWriter serializes writes from concurrent connections.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(b)
}

// announce prints each proposal and the decision of policy on it.
func announce(out io.Writer, policy cosign.Policy) cosign.Policy {
	return func(ctx context.Context, s *cosign.Summary) (bool, string) {
		ok, reason := policy(ctx, s)
		verdict := "approved"
		if !ok {
			verdict = "refused: " + reason
		}
		fmt.Fprintf(out, "%s=> %s\n\n", s, verdict)
		return ok, reason
	}
}

// prompter asks the operator about each proposal, one at a time.
type prompter struct {
	turn  chan struct{} // held while a proposal is on screen
	lines <-chan string // the operator's answers; closed at end of input
	out   io.Writer
}

func newPrompter(ctx context.Context, in io.Reader, out io.Writer) *prompter {
	lines := make(chan string)
	// The reader lives as long as the process: a read from a terminal
	// cannot be interrupted. It stops at end of input.
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- strings.TrimSpace(sc.Text()):
			case <-ctx.Done():
				return
			}
		}
	}()
	return &prompter{turn: make(chan struct{}, 1), lines: lines, out: out}
}

func (p *prompter) decide(ctx context.Context, s *cosign.Summary) (bool, string) {
	select {
	case p.turn <- struct{}{}:
		defer func() { <-p.turn }()
	case <-ctx.Done():
		return false, "co-signer shutting down"
	}
	fmt.Fprintf(p.out, "%sapprove? [y/N, or type a reason to refuse] ", s)
	select {
	case line, ok := <-p.lines:
		switch {
		case !ok:
			fmt.Fprintln(p.out, "\n=> refused: no operator")
			return false, "no operator at the co-signer"
		case strings.EqualFold(line, "y") || strings.EqualFold(line, "yes"):
			fmt.Fprintln(p.out, "=> approved")
			return true, ""
		case line == "" || strings.EqualFold(line, "n") || strings.EqualFold(line, "no"):
			fmt.Fprintln(p.out, "=> refused")
			return false, "declined by operator"
		default:
			fmt.Fprintln(p.out, "=> refused:", line)
			return false, line
		}
	case <-ctx.Done():
		return false, "co-signer shutting down"
	}
}

// payees collects -pay ADDRESS=SATS flags.
type payees []cosign.Payee

func (p *payees) String() string { return "" }

func (p *payees) Set(s string) error {
	addr, sats, ok := strings.Cut(s, "=")
	n, err := strconv.ParseInt(sats, 10, 64)
	if !ok || addr == "" || err != nil || n <= 0 {
		return fmt.Errorf("want ADDRESS=SATS, got %q", s)
	}
	*p = append(*p, cosign.Payee{Address: addr, Amount: btcutil.Amount(n)})
	return nil
}

func propose(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("propose", flag.ContinueOnError)
	walletFile := fs.String("wallet", "", "wallet file")
	keyFile := fs.String("key", "", "the proposer's key file")
	utxoFile := fs.String("utxos", "", `wallet outputs to spend: [{"txid": "…", "vout": 0, "amount_sat": 100000}]`)
	fee := fs.String("fee", "", "the transaction's fee in `SATS`")
	memo := fs.String("memo", "", "a note for the co-signers")
	timeout := fs.Duration("timeout", cosign.DefaultTimeout, "how long each co-signer has to answer (a person may be deciding)")
	dialTimeout := fs.Duration("dial-timeout", cosign.DefaultDialTimeout,
		"how long to look for each co-signer on the network, and to link to each -peer")
	var pay payees
	var peers multiaddrs
	fs.Var(&pay, "pay", "`ADDRESS=SATS`: pay SATS to ADDRESS; once per payee, in output order")
	fs.Var(&peers, "peer", "`multiaddr` of a foxtrot node to link to, as serve printed it (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: multisig propose -wallet FILE -key FILE -utxos FILE
        -pay ADDRESS=SATS [-pay ...] -fee SATS [-memo TEXT]
        -peer MULTIADDR [-peer ...] [-timeout 2m] [-dial-timeout 15s]

Builds a PSBT spending all the UTXOs in -utxos, signs it, and sends it with
its memo to every other member of the wallet, at the foxtrot address of its
key, through a foxtrot node linked to the -peer nodes. With M signatures
it prints the transaction, in hex, on stdout; the answers go to stderr.

`)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := required(stderr, fs, "wallet", "key", "utxos", "fee", "peer"); err != nil {
		return err
	}
	feeSats, err := strconv.ParseInt(*fee, 10, 64)
	if err != nil || feeSats < 0 {
		fmt.Fprintf(stderr, "multisig propose: -fee wants a number of sat, got %q\n", *fee)
		return errUsage
	}
	w, key, err := loadIdentity(*walletFile, *keyFile)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*utxoFile)
	if err != nil {
		return err
	}
	utxos, err := cosign.ParseUTXOs(data)
	if err != nil {
		return err
	}
	prop, err := cosign.NewProposal(w, key, utxos, cosign.Memo{Payees: pay, Fee: btcutil.Amount(feeSats), Note: *memo})
	if err != nil {
		return err
	}
	s, err := w.CheckProposal(prop)
	if err != nil {
		return err
	}
	fmt.Fprint(stderr, s)

	report := &lockedWriter{w: stderr}
	node, err := foxtrot.NewNode(foxtrot.Config{Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		return err
	}
	defer node.Close()
	if err := linkPeers(ctx, node, peers, *dialTimeout, report); err != nil {
		return err
	}
	asked := cosigners(w, key.PubKey())
	fmt.Fprintf(report, "asking %d co-signer(s)…\n", len(asked))
	p, err := cosign.NewProposer(cosign.ProposerConfig{
		Wallet:      w,
		Key:         key,
		Dial:        dialer(node, report),
		Timeout:     *timeout,
		DialTimeout: *dialTimeout,
	})
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := p.Propose(ctx, prop, asked)
	if res != nil {
		for _, a := range res.Answers {
			fmt.Fprintln(report, "  "+a.String())
		}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(report, "signed by %d of %d after %s; transaction %s passes the script engine\n",
		len(res.Signers), w.M(), time.Since(start).Round(time.Millisecond), res.Tx.TxHash())
	fmt.Fprintln(stdout, res.TxHex())
	return nil
}
