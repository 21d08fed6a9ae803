package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// A stealth key file holds a stealth address's two private keys, each in
// WIF, one per line after its name; lines starting with # are comments:
//
//	# foxtrot stealth keys (BIP-352 scan and spend keys, WIF)
//	scan L1...
//	spend K...
//
// Its mode is 0600, as for a plain key file, which holds one WIF key alone.
const stealthHeader = "# foxtrot stealth keys (BIP-352 scan and spend keys, WIF)\n"

// maxStealthFile bounds what loadStealthKeys reads.
const maxStealthFile = 4096

func cmdKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "the key file to write (must not exist)")
	stealthKeys := fs.Bool("stealth", false, "write a stealth key file (scan and spend keys) instead")
	if err := fs.Parse(args); err != nil || *out == "" || fs.NArg() != 0 {
		if err == nil {
			fs.Usage()
		}
		return usageErr(err)
	}
	if *stealthKeys {
		k, err := stealth.GenerateKeys()
		if err != nil {
			return err
		}
		if err := saveStealthKeys(*out, k); err != nil {
			return err
		}
		fmt.Fprintln(stdout, k.Address())
		return nil
	}
	k, err := foxtrot.GenerateKey()
	if err != nil {
		return err
	}
	if err := foxtrot.SaveKey(*out, k); err != nil {
		return err
	}
	fmt.Fprintln(stdout, foxtrot.AddrFromPubKey(k.PubKey()))
	return nil
}

func cmdAddr(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: foxtrot addr FILE")
		return errUsage
	}
	a, err := fileAddress(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, a)
	return nil
}

// fileAddress returns the address of a key file: foxtrot's for a plain
// key, sp1 for a stealth key file.
func fileAddress(path string) (string, error) {
	if isStealthFile(path) {
		k, err := loadStealthKeys(path)
		if err != nil {
			return "", err
		}
		return k.Address().String(), nil
	}
	k, err := foxtrot.LoadKey(path)
	if err != nil {
		return "", err
	}
	return foxtrot.AddrFromPubKey(k.PubKey()).String(), nil
}

func isStealthFile(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && (bytes.HasPrefix(b, []byte("scan ")) || bytes.Contains(b, []byte("\nscan ")))
}

func saveStealthKeys(path string, k *stealth.Keys) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	body := stealthHeader + "scan " + foxtrot.EncodeKey(k.ScanKey()) + "\nspend " + foxtrot.EncodeKey(k.SpendKey()) + "\n"
	_, werr := f.WriteString(body)
	if werr == nil {
		werr = f.Sync()
	}
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		os.Remove(path)
	}
	return werr
}

func loadStealthKeys(path string) (*stealth.Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", foxtrot.ErrKeyFileMode, path, st.Mode().Perm())
	}
	return parseStealthKeys(io.LimitReader(f, maxStealthFile))
}

func parseStealthKeys(r io.Reader) (*stealth.Keys, error) {
	keys := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || (name != "scan" && name != "spend") || keys[name] != "" {
			return nil, fmt.Errorf("%w: unexpected line %q", errBadStealthFile, name)
		}
		keys[name] = strings.TrimSpace(val)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadStealthFile, err)
	}
	if keys["scan"] == "" || keys["spend"] == "" {
		return nil, fmt.Errorf("%w: want a scan line and a spend line", errBadStealthFile)
	}
	scan, err := foxtrot.DecodeKey(keys["scan"])
	if err != nil {
		return nil, errors.Join(errBadStealthFile, err)
	}
	spend, err := foxtrot.DecodeKey(keys["spend"])
	if err != nil {
		return nil, errors.Join(errBadStealthFile, err)
	}
	return stealth.NewKeys(scan, spend)
}
