package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot"
)

const (
	maxAdminRequest = 64 << 10 // bytes, newline included
	adminDeadline   = 10 * time.Second
	// maxListedCircuits bounds the circuits a circuits answer lists (the
	// oldest; list_total says how many there are).
	maxListedCircuits = 1000
)

// adminRequest is one admin call (see the package comment).
type adminRequest struct {
	Cmd   string `json:"cmd"`
	Arg   string `json:"arg,omitempty"`
	Token string `json:"token,omitempty"`
}

// adminResponse is the answer to one call.
type adminResponse struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// adminCommands are the commands the admin socket knows.
var adminCommands = map[string]bool{
	"status": true, "peers": true, "routes": true, "circuits": true, "channels": true, "connect": true, "disconnect": true,
}

// decodeAdminRequest parses one request line: exactly one JSON object,
// no unknown fields, a known command.
func decodeAdminRequest(b []byte) (adminRequest, error) {
	var req adminRequest
	if len(b) > maxAdminRequest {
		return req, fmt.Errorf("%w: over %d bytes", errBadAdminRequest, maxAdminRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: %w", errBadAdminRequest, err)
	}
	if dec.More() {
		return req, fmt.Errorf("%w: more than one value", errBadAdminRequest)
	}
	if !adminCommands[req.Cmd] {
		return req, fmt.Errorf("%w: unknown command %q", errBadAdminRequest, req.Cmd)
	}
	return req, nil
}

// adminNode is what the admin server reads and does.
type adminNode interface {
	Identity() foxtrot.Addr
	ListenAddrs() []string
	Stats() foxtrot.Stats
	Routes() []foxtrot.Route
	Circuits(limit int) ([]foxtrot.CircuitStatus, int)
	Channels() []foxtrot.ChannelStatus
	Connect(ctx context.Context, multiaddr string) error
	Disconnect(peerAddr foxtrot.Addr) error
}

// nodeInfo is what status reports besides the node's own state.
type nodeInfo struct {
	Started  time.Time
	Listens  []string // addresses of keys the node listens on
	Socks    string
	Metrics  string
	Exit     string
	ExitOpen bool
}

// adminServer answers admin calls on one listener. token, if set, must
// match each request's (TCP); a unix socket has no token.
type adminServer struct {
	l     net.Listener
	node  adminNode
	info  nodeInfo
	token string
	log   *slog.Logger
	conns connSet
	wg    sync.WaitGroup
}

// listenAdminUnix listens on a unix socket at path with mode 0600,
// removing a stale socket (one nobody answers on) first.
func listenAdminUnix(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin socket %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin socket %s is in use by another node", path)
		}
		os.Remove(path)
	}
	restore := privateUmask() // no moment with the socket open to others
	l, err := net.Listen("unix", path)
	restore()
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func newAdminServer(l net.Listener, node adminNode, info nodeInfo, token string, log *slog.Logger) *adminServer {
	s := &adminServer{l: l, node: node, info: info, token: token, log: log}
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *adminServer) serve() {
	defer s.wg.Done()
	s.conns.serve(s.l, &s.wg, s.log, "admin", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(adminDeadline))
		resp := s.answer(readLine(c))
		b, _ := json.Marshal(resp)
		c.Write(append(b, '\n'))
	})
}

// readLine reads up to the first newline, at most maxAdminRequest+1
// bytes (so an oversized request is seen as one).
func readLine(r io.Reader) []byte {
	br := bufio.NewReaderSize(io.LimitReader(r, maxAdminRequest+1), 4096)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if err != bufio.ErrBufferFull {
			return line
		}
	}
}

func (s *adminServer) answer(line []byte) adminResponse {
	req, err := decodeAdminRequest(line)
	if err == nil && s.token != "" && subtle.ConstantTimeCompare([]byte(req.Token), []byte(s.token)) != 1 {
		err = errAdminToken
	}
	var res any
	if err == nil {
		res, err = s.do(req)
	}
	if err != nil {
		return adminResponse{Error: err.Error()}
	}
	b, err := json.Marshal(res)
	if err != nil {
		return adminResponse{Error: err.Error()}
	}
	return adminResponse{OK: true, Result: b}
}

