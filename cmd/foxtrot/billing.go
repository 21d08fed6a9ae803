package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/rpcchain"
	"github.com/foxtrotnet/foxtrot/channel/rpcwallet"
	"github.com/foxtrotnet/foxtrot/route"
)

// billingConfig is the [billing] section: what the node charges and
// pays, the btcd node channels are settled on, and the wallet that funds
// the channels it opens (example.toml documents each key).
type billingConfig struct {
	Price            uint64      `toml:"price"`
	MaxPrice         uint64      `toml:"max_price"`
	Chunk            int64       `toml:"chunk"`
	CreditLimit      int64       `toml:"credit_limit"`
	ChannelAmount    int64       `toml:"channel_amount"`
	MinConfirmations uint32      `toml:"min_confirmations"`
	PollInterval     duration    `toml:"poll_interval"`
	Dir              string      `toml:"dir"`
	WalletKey        string      `toml:"wallet_key"`
	WalletCoins      []string    `toml:"wallet_coins"`
	FeeRate          int64       `toml:"fee_rate"`
	ExitPrice        uint64      `toml:"exit_price"`
	ExitMaxPrice     uint64      `toml:"exit_max_price"`
	Chain            chainConfig `toml:"chain"`

	// Derived by check.
	rpc   rpcchain.Config
	coins []btcwire.OutPoint
}

// chainConfig is [billing.chain]: a btcd JSON-RPC endpoint.
type chainConfig struct {
	Host         string `toml:"host"`
	User         string `toml:"user"`
	Password     string `toml:"password"`
	PasswordFile string `toml:"password_file"`
	Cert         string `toml:"cert"`
	NoTLS        bool   `toml:"notls"`
}

// resolve makes the section's paths relative to dir (the config file's).
func (b *billingConfig) resolve(dir string) {
	for _, p := range []*string{&b.Dir, &b.WalletKey, &b.Chain.PasswordFile, &b.Chain.Cert} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// check validates the section and reads its files (password, cert);
// keyDir is where the channel state goes without dir.
func (b *billingConfig) check(keyDir string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: [billing] %s", errBadConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case b.Chunk < 0, b.CreditLimit < 0, b.ChannelAmount < 0, b.FeeRate < 0, b.PollInterval.Duration < 0:
		return bad("chunk, credit_limit, channel_amount, fee_rate and poll_interval cannot be negative")
	case b.Chain.Host == "":
		return bad("needs chain.host, the btcd JSON-RPC address its channels are settled on")
	case b.MaxPrice > 0 && b.WalletKey == "":
		return bad("max_price needs wallet_key: paying opens channels funded from the wallet")
	case b.ExitMaxPrice > 0 && b.WalletKey == "":
		return bad("exit_max_price needs wallet_key: paying an exit opens a channel funded from the wallet")
	case b.ExitPrice > billing.MaxRate || b.ExitMaxPrice > billing.MaxRate:
		return bad("exit_price and exit_max_price are at most %d sat/MiB", billing.MaxRate)
	case b.WalletKey == "" && len(b.WalletCoins) > 0:
		return bad("wallet_coins without wallet_key")
	case b.FeeRate != 0 && b.FeeRate < int64(channel.MinRelayFeeRate):
		return bad("fee_rate %d sat/kvB is under the relay minimum %d", b.FeeRate, channel.MinRelayFeeRate)
	case b.Chain.Password != "" && b.Chain.PasswordFile != "":
		return bad("chain.password and chain.password_file both set")
	case b.Chain.NoTLS && b.Chain.Cert != "":
		return bad("chain.notls and chain.cert both set")
	case !b.Chain.NoTLS && b.Chain.Cert == "":
		return bad("chain.cert (btcd's rpc.cert) is required, or chain.notls for a btcd on loopback")
	}
	if b.Chain.NoTLS {
		host, _, err := net.SplitHostPort(b.Chain.Host)
		if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return bad("chain.notls is allowed only to a loopback host:port, not %q", b.Chain.Host)
		}
	}
	b.rpc = rpcchain.Config{Host: b.Chain.Host, User: b.Chain.User, Pass: b.Chain.Password, NoTLS: b.Chain.NoTLS,
		PollInterval: b.PollInterval.Duration}
	if b.Chain.PasswordFile != "" {
		p, err := os.ReadFile(b.Chain.PasswordFile)
		if err != nil {
			return bad("chain.password_file: %v", err)
		}
		b.rpc.Pass = strings.TrimSpace(string(p))
	}
	if b.Chain.Cert != "" {
		c, err := os.ReadFile(b.Chain.Cert)
		if err != nil {
			return bad("chain.cert: %v", err)
		}
		b.rpc.Certificates = c
	}
	b.coins = nil
	for _, s := range b.WalletCoins {
		op, err := parseOutPoint(s)
		if err != nil {
			return bad("wallet_coins: %v", err)
		}
		b.coins = append(b.coins, op)
	}
	if b.Dir == "" {
		b.Dir = filepath.Join(keyDir, "channels")
	}
	return nil
}

