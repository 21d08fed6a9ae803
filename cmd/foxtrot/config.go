package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// fileConfig is the config file (TOML; example.toml documents each key).
// TOML because it takes comments, has no indentation to get wrong, and
// BurntSushi/toml reports keys it did not decode, so a misspelt key is
// an error rather than a silent default.
type fileConfig struct {
	Key            string   `toml:"key"`
	Listen         []string `toml:"listen"`
	Peers          []string `toml:"peers"`
	NetworkKey     string   `toml:"network_key"`
	LogLevel       string   `toml:"log_level"`
	Admin          string   `toml:"admin"`
	AdminTCP       string   `toml:"admin_tcp"`
	AdminTokenFile string   `toml:"admin_token_file"`
	Metrics        string   `toml:"metrics"`
	Socks          string   `toml:"socks"`
	Exit           string   `toml:"exit"`
	ExitAllow      []string `toml:"exit_allow"`
	Linger         duration `toml:"linger"`
	EncryptDirect  bool     `toml:"encrypt_direct"`
	HopLimit       uint8    `toml:"hop_limit"`
	// Bootstrap are nodes to join the network through
	// (foxtrot.Config.Bootstrap); DHT true runs the node's DHT even
	// without them, false keeps it off even with them (left out: it runs
	// when Bootstrap is set); TargetPeers is
	// foxtrot.Config.TargetPeers, LANDiscovery
	// foxtrot.Config.LANDiscovery.
	Bootstrap    []string `toml:"bootstrap"`
	DHT          *bool    `toml:"dht"`
	TargetPeers  int      `toml:"target_peers"`
	LANDiscovery bool     `toml:"lan_discovery"`
	// NATPunch is foxtrot.Config.NAT.Punch.
	NATPunch bool `toml:"nat_punch"`
	// UDPCongestion is foxtrot.Config.UDPCongestion.
	UDPCongestion string `toml:"udp_congestion"`
	// Relaying and timing: zero means the library's default (foxtrot.Config).
	RequestRate      float64   `toml:"request_rate"`
	RequestBurst     int       `toml:"request_burst"`
	AcceptBacklog    int       `toml:"accept_backlog"`
	HandshakeTimeout duration  `toml:"handshake_timeout"`
	PingInterval     duration  `toml:"ping_interval"`
	DialTimeout      duration  `toml:"dial_timeout"`
	Services         []service `toml:"service"`
	// Billing is the [billing] section; nil: the node charges and pays
	// nothing.
	Billing *billingConfig `toml:"billing"`
}

