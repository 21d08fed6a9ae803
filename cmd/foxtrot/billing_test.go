package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadConfig writes text as node.toml in a fresh directory and loads it
// as `foxtrot node -config` would.
func loadConfig(t *testing.T, text string) (*config, string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	f := newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", path}))
	c, err := f.load()
	return c, dir, err
}

func TestBillingSectionLoadsWithPathsBesideTheConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pw"), []byte("s3cret\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "rpc.cert"), []byte("PEM"), 0o600))
	require.NoError(t, os.WriteFile(path, []byte(`
key = "keys/id.key"
[billing]
price = 30
max_price = 100
chunk = 500
credit_limit = 3000
channel_amount = 200000
min_confirmations = 3
poll_interval = "250ms"
wallet_key = "wallet.key"
wallet_coins = ["4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:1"]
fee_rate = 3000
[billing.chain]
host = "btcd.example:8334"
user = "u"
password_file = "pw"
cert = "rpc.cert"
`), 0o600))
	f := newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", path}))
	c, err := f.load()
	require.NoError(t, err)
	b := c.Billing
	require.NotNil(t, b)
	require.Equal(t, uint64(30), b.Price)
	require.Equal(t, uint64(100), b.MaxPrice)
	require.Equal(t, int64(500), b.Chunk)
	require.Equal(t, int64(3000), b.CreditLimit)
	require.Equal(t, int64(200000), b.ChannelAmount)
	require.Equal(t, uint32(3), b.MinConfirmations)
	require.Equal(t, "250ms", b.PollInterval.String())
	require.Equal(t, filepath.Join(dir, "wallet.key"), b.WalletKey)
	require.Equal(t, filepath.Join(dir, "keys", "channels"), b.Dir, "default: beside the key file")
	require.Equal(t, "s3cret", b.rpc.Pass, "read from password_file")
	require.Equal(t, []byte("PEM"), b.rpc.Certificates)
	require.Equal(t, "btcd.example:8334", b.rpc.Host)
	require.False(t, b.rpc.NoTLS)
	require.Len(t, b.coins, 1)
	require.Equal(t, uint32(1), b.coins[0].Index)
	require.Equal(t, "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", b.coins[0].Hash.String())

	c, _, err = loadConfig(t, "key = \"id.key\"\n[billing]\nprice = 5\ndir = \"state\"\n[billing.chain]\nhost = \"127.0.0.1:18334\"\nnotls = true\n")
	require.NoError(t, err, "a node that charges needs no wallet")
	require.True(t, strings.HasSuffix(c.Billing.Dir, string(filepath.Separator)+"state"))
	require.True(t, c.Billing.rpc.NoTLS)

	c, _, err = loadConfig(t, "key = \"id.key\"\n")
	require.NoError(t, err)
	require.Nil(t, c.Billing, "no section: no billing")
}

