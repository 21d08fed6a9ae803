package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/stealth"
)

func TestAllowListPermitsOnlyWhatItNames(t *testing.T) {
	al, err := parseAllowList([]string{"example.com:443", "Files.Example.org", "127.0.0.1:8080", "10.0.0.0/8", "[::1]:22", "any.test:*"})
	require.NoError(t, err)
	for _, c := range []struct {
		host string
		port uint16
		ok   bool
	}{
		{"example.com", 443, true}, {"EXAMPLE.COM.", 443, true}, {"example.com", 80, false},
		{"www.example.com", 443, false}, {"files.example.org", 1, true}, {"127.0.0.1", 8080, true},
		{"127.0.0.1", 80, false}, {"10.200.3.4", 5, true}, {"11.0.0.1", 5, false}, {"::1", 22, true},
		{"::1", 23, false}, {"any.test", 9, true}, {"::ffff:10.0.0.1", 1, true},
	} {
		require.Equal(t, c.ok, al.allows(c.host, c.port), "%s:%d", c.host, c.port)
	}
	empty, err := parseAllowList(nil)
	require.NoError(t, err)
	require.False(t, empty.allows("127.0.0.1", 80), "the default allows nothing")
	for _, bad := range []string{"", "bad host:80", "example.com:99999", "example.com:x"} {
		_, err := parseAllowList([]string{bad})
		require.ErrorIs(t, err, errBadConfig, bad)
	}
}

func TestExitHeaderRoundTrips(t *testing.T) {
	b, err := appendExitHeader(nil, exitHeader{host: "example.com", port: 443})
	require.NoError(t, err)
	require.Equal(t, []byte{1, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb}, b, "SPEC.md's example")
	h, err := readExitHeader(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, exitHeader{host: "example.com", port: 443}, h)
	_, err = appendExitHeader(nil, exitHeader{host: strings.Repeat("a", 256), port: 1})
	require.ErrorIs(t, err, errBadExitHeader)

	paid := exitHeader{host: "example.com", port: 443, paid: true, maxPrice: 100}
	b, err = appendExitHeader(nil, paid)
	require.NoError(t, err)
	require.Equal(t, []byte{2, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x01, 0xbb, 0, 0, 0, 100}, b, "SPEC.md's version 2 example")
	h, err = readExitHeader(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, paid, h)
	_, err = readExitHeader(bytes.NewReader(b[:len(b)-1]))
	require.ErrorIs(t, err, errBadExitHeader, "a version 2 header without its price")
}

func TestSOCKSRequestDecodesEachAddressType(t *testing.T) {
	for name, c := range map[string]struct {
		in   []byte
		host string
	}{
		"ipv4":   {[]byte{5, 1, 0, 1, 127, 0, 0, 1, 0, 80}, "127.0.0.1"},
		"ipv6":   {[]byte{5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80}, "::1"},
		"domain": {append(append([]byte{5, 1, 0, 3, 5}, "a.com"...), 0, 80), "a.com"},
	} {
		req, err := readRequest(bytes.NewReader(c.in))
		require.NoError(t, err, name)
		require.Equal(t, c.host, req.host, name)
		require.Equal(t, uint16(80), req.port, name)
	}
	_, err := readRequest(bytes.NewReader([]byte{5, 2, 0, 1, 1, 2, 3, 4, 0, 80}))
	var re *errSOCKSReply
	require.ErrorAs(t, err, &re)
	require.Equal(t, byte(repCmdNotSupported), re.code, "BIND is refused with 0x07")
	_, err = readRequest(bytes.NewReader([]byte{5, 1, 0, 7}))
	require.ErrorAs(t, err, &re)
	require.Equal(t, byte(repAddrNotSupported), re.code)
}

func TestStealthKeyFileRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.key")
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"keygen", "-stealth", "-o", path}, &out, os.Stderr))
	k, err := loadStealthKeys(path)
	require.NoError(t, err)
	require.Equal(t, k.Address().String()+"\n", out.String())
	out.Reset()
	require.Equal(t, 0, run([]string{"addr", path}, &out, os.Stderr))
	require.True(t, strings.HasPrefix(out.String(), "sp1"))
	_, err = stealth.ParseAddress(strings.TrimSpace(out.String()))
	require.NoError(t, err)

	_, err = parseStealthKeys(strings.NewReader("scan x\nspend y\n"))
	require.ErrorIs(t, err, errBadStealthFile)
	_, err = parseStealthKeys(strings.NewReader("scan " + foxtrot.EncodeKey(k.ScanKey()) + "\n"))
	require.ErrorIs(t, err, errBadStealthFile)
}

func TestAddrPrintsTheKeyFilesAddressAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id.key")
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"keygen", "-o", path}, &out, os.Stderr))
	k, err := foxtrot.LoadKey(path)
	require.NoError(t, err)
	out.Reset()
	require.Equal(t, 0, run([]string{"addr", path}, &out, os.Stderr))
	require.Equal(t, foxtrot.AddrFromPubKey(k.PubKey()).String()+"\n", out.String())
	require.Equal(t, 1, run([]string{"keygen", "-o", path}, &out, &bytes.Buffer{}), "never overwrites a key")
}

func TestFlagsOverrideTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(cfg, []byte(`
key = "id.key"
listen = ["/ip4/127.0.0.1/tcp/0"]
peers = ["/ip4/127.0.0.1/tcp/1"]
socks = "127.0.0.1:0"
exit_allow = []
log_level = "debug"
`), 0o600))
	f := newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", cfg, "-peer", "/ip4/127.0.0.1/tcp/2", "-peer", "/ip4/127.0.0.1/tcp/3", "-log-level", "warn"}))
	c, err := f.load()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "id.key"), c.Key, "relative to the config file")
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/2", "/ip4/127.0.0.1/tcp/3"}, c.Peers)
	require.Equal(t, []string{"/ip4/127.0.0.1/tcp/0"}, c.Listen)
	require.Equal(t, "warn", c.LogLevel)
	require.True(t, c.exitOpen, "exit_allow = [] opens an exit that allows nothing")

	require.NoError(t, os.WriteFile(cfg, []byte("key = \"id.key\"\nlisten_typo = []\n"), 0o600))
	f = newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", cfg}))
	_, err = f.load()
	require.ErrorIs(t, err, errBadConfig, "a misspelt key is an error")
}

func TestExampleConfigLoads(t *testing.T) {
	f := newNodeFlags(&bytes.Buffer{})
	require.NoError(t, f.fs.Parse([]string{"-config", "example.toml"}))
	c, err := f.load()
	require.NoError(t, err)
	require.NotEmpty(t, c.Listen)
}

func TestOnlyFoxtrotAndStealthAddressesAreFoxtrotTargets(t *testing.T) {
	k, err := stealth.GenerateKeys()
	require.NoError(t, err)
	for host, want := range map[string]bool{
		"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH":                                 true,
		"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798": true,
		k.Address().String():                                                 true,
		k.TestnetAddress().String():                                          true,
		"sp1.example.com":                                                    false,
		"example.com":                                                        false,
		"127.0.0.1":                                                          false,
	} {
		require.Equal(t, want, isFoxtrotTarget(host), host)
	}
}

func TestHelpExitsZeroAndBadFlagsOne(t *testing.T) {
	for _, cmd := range []string{"keygen", "node", "status"} {
		require.Equal(t, 0, run([]string{cmd, "-h"}, &bytes.Buffer{}, &bytes.Buffer{}), cmd)
		require.Equal(t, 1, run([]string{cmd, "-bogus"}, &bytes.Buffer{}, &bytes.Buffer{}), cmd)
	}
	require.Equal(t, 2, run([]string{"frobnicate"}, &bytes.Buffer{}, &bytes.Buffer{}))
	require.Equal(t, 1, run([]string{"node"}, &bytes.Buffer{}, &bytes.Buffer{}), "no key file")
}