// The JSON results. Durations are milliseconds, times RFC 3339.

type statusJSON struct {
	Address     string     `json:"address"`
	ListenAddrs []string   `json:"listen_addrs"`
	Peers       []peerJSON `json:"peers"`
	Listens     []string   `json:"listens"`
	Routes      int        `json:"routes"`
	Socks       string     `json:"socks,omitempty"`
	Metrics     string     `json:"metrics,omitempty"`
	Exit        string     `json:"exit,omitempty"`
	ExitOpen    bool       `json:"exit_open"`
	Uptime      float64    `json:"uptime_s"`
	Circuits    int64      `json:"circuits_active"`
}

type peerJSON struct {
	Address      string    `json:"address"`
	Multiaddr    string    `json:"multiaddr,omitempty"`
	Outbound     bool      `json:"outbound"`
	Since        time.Time `json:"since"`
	RTT          float64   `json:"rtt_ms"`
	RequestsSent int64     `json:"requests_sent"`
	AcksBack     int64     `json:"acks_back"`
	CircuitsOK   int64     `json:"circuits_ok"`
	CircuitsBad  int64     `json:"circuits_broke"`
	BytesRelayed int64     `json:"bytes_relayed"`
	Queued       int       `json:"queued"`
}

type routeJSON struct {
	Target    string    `json:"target"`
	NextHop   string    `json:"next_hop"`
	Hops      int       `json:"hops"`
	Latency   float64   `json:"latency_ms"`
	Successes int       `json:"successes"`
	Failures  int       `json:"failures"`
	Price     uint64    `json:"price"`
	Updated   time.Time `json:"updated"`
}

type circuitsJSON struct {
	Active       int64             `json:"active"`
	Relayed      int64             `json:"relayed"`
	BytesRelayed int64             `json:"bytes_relayed"`
	Failovers    int64             `json:"failovers"`
	PerPeer      []peerCircuitJSON `json:"per_peer"`
	// List is the circuits relayed now, oldest first, at most
	// maxListedCircuits of ListTotal.
	List      []circuitJSON `json:"list"`
	ListTotal int           `json:"list_total"`
}

// circuitJSON is one circuit this node relays: From is the neighbour
// toward the dialler, To toward the target; Sent is bytes toward the
// target, Received back.
type circuitJSON struct {
	ID       string  `json:"id"`
	Path     uint32  `json:"path"`
	From     string  `json:"from"`
	To       string  `json:"to"`
	Age      float64 `json:"age_s"`
	Sent     int64   `json:"sent"`
	Received int64   `json:"received"`
	Price    uint64  `json:"price"`
	Billed   bool    `json:"billed"`
}

type peerCircuitJSON struct {
	Address      string `json:"address"`
	OK           int64  `json:"ok"`
	Broke        int64  `json:"broke"`
	BytesRelayed int64  `json:"bytes_relayed"`
}

