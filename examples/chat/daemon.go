package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/examples/chat/chat"
)

// daemon runs a chat room on the key in keyFile until ctx ends. Its
// node's identity is kept in nodeKeyFile (WIF, foxtrot.LoadOrCreateKey),
// so the printed join command, which names that identity, still works
// after a restart on the same listen address.
func daemon(ctx context.Context, prog, keyFile, nodeKeyFile string, listen, peers []string, stdout, stderr io.Writer) error {
	if len(listen) == 0 && len(peers) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	key, created, err := loadOrCreateKey(keyFile)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(keyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(stderr, "chat: warning: %s can be read by others (mode %v)\n", keyFile, fi.Mode().Perm())
	}
	identity, _, err := foxtrot.LoadOrCreateKey(nodeKeyFile)
	if err != nil {
		return err
	}
	node, err := foxtrot.NewNode(foxtrot.Config{Identity: identity, ListenAddrs: listen, Peers: peers, Logger: logger(stderr, slog.LevelWarn)})
	if err != nil {
		return err
	}
	defer node.Close()
	l, err := node.Listen(key)
	if err != nil {
		return err
	}

	how := "loaded from"
	if created {
		how = "new, saved in"
	}
	fmt.Fprintf(stdout, "key      %s %s\n", how, keyFile)
	fmt.Fprintf(stdout, "address  %s\n", l.Addr())
	fmt.Fprintf(stdout, "node     %s\n", node.Identity())
	links := node.ListenAddrs()
	for _, a := range links {
		fmt.Fprintf(stdout, "links on %s\n", a)
	}
	for _, p := range peers {
		fmt.Fprintf(stdout, "peer     %s\n", p)
	}
	// A client must link to some node of the network: this one if it
	// takes links, else one of this node's own peers.
	via := peers
	if len(links) > 0 {
		via = links
	}
	fmt.Fprintf(stdout, "join from another terminal with:\n  %s -n NAME -s %s -peer %s\n", prog, l.Addr(), via[0])

	srv := &chat.Server{Logger: logger(stderr, slog.LevelInfo)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stderr, "chat: closing the room")
	case err := <-served:
		return err // Serve ends only if the listener fails
	}
	srv.Close()
	<-served
	return node.Close()
}

// loadOrCreateKey reads the private key in path or, if there is no such
// file, makes a key and saves it there with mode 0600. The file holds the
// key's 32 bytes in hex and a newline.
func loadOrCreateKey(path string) (key *btcec.PrivateKey, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, false, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != 32 {
		return nil, false, fmt.Errorf("%s: want a private key as 64 hex characters", path)
	}
	var k btcec.ModNScalar
	if overflow := k.SetByteSlice(raw); overflow || k.IsZero() {
		return nil, false, fmt.Errorf("%s: not a valid secp256k1 private key", path)
	}
	key, _ = btcec.PrivKeyFromBytes(raw)
	return key, false, nil
}

func createKey(path string) (*btcec.PrivateKey, bool, error) {
	key, err := foxtrot.GenerateKey()
	if err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	_, err = fmt.Fprintf(f, "%x\n", key.Serialize())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return key, true, nil
}

// logger writes events at level and above to w, without timestamps (a
// terminal shows them as they happen).
func logger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// nodeKeyPath is where the daemon keeps its node's identity when
// -node-key is not given: beside the room's key, chat.key → chat-node.key.
func nodeKeyPath(keyFile string) string {
	return strings.TrimSuffix(keyFile, ".key") + "-node.key"
}
