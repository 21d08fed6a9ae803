// Command chat is Foxtrot's chat demo: a chat room that lives at a
// foxtrot address. BitPay's 2014 Foxtrot showed it with "node chat.js"
// (a server that prints its address) and "node chat.js -n NAME -s ADDRESS"
// (a client that joins it); this is the same, with one binary.
//
// Usage:
//
//	chat [-key FILE] [-listen MULTIADDR]... [-peer MULTIADDR]...
//	chat -n NAME -s ADDRESS [-peer MULTIADDR]... [-listen MULTIADDR]...
//
// Without -s, chat is the daemon: it loads its key from -key (default
// chat.key in the current directory; created with mode 0600 if missing;
// the file holds the 32-byte secp256k1 private key as 64 hex characters
// and a newline), listens on it, prints the room's foxtrot address, its
// node's peer multiaddrs and the command that joins the room from another
// terminal, and relays lines between clients until SIGINT or SIGTERM.
//
// With -n and -s, chat is a client: it links to its -peer nodes, dials
// the address, sends NAME, then every line typed, and prints what the
// room says. End of input (^D) leaves the room; so does ^C.
//
// -listen and -peer are multiaddrs (/ip4/127.0.0.1/tcp/9000 and, for a
// peer, optionally /foxtrot/<node address> after it to check whom it
// links to). Without them chat uses $FOXTROT_LISTEN and $FOXTROT_PEERS
// (comma-separated). A daemon with neither listens on
// /ip4/127.0.0.1/tcp/0; a client needs at least one peer.
//
// The protocol and the room's rules (name and line limits, what happens
// to a client that stops reading or floods) are in package chat.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/foxtrotnet/foxtrot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, progName(os.Args[0]), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		// Errors of package chat already say "chat: ".
		fmt.Fprintln(os.Stderr, "chat:", strings.TrimPrefix(err.Error(), "chat: "))
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// progName is how the printed join command names this program: as it was
// run, or, under "go run", as go run can find it.
func progName(arg0 string) string {
	if strings.Contains(arg0, string(filepath.Separator)+"go-build") {
		return "go run github.com/foxtrotnet/foxtrot/examples/chat"
	}
	return arg0
}

const usage = `usage:
  %[1]s [-key FILE] [-listen MULTIADDR]... [-peer MULTIADDR]...           run a chat room
  %[1]s -n NAME -s ADDRESS [-peer MULTIADDR]... [-listen MULTIADDR]...    join one

flags:
`

// run runs the daemon or the client; main's only job is to call it.
func run(ctx context.Context, prog string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("n", "", "your `name` in the room (client)")
	server := fs.String("s", "", "the room's foxtrot `address`, as the daemon printed it (client)")
	keyFile := fs.String("key", "chat.key", "the daemon's key `file`: 64 hex characters, created with mode 0600 if missing")
	nodeKeyFile := fs.String("node-key", "", "the daemon's node identity key `file` (WIF, created if missing; default: -key's name with -node.key)")
	var listen, peers multiaddrs
	fs.Var(&listen, "listen", "`multiaddr` to take peer links on, such as /ip4/127.0.0.1/tcp/9000 (repeatable; default $FOXTROT_LISTEN)")
	fs.Var(&peers, "peer", "`multiaddr` of a node to link to, as the daemon printed it (repeatable; default $FOXTROT_PEERS)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, usage, prog)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	bad := func(msg string) error {
		fmt.Fprintf(stderr, "chat: %s\n", msg)
		fs.Usage()
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case *server == "" && *name != "":
		return bad("-n needs -s, the address of the room to join")
	case *server != "" && *name == "":
		return bad("-s needs -n, your name in the room")
	}
	env := foxtrot.EnvConfig()
	if len(listen) == 0 {
		listen = env.ListenAddrs
	}
	if len(peers) == 0 {
		peers = env.Peers
	}
	if *server == "" {
		if *nodeKeyFile == "" {
			*nodeKeyFile = nodeKeyPath(*keyFile)
		}
		return daemon(ctx, prog, *keyFile, *nodeKeyFile, listen, peers, stdout, stderr)
	}
	return client(ctx, *name, *server, listen, peers, stdin, stdout, stderr)
}

// multiaddrs collects a repeatable multiaddr flag; foxtrot.NewNode checks
// the values.
type multiaddrs []string

func (m *multiaddrs) String() string { return strings.Join(*m, " ") }

func (m *multiaddrs) Set(s string) error {
	*m = append(*m, s)
	return nil
}