// parseOutPoint parses TXID:VOUT.
func parseOutPoint(s string) (btcwire.OutPoint, error) {
	id, vout, ok := strings.Cut(s, ":")
	if !ok {
		return btcwire.OutPoint{}, fmt.Errorf("%q: want TXID:VOUT", s)
	}
	h, err := chainhash.NewHashFromStr(id)
	if err != nil || len(id) != 2*chainhash.HashSize {
		return btcwire.OutPoint{}, fmt.Errorf("%q: bad transaction ID", s)
	}
	n, err := strconv.ParseUint(vout, 10, 32)
	if err != nil {
		return btcwire.OutPoint{}, fmt.Errorf("%q: bad output index", s)
	}
	return btcwire.OutPoint{Hash: *h, Index: uint32(n)}, nil
}

// startBilling connects to btcd and opens the wallet: the node's
// route.Billing and the chain client to close after the node. Without
// wallet_key the node charges but cannot pay, which it logs.
func startBilling(ctx context.Context, b *billingConfig, log *slog.Logger) (*route.Billing, *rpcchain.Chain, error) {
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("billing: %w", err)
	}
	chain, err := rpcchain.New(b.rpc)
	if err != nil {
		return nil, nil, fmt.Errorf("billing: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	h, err := chain.Height(ctx)
	if err != nil {
		chain.Close()
		return nil, nil, fmt.Errorf("billing: btcd at %s: %w", b.Chain.Host, err)
	}
	cfg := &route.Billing{Price: b.Price, MaxPrice: b.MaxPrice, Chunk: b.Chunk, CreditLimit: b.CreditLimit,
		ChannelAmount: btcutil.Amount(b.ChannelAmount), MinConfirmations: b.MinConfirmations,
		PollInterval: b.PollInterval.Duration, Dir: b.Dir, Chain: chain}
	if b.WalletKey == "" {
		log.Info("billing: no wallet_key: this node charges for what it relays but cannot pay; it opens no channels, so its dials take free paths only and it cannot relay onto priced relays",
			"price", b.Price, "btcd", b.Chain.Host, "height", h, "dir", b.Dir)
		return cfg, chain, nil
	}
	key, err := foxtrot.LoadKey(b.WalletKey)
	if err != nil {
		chain.Close()
		return nil, nil, fmt.Errorf("billing: wallet_key: %w", err)
	}
	w, err := rpcwallet.New(ctx, chain, rpcwallet.Config{Key: key, Coins: b.coins, FeeRate: channel.FeeRate(b.FeeRate)})
	if err != nil {
		chain.Close()
		return nil, nil, fmt.Errorf("billing: wallet: %w", err)
	}
	bal, err := w.Balance(ctx)
	if err != nil {
		chain.Close()
		if errors.Is(err, rpcchain.ErrNoAddrIndex) {
			return nil, nil, fmt.Errorf("billing: wallet: %w, or list the wallet's coins in wallet_coins", err)
		}
		return nil, nil, fmt.Errorf("billing: wallet: %w", err)
	}
	cfg.Wallet = w
	log.Info("billing on", "price", b.Price, "max_price", b.MaxPrice, "btcd", b.Chain.Host, "height", h,
		"wallet", w.Address().EncodeAddress(), "balance_sat", int64(bal), "dir", b.Dir)
	return cfg, chain, nil
}