func TestBillingSectionMistakesAreNamedAtStartup(t *testing.T) {
	const chain = "\n[billing.chain]\nhost = \"127.0.0.1:18334\"\nnotls = true\n"
	for name, c := range map[string]struct{ text, says string }{
		"price without a chain":   {"[billing]\nprice = 30\n", "chain.host"},
		"pay without a wallet":    {"[billing]\nmax_price = 10" + chain, "max_price needs wallet_key"},
		"coins without a wallet":  {"[billing]\nwallet_coins = [\"4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:0\"]" + chain, "wallet_coins without wallet_key"},
		"plain http to a remote":  {"[billing]\n[billing.chain]\nhost = \"192.0.2.1:8334\"\nnotls = true\n", "loopback"},
		"no cert and no notls":    {"[billing]\n[billing.chain]\nhost = \"192.0.2.1:8334\"\n", "chain.cert"},
		"cert and notls":          {"[billing]\n[billing.chain]\nhost = \"127.0.0.1:1\"\nnotls = true\ncert = \"x\"\n", "both set"},
		"two passwords":           {"[billing]\n[billing.chain]\nhost = \"127.0.0.1:1\"\nnotls = true\npassword = \"a\"\npassword_file = \"b\"\n", "both set"},
		"missing password file":   {"[billing]\n[billing.chain]\nhost = \"127.0.0.1:1\"\nnotls = true\npassword_file = \"nope\"\n", "password_file"},
		"negative chunk":          {"[billing]\nchunk = -1" + chain, "negative"},
		"fee under relay minimum": {"[billing]\nfee_rate = 500\nwallet_key = \"w\"" + chain, "relay minimum"},
		"bad outpoint":            {"[billing]\nwallet_key = \"w\"\nwallet_coins = [\"abc:0\"]" + chain, "wallet_coins"},
		"bad output index":        {"[billing]\nwallet_key = \"w\"\nwallet_coins = [\"4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b:x\"]" + chain, "output index"},
		"misspelt key":            {"[billing]\nprise = 30" + chain, "prise"},
		"exit price but no exit":  {"[billing]\nexit_price = 30" + chain, "exit_price without exit_allow"},
		"exit max but no exit":    {"[billing]\nexit_max_price = 30\nwallet_key = \"w\"" + chain, "exit_max_price without exit"},
		"exit max but no wallet":  {"exit = \"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH\"\nsocks = \"127.0.0.1:0\"\n[billing]\nexit_max_price = 30" + chain, "exit_max_price needs wallet_key"},
		"exit price too high":     {"exit_allow = []\n[billing]\nexit_price = 99999999999" + chain, "at most"},
		"misspelt chain key":      {"[billing]" + chain + "pasword = \"x\"\n", "pasword"},
	} {
		_, _, err := loadConfig(t, "key = \"id.key\"\n"+c.text)
		require.ErrorIs(t, err, errBadConfig, name)
		require.ErrorContains(t, err, c.says, name)
	}
}

// The example's [billing] section, uncommented, is a valid config: every
// key it documents exists.
func TestExampleBillingSectionLoadsUncommented(t *testing.T) {
	b, err := os.ReadFile("example.toml")
	require.NoError(t, err)
	var out []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "# [billing]") {
			in = true
		}
		if in && strings.HasPrefix(line, "# ") {
			body := strings.TrimPrefix(line, "# ")
			if strings.HasPrefix(body, "[") || strings.Contains(body, " = ") && !strings.Contains(body, "`") {
				line = body
			}
		}
		out = append(out, line)
	}
	text := strings.Join(out, "\n")
	require.Contains(t, text, "\n[billing.chain]\n")
	// The example uses TLS with a password file: make the files.
	dir := t.TempDir()
	for _, f := range []string{"btcd.password", "rpc.cert"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600))
	}
	path := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	f := newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", path}))
	c, err := f.load()
	require.NoError(t, err)
	require.NotNil(t, c.Billing)
	require.Equal(t, uint64(30), c.Billing.Price)
	require.Len(t, c.Billing.coins, 1)
	require.Equal(t, "127.0.0.1:8334", c.Billing.rpc.Host)

	// Exit prices: an exit charging, a client paying its exit.
	c, _, err = loadConfig(t, "key = \"id.key\"\nexit_allow = []\n[billing]\nexit_price = 40\n[billing.chain]\nhost = \"127.0.0.1:1\"\nnotls = true\n")
	require.NoError(t, err)
	price, maxPrice := c.exitPrices()
	require.Equal(t, uint32(40), price)
	require.Zero(t, maxPrice)
	c, _, err = loadConfig(t, "key = \"id.key\"\nsocks = \"127.0.0.1:0\"\nexit = \"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH\"\n[billing]\nexit_max_price = 50\nwallet_key = \"w.key\"\n[billing.chain]\nhost = \"127.0.0.1:1\"\nnotls = true\n")
	require.NoError(t, err)
	price, maxPrice = c.exitPrices()
	require.Zero(t, price)
	require.Equal(t, uint32(50), maxPrice)
}
