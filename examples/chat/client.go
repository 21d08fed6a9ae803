package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/examples/chat/chat"
)

// linkTimeout bounds the client's wait for its peer links.
const linkTimeout = 10 * time.Second

// client joins the room at address as name, through a node linked to
// peers, until stdin ends, ctx ends or the room closes.
func client(ctx context.Context, name, address string, listen, peers []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := chat.CheckName(name); err != nil {
		return err
	}
	if _, err := foxtrot.ParseAddr(address); err != nil {
		return err
	}
	if len(peers) == 0 {
		return errors.New("no node to link to: give -peer (the daemon prints one) or set FOXTROT_PEERS")
	}
	// The peers are linked with Connect only, not also through
	// Config.Peers: a background link and a Connect to the same peer at
	// the same moment can leave the two ends keeping different links, and
	// a dial sent then is never answered (foxtrot at 88eb53b). So a
	// client's links are not redialled if they drop; its connection
	// would end with them anyway.
	node, err := foxtrot.NewNode(foxtrot.Config{ListenAddrs: listen, Logger: logger(stderr, slog.LevelWarn)})
	if err != nil {
		return err
	}
	defer node.Close()
	for _, a := range node.ListenAddrs() {
		fmt.Fprintf(stderr, "chat: this node takes links on %s\n", a)
	}
	lctx, cancel := context.WithTimeout(ctx, linkTimeout)
	linked, err := node.ConnectAll(lctx, peers)
	cancel()
	if linked == 0 && len(peers) > 0 {
		return fmt.Errorf("cannot link to any peer: %w", err)
	}
	conn, err := node.DialContext(ctx, "foxtrot", address)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chat: connected to %s %s\n", address, describePath(conn.(*foxtrot.Conn).Path()))

	err = chat.Client(ctx, conn, name, stdin, stdout)
	if errors.Is(err, context.Canceled) {
		return nil // ^C is a way to leave
	}
	return err
}

func describePath(path []foxtrot.Addr) string {
	if len(path) == 0 {
		return "directly (no relay)"
	}
	relays := make([]string, len(path))
	for i, a := range path {
		relays[i] = a.String()
	}
	return fmt.Sprintf("through %d relay(s): %s", len(path), strings.Join(relays, ", "))
}
