// Command foxtrot runs and watches a foxtrot node.
//
//	foxtrot keygen -o FILE [-stealth]     write a new key file (WIF, mode 0600)
//	foxtrot addr FILE                     print a key file's address (sp1 for a stealth file)
//	foxtrot node [-config FILE] -key FILE [-listen MULTIADDR]... [-peer MULTIADDR]...
//	             [-admin PATH] [-metrics HOST:PORT] [-socks HOST:PORT [-exit ADDRESS]]
//	             [-exit-allow HOST:PORT,...]
//	foxtrot status|peers|routes|circuits|channels [-admin PATH] [-json]
//	foxtrot connect -admin PATH MULTIADDR
//	foxtrot disconnect -admin PATH ADDRESS
//
// # Node
//
// `foxtrot node` reads an optional TOML config file (example.toml in this
// directory documents every key); flags override it. The identity key
// file is created on first run and reused, so the node's address survives
// restarts. SIGINT and SIGTERM close the node (connections linger for
// the config's linger, 3s by default) and exit 0 within 5 s; SIGHUP
// re-reads the config file and applies the log level, the exit
// allow-list and new peers (linked once at reload; a restart keeps them
// linked). Everything else needs a restart.
//
// # Admin socket
//
// The node answers on a unix socket (-admin PATH, mode 0600: the file's
// permissions are the only access control; a stale socket is removed at
// start, the socket is removed on exit) and optionally on a loopback TCP
// address with a token (admin_tcp and admin_token_file in the config).
// One request per connection: the client writes one JSON object on one
// line, at most 64 KiB,
//
//	{"cmd": "status", "arg": "", "token": ""}
//
// and the node answers one JSON object on one line, then closes:
//
//	{"ok": true, "result": {...}}   or   {"ok": false, "error": "..."}
//
// cmd is status, peers, routes, circuits, channels, connect (arg: a
// multiaddr) or disconnect (arg: a peer's address). token is required on
// TCP and ignored on the unix socket. The subcommands print the result
// as a table, or as the JSON result with -json; status's JSON has
// "address" and "peers" (a list of objects with "address"); circuits'
// has "list", the circuits relayed now (oldest first, at most 1000; each
// with "id", "path", "from", "to", "age_s", "sent", "received", "price",
// "billed"), and "list_total".
//
// # Metrics
//
// With -metrics HOST:PORT the node serves Prometheus metrics at
// /metrics, read from the node's counters at each scrape: links,
// circuits, bytes relayed, SOCKS dials by outcome, failovers, handshake
// failures, billing earned and paid. No metric has a per-peer label.
//
// # SOCKS5 gateway and exit
//
// With -socks HOST:PORT the node is a SOCKS5 server (RFC 1928, CONNECT,
// no authentication). A target given as a domain name that is a foxtrot
// address (1..., or 66 hex) or a stealth address (sp1/tsp1) is dialled
// over foxtrot; its port is ignored (a foxtrot key is a whole host and
// port). Any other name or IP goes, with -exit ADDRESS, to that exit
// node over a foxtrot connection that starts with the exit header of
// SPEC.md's "SOCKS exit" section; names are resolved at the exit, never
// at the client. A node with -exit-allow listens on its own identity key
// as an exit and connects out only to targets its allow-list names.
//
// # Billing
//
// A [billing] section in the config makes the node charge for what it
// relays and pay for the paths it uses, over payment channels settled on
// a btcd node ([billing.chain]); wallet_key names a WIF key file whose
// P2WPKH coins fund the channels it opens (channel/rpcwallet). Without a
// wallet the node charges but cannot pay, and logs so at start. An exit
// with exit_price charges the clients linked to it per MiB it carries;
// a client pays its exit up to exit_max_price (the version 2 exit
// header). Mistakes (a price without a chain, max_price without a
// wallet, plain HTTP to a remote btcd...) stop the node at start with
// the key named.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process's exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "keygen":
		err = cmdKeygen(rest, stdout, stderr)
	case "addr":
		err = cmdAddr(rest, stdout, stderr)
	case "node":
		err = cmdNode(rest, stderr)
	case "status", "peers", "routes", "circuits", "channels", "connect", "disconnect":
		err = cmdAdmin(cmd, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "foxtrot: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h: the flag package printed the help
	}
	if err != nil {
		if err != errUsage {
			fmt.Fprintf(stderr, "foxtrot %s: %v\n", cmd, err)
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  foxtrot keygen -o FILE [-stealth]
  foxtrot addr FILE
  foxtrot node [-config FILE] -key FILE [-listen MULTIADDR]... [-peer MULTIADDR]...
               [-admin PATH] [-metrics HOST:PORT] [-socks HOST:PORT [-exit ADDRESS]]
               [-exit-allow HOST:PORT,...] [-log-level LEVEL] [-network-key FILE]
  foxtrot status|peers|routes|circuits|channels [-admin PATH] [-json]
  foxtrot connect [-admin PATH] MULTIADDR
  foxtrot disconnect [-admin PATH] ADDRESS
`)
}