type channelJSON struct {
	Peer     string `json:"peer"`
	ID       string `json:"id"`
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	Local    int64  `json:"local_sat"`
	Remote   int64  `json:"remote_sat"`
	Version  uint32 `json:"version"`
	OwedToUs int64  `json:"owed_to_us_sat"`
	OwedByUs int64  `json:"owed_by_us_sat"`
	PaidToUs int64  `json:"earned_sat"`
	PaidByUs int64  `json:"paid_sat"`
	CutOff   bool   `json:"cut_off"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func peersJSON(ps []foxtrot.PeerStats) []peerJSON {
	out := make([]peerJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, peerJSON{Address: p.Addr.String(), Multiaddr: p.Multiaddr, Outbound: p.Outbound, Since: p.Since,
			RTT: ms(p.RTT), RequestsSent: p.RequestsSent, AcksBack: p.AcksBack, CircuitsOK: p.CircuitsOK,
			CircuitsBad: p.CircuitsBroke, BytesRelayed: p.BytesRelayed, Queued: p.Queued})
	}
	return out
}

func (s *adminServer) do(req adminRequest) (any, error) {
	switch req.Cmd {
	case "status":
		st := s.node.Stats()
		return statusJSON{Address: s.node.Identity().String(), ListenAddrs: s.node.ListenAddrs(), Peers: peersJSON(st.Peers),
			Listens: s.info.Listens, Routes: len(s.node.Routes()), Socks: s.info.Socks, Metrics: s.info.Metrics, Exit: s.info.Exit,
			ExitOpen: s.info.ExitOpen, Uptime: time.Since(s.info.Started).Seconds(), Circuits: st.CircuitsActive}, nil
	case "peers":
		return peersJSON(s.node.Stats().Peers), nil
	case "routes":
		rs := s.node.Routes()
		out := make([]routeJSON, 0, len(rs))
		for _, r := range rs {
			out = append(out, routeJSON{Target: r.Target.String(), NextHop: r.NextHop.String(), Hops: r.Hops,
				Latency: ms(r.Latency), Successes: r.Successes, Failures: r.Failures, Price: r.Price, Updated: r.Updated})
		}
		return out, nil
	case "circuits":
		st := s.node.Stats()
		out := circuitsJSON{Active: st.CircuitsActive, Relayed: st.CircuitsRelayed, BytesRelayed: st.BytesRelayed,
			Failovers: st.Failovers, PerPeer: []peerCircuitJSON{}}
		for _, p := range st.Peers {
			out.PerPeer = append(out.PerPeer, peerCircuitJSON{Address: p.Addr.String(), OK: p.CircuitsOK, Broke: p.CircuitsBroke, BytesRelayed: p.BytesRelayed})
		}
		cs, total := s.node.Circuits(maxListedCircuits)
		out.List, out.ListTotal = make([]circuitJSON, 0, len(cs)), total
		for _, c := range cs {
			out.List = append(out.List, circuitJSON{ID: c.ID.String(), Path: c.Path, From: c.From.String(), To: c.To.String(),
				Age: c.Age.Seconds(), Sent: c.Sent, Received: c.Received, Price: c.Price, Billed: c.Billed})
		}
		return out, nil
	case "channels":
		cs := s.node.Channels()
		out := make([]channelJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, channelJSON{Peer: c.Peer.String(), ID: fmt.Sprintf("%x", c.ID[:]), Phase: fmt.Sprint(c.Phase),
				Ready: c.Ready, Local: int64(c.Local), Remote: int64(c.Remote), Version: c.Version,
				OwedToUs: c.OwedToUs, OwedByUs: c.OwedByUs, PaidToUs: c.PaidToUs, PaidByUs: c.PaidByUs, CutOff: c.CutOff})
		}
		return out, nil
	case "connect":
		ctx, cancel := context.WithTimeout(context.Background(), adminDeadline-time.Second)
		defer cancel()
		if err := s.node.Connect(ctx, req.Arg); err != nil {
			return nil, err
		}
		return map[string]string{"connected": req.Arg}, nil
	case "disconnect":
		a, err := foxtrot.ParseAddr(req.Arg)
		if err != nil {
			return nil, err
		}
		if err := s.node.Disconnect(a); err != nil {
			return nil, err
		}
		return map[string]string{"disconnected": a.String()}, nil
	}
	return nil, fmt.Errorf("%w: unknown command %q", errBadAdminRequest, req.Cmd)
}

// Close stops the server, ends open calls, waits for them and removes a
// unix socket. Idempotent.
func (s *adminServer) Close() error {
	err := s.l.Close()
	s.conns.closeAll()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
