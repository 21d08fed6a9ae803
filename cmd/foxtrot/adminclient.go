package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// defaultAdmin is the admin socket path when -admin is not given.
func defaultAdmin() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d + "/foxtrot.sock"
	}
	return "foxtrot.sock"
}

// cmdAdmin runs an admin subcommand: status, peers, routes, circuits,
// channels, connect, disconnect.
func cmdAdmin(cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("admin", defaultAdmin(), "admin unix socket `PATH`, or tcp:HOST:PORT")
	tokenFile := fs.String("token-file", "", "`FILE` holding the token of a TCP admin address")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	req := adminRequest{Cmd: cmd}
	switch cmd {
	case "connect", "disconnect":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "usage: foxtrot %s [-admin PATH] %s\n", cmd, map[string]string{"connect": "MULTIADDR", "disconnect": "ADDRESS"}[cmd])
			return errUsage
		}
		req.Arg = fs.Arg(0)
	default:
		if fs.NArg() != 0 {
			fs.Usage()
			return errUsage
		}
	}
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		req.Token = strings.TrimSpace(string(b))
	}
	res, err := adminCall(*path, req)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", res)
		return err
	}
	return printTable(stdout, cmd, res)
}

// adminCall sends one request to the admin socket at path (a unix socket,
// or tcp:HOST:PORT) and returns the result.
func adminCall(path string, req adminRequest) (json.RawMessage, error) {
	network, address := "unix", path
	if a, ok := strings.CutPrefix(path, "tcp:"); ok {
		network, address = "tcp", a
	}
	c, err := net.DialTimeout(network, address, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w (is the node running with -admin %s?)", err, path)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(adminDeadline + 5*time.Second))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 64<<20)).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	var resp adminResponse
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, fmt.Errorf("admin socket: bad answer: %w", err)
	}
	if !resp.OK {
		return nil, errors.New(resp.Error)
	}
	return resp.Result, nil
}

// printTable prints a result for people.
func printTable(w io.Writer, cmd string, res json.RawMessage) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	defer tw.Flush()
	ago := func(t time.Time) string { return time.Since(t).Round(time.Second).String() }
	switch cmd {
	case "status":
		var s statusJSON
		if err := json.Unmarshal(res, &s); err != nil {
			return err
		}
		fmt.Fprintf(tw, "address\t%s\n", s.Address)
		for _, a := range s.ListenAddrs {
			fmt.Fprintf(tw, "listening\t%s\n", a)
		}
		for _, a := range s.Listens {
			fmt.Fprintf(tw, "serving\t%s\n", a)
		}
		fmt.Fprintf(tw, "peers\t%d\n", len(s.Peers))
		fmt.Fprintf(tw, "routes\t%d\n", s.Routes)
		fmt.Fprintf(tw, "circuits\t%d\n", s.Circuits)
		if s.Socks != "" {
			fmt.Fprintf(tw, "socks\t%s\n", s.Socks)
		}
		if s.Metrics != "" {
			fmt.Fprintf(tw, "metrics\thttp://%s/metrics\n", s.Metrics)
		}
		if s.Exit != "" {
			fmt.Fprintf(tw, "exit\t%s\n", s.Exit)
		}
		fmt.Fprintf(tw, "exit open\t%v\n", s.ExitOpen)
		fmt.Fprintf(tw, "uptime\t%s\n", (time.Duration(s.Uptime) * time.Second).String())
	case "peers":
		var ps []peerJSON
		if err := json.Unmarshal(res, &ps); err != nil {
			return err
		}
		fmt.Fprintln(tw, "ADDRESS\tDIR\tUP\tRTT\tREQS\tACKS\tCIRCUITS\tRELAYED\tMULTIADDR")
		for _, p := range ps {
			dir := "in"
			if p.Outbound {
				dir = "out"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fms\t%d\t%d\t%d/%d\t%d\t%s\n", p.Address, dir, ago(p.Since), p.RTT,
				p.RequestsSent, p.AcksBack, p.CircuitsOK, p.CircuitsBad, p.BytesRelayed, p.Multiaddr)
		}
	case "routes":
		var rs []routeJSON
		if err := json.Unmarshal(res, &rs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "TARGET\tNEXT HOP\tHOPS\tLATENCY\tOK\tFAILED\tPRICE\tUPDATED")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.1fms\t%d\t%d\t%d\t%s ago\n", r.Target, r.NextHop, r.Hops, r.Latency,
				r.Successes, r.Failures, r.Price, ago(r.Updated))
		}
	case "circuits":
		var c circuitsJSON
		if err := json.Unmarshal(res, &c); err != nil {
			return err
		}
		fmt.Fprintf(tw, "active\t%d\nrelayed\t%d\nbytes relayed\t%d\nfailovers\t%d\n\n", c.Active, c.Relayed, c.BytesRelayed, c.Failovers)
		fmt.Fprintln(tw, "PEER\tOK\tBROKE\tBYTES")
		for _, p := range c.PerPeer {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", p.Address, p.OK, p.Broke, p.BytesRelayed)
		}
		fmt.Fprintln(tw, "\nCIRCUIT\tFROM\tTO\tAGE\tSENT\tRECEIVED\tPRICE")
		for _, r := range c.List {
			price := "-"
			if r.Billed {
				price = fmt.Sprint(r.Price)
			}
			fmt.Fprintf(tw, "%.8s/%d\t%s\t%s\t%s\t%d\t%d\t%s\n", r.ID, r.Path, r.From, r.To,
				(time.Duration(r.Age) * time.Second).String(), r.Sent, r.Received, price)
		}
		if more := c.ListTotal - len(c.List); more > 0 {
			fmt.Fprintf(tw, "(%d more not listed)\n", more)
		}
	case "channels":
		var cs []channelJSON
		if err := json.Unmarshal(res, &cs); err != nil {
			return err
		}
		fmt.Fprintln(tw, "PEER\tPHASE\tREADY\tLOCAL\tREMOTE\tEARNED\tPAID\tOWED TO US\tOWED BY US\tCUT OFF")
		for _, c := range cs {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%v\n", c.Peer, c.Phase, c.Ready, c.Local, c.Remote,
				c.PaidToUs, c.PaidByUs, c.OwedToUs, c.OwedByUs, c.CutOff)
		}
	default:
		var m map[string]string
		if err := json.Unmarshal(res, &m); err != nil {
			return err
		}
		for k, v := range m {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	return nil
}