// service is a key the node listens on, each connection forwarded to a
// local TCP address (as a Tor onion service forwards to a local port).
type service struct {
	Key     string `toml:"key"`
	Forward string `toml:"forward"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

// exitPrices are the [billing] exit prices: what this exit charges and
// what this node pays its exit, at most (sat/MiB; 0 without billing).
func (c *config) exitPrices() (price, maxPrice uint32) {
	if c.Billing == nil {
		return 0, 0
	}
	return uint32(c.Billing.ExitPrice), uint32(c.Billing.ExitMaxPrice)
}

// config is what the node runs with: the file, then the flags over it.
type config struct {
	fileConfig
	configPath string
	exitOpen   bool // -exit-allow given or exit_allow set, even empty: listen as an exit
	exitAllow  *allowList
	level      slog.Level
	networkKey []byte
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// nodeFlags are the flags of `foxtrot node`; set records which were given.
type nodeFlags struct {
	fs                                                  *flag.FlagSet
	config, key, admin, metrics, socks, exit, exitAllow string
	logLevel, networkKey                                string
	listen, peers                                       listFlag
}

func newNodeFlags(stderr io.Writer) *nodeFlags {
	f := &nodeFlags{fs: flag.NewFlagSet("node", flag.ContinueOnError)}
	f.fs.SetOutput(stderr)
	f.fs.StringVar(&f.config, "config", "", "TOML config `FILE` (flags override it)")
	f.fs.StringVar(&f.key, "key", "", "identity key `FILE`, created on first use")
	f.fs.Var(&f.listen, "listen", "`MULTIADDR` to accept peer links on (repeatable)")
	f.fs.Var(&f.peers, "peer", "`MULTIADDR` of a peer to keep linked (repeatable)")
	f.fs.StringVar(&f.admin, "admin", "", "admin unix socket `PATH`")
	f.fs.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `HOST:PORT`")
	f.fs.StringVar(&f.socks, "socks", "", "serve SOCKS5 on `HOST:PORT`")
	f.fs.StringVar(&f.exit, "exit", "", "foxtrot `ADDRESS` of the exit for internet targets")
	f.fs.StringVar(&f.exitAllow, "exit-allow", "", "be an exit to `HOST:PORT,...` (names, IPs, CIDRs; no port: any)")
	f.fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	f.fs.StringVar(&f.networkKey, "network-key", "", "`FILE` holding the network's pre-shared key (hex)")
	return f
}

// load reads the config file, if any, and lays the flags given over it.
// Relative paths in the file are relative to the file's directory.
func (f *nodeFlags) load() (*config, error) {
	c := &config{configPath: f.config}
	if f.config != "" {
		md, err := toml.DecodeFile(f.config, &c.fileConfig)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadConfig, err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			return nil, fmt.Errorf("%w: %s: unknown key %q", errBadConfig, f.config, u[0].String())
		}
		c.exitOpen = md.IsDefined("exit_allow")
		dir := filepath.Dir(f.config)
		rel := func(p *string) {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
		rel(&c.Key)
		rel(&c.NetworkKey)
		rel(&c.Admin)
		rel(&c.AdminTokenFile)
		for i := range c.Services {
			rel(&c.Services[i].Key)
		}
		if c.Billing != nil {
			c.Billing.resolve(dir)
		}
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	over := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	over("key", &c.Key, f.key)
	over("admin", &c.Admin, f.admin)
	over("metrics", &c.Metrics, f.metrics)
	over("socks", &c.Socks, f.socks)
	over("exit", &c.Exit, f.exit)
	over("log-level", &c.LogLevel, f.logLevel)
	over("network-key", &c.NetworkKey, f.networkKey)
	if set["listen"] {
		c.Listen = f.listen
	}
	if set["peer"] {
		c.Peers = f.peers
	}
	if set["exit-allow"] {
		c.ExitAllow = splitList(f.exitAllow)
		c.exitOpen = true
	}
	return c, c.check()
}

func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// check validates the settings and derives the parsed ones.
func (c *config) check() error {
	if c.Key == "" {
		return fmt.Errorf("%w: no identity key file (-key FILE or key = ... in the config)", errBadConfig)
	}
	if err := c.level.UnmarshalText([]byte(orDefault(c.LogLevel, "info"))); err != nil {
		return fmt.Errorf("%w: log level: %w", errBadConfig, err)
	}
	al, err := parseAllowList(c.ExitAllow)
	if err != nil {
		return err
	}
	c.exitAllow = al
	if c.Exit != "" && c.Socks == "" {
		return fmt.Errorf("%w: -exit needs -socks", errBadConfig)
	}
	if c.Linger.Duration < 0 {
		return fmt.Errorf("%w: negative linger", errBadConfig)
	}
	if c.Linger.Duration == 0 {
		c.Linger.Duration = 3 * time.Second // so Close fits in the 5 s a service manager waits
	}
	if c.Linger.Duration > 4*time.Second {
		return fmt.Errorf("%w: linger over 4s (shutdown must finish within 5s)", errBadConfig)
	}
	if c.AdminTCP != "" && c.AdminTokenFile == "" {
		return fmt.Errorf("%w: admin_tcp needs admin_token_file", errBadConfig)
	}
	for _, s := range c.Services {
		if s.Key == "" || s.Forward == "" {
			return fmt.Errorf("%w: a [[service]] needs key and forward", errBadConfig)
		}
	}
	if c.Billing != nil {
		if err := c.Billing.check(filepath.Dir(c.Key)); err != nil {
			return err
		}
		if c.Billing.ExitPrice > 0 && !c.exitOpen {
			return fmt.Errorf("%w: [billing] exit_price without exit_allow: this node is no exit", errBadConfig)
		}
		if c.Billing.ExitMaxPrice > 0 && c.Exit == "" {
			return fmt.Errorf("%w: [billing] exit_max_price without exit", errBadConfig)
		}
	}
	if c.NetworkKey != "" {
		b, err := os.ReadFile(c.NetworkKey)
		if err != nil {
			return fmt.Errorf("%w: network key: %w", errBadConfig, err)
		}
		if c.networkKey, err = hex.DecodeString(strings.TrimSpace(string(b))); err != nil || len(c.networkKey) == 0 {
			return fmt.Errorf("%w: network key file %s: want hex", errBadConfig, c.NetworkKey)
		}
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
