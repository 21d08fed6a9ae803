package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/route"
	"github.com/foxtrotnet/foxtrot/stealth"
)

// SOCKS5 constants (RFC 1928).
const (
	socksVersion  = 5
	methodNoAuth  = 0x00
	methodNone    = 0xff
	cmdConnect    = 0x01
	atypIPv4      = 0x01
	atypDomain    = 0x03
	atypIPv6      = 0x04
	socksDeadline = 30 * time.Second // for the greeting and request
)

// socksRequest is a decoded SOCKS5 request.
type socksRequest struct {
	cmd  byte
	host string // a name, or an IP in text form
	port uint16
}

// errSOCKSReply carries the reply code a failed request gets.
type errSOCKSReply struct {
	code byte
	err  error
}

func (e *errSOCKSReply) Error() string { return e.err.Error() }
func (e *errSOCKSReply) Unwrap() error { return e.err }

// readGreeting reads the method selection and reports whether "no
// authentication" is offered.
func readGreeting(r io.Reader) (noAuth bool, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return false, fmt.Errorf("%w: %w", errBadSOCKS, err)
	}
	if h[0] != socksVersion {
		return false, fmt.Errorf("%w: version %d", errBadSOCKS, h[0])
	}
	methods := make([]byte, h[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return false, fmt.Errorf("%w: %w", errBadSOCKS, err)
	}
	for _, m := range methods {
		if m == methodNoAuth {
			return true, nil
		}
	}
	return false, nil
}

// readRequest reads a request. Errors that deserve a reply are
// *errSOCKSReply (a command or address type it does not support).
func readRequest(r io.Reader) (socksRequest, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return socksRequest{}, fmt.Errorf("%w: %w", errBadSOCKS, err)
	}
	if h[0] != socksVersion || h[2] != 0 {
		return socksRequest{}, &errSOCKSReply{repFailure, fmt.Errorf("%w: version %d, reserved %d", errBadSOCKS, h[0], h[2])}
	}
	req := socksRequest{cmd: h[1]}
	switch h[3] {
	case atypIPv4, atypIPv6:
		b := make([]byte, 4)
		if h[3] == atypIPv6 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(r, b); err != nil {
			return req, fmt.Errorf("%w: %w", errBadSOCKS, err)
		}
		a, _ := netip.AddrFromSlice(b)
		req.host = a.String()
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return req, fmt.Errorf("%w: %w", errBadSOCKS, err)
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(r, b); err != nil {
			return req, fmt.Errorf("%w: %w", errBadSOCKS, err)
		}
		req.host = string(b)
		if !validHost(req.host) {
			return req, &errSOCKSReply{repHostUnreachable, fmt.Errorf("%w: bad host name %q", errBadSOCKS, b)}
		}
	default:
		return req, &errSOCKSReply{repAddrNotSupported, fmt.Errorf("%w: address type %d", errBadSOCKS, h[3])}
	}
	var p [2]byte
	if _, err := io.ReadFull(r, p[:]); err != nil {
		return req, fmt.Errorf("%w: %w", errBadSOCKS, err)
	}
	req.port = binary.BigEndian.Uint16(p[:])
	if req.cmd != cmdConnect {
		return req, &errSOCKSReply{repCmdNotSupported, fmt.Errorf("%w: command %d (only CONNECT)", errBadSOCKS, req.cmd)}
	}
	return req, nil
}

// writeReply sends a reply with an all-zero IPv4 bound address: the
// address a foxtrot connection is bound to means nothing to the client.
func writeReply(w io.Writer, code byte) error {
	_, err := w.Write([]byte{socksVersion, code, 0, atypIPv4, 0, 0, 0, 0, 0, 0})
	return err
}

// dialer is what the SOCKS server needs of a node.
type dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// socksServer is a SOCKS5 server whose connections go over foxtrot.
type socksServer struct {
	l    net.Listener
	node dialer
	exit string // the exit's foxtrot address, or ""
	// exitMaxPrice is the most this node pays the exit per MiB (0: it
	// pays nothing and asks with a version 1 header); node is then an
	// ower.
	exitMaxPrice uint32
	// dialTimeout bounds each foxtrot dial; 0 leaves it to the node's
	// Config.DialTimeout (an address nobody listens on costs all of it).
	dialTimeout time.Duration
	log         *slog.Logger
	stats       *counters
	conns       connSet
	wg          sync.WaitGroup
	// ctx ends at Close, so dials in progress end with it.
	ctx    context.Context
	cancel context.CancelFunc
}

// ower meters the connections this node pays an exit for directly
// (foxtrot.Node.Owe).
type ower interface {
	Owe(neighbour foxtrot.Addr, price uint64) (*foxtrot.ServiceMeter, error)
}

// newSOCKSServer serves SOCKS5 on l, dialling over node; other hosts go
// to exit, which this node pays up to exitMaxPrice sat/MiB (node must
// then be an ower).
func newSOCKSServer(l net.Listener, node dialer, exit string, exitMaxPrice uint32, log *slog.Logger, stats *counters) *socksServer {
	s := &socksServer{l: l, node: node, exit: exit, exitMaxPrice: exitMaxPrice, log: log, stats: stats}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *socksServer) serve() {
	defer s.wg.Done()
	s.conns.serve(s.l, &s.wg, s.log, "socks", s.handle)
}

func (s *socksServer) handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(socksDeadline))
	br := bufio.NewReaderSize(c, 512)
	ok, err := readGreeting(br)
	if err != nil {
		s.log.Debug("socks: bad greeting", "err", err)
		return
	}
	if !ok {
		c.Write([]byte{socksVersion, methodNone})
		return
	}
	if _, err := c.Write([]byte{socksVersion, methodNoAuth}); err != nil {
		return
	}
	req, err := readRequest(br)
	if err != nil {
		var re *errSOCKSReply
		if errors.As(err, &re) {
			writeReply(c, re.code)
		}
		s.log.Debug("socks: bad request", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	if s.dialTimeout > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(s.ctx, s.dialTimeout)
	} // else the node's Config.DialTimeout bounds the dial
	out, code, err := s.connect(ctx, req)
	cancel()
	s.stats.dial(code)
	if err != nil {
		s.log.Info("socks: connect failed", "target", net.JoinHostPort(req.host, strconv.Itoa(int(req.port))), "err", err)
		writeReply(c, code)
		return
	}
	defer out.Close()
	if !s.conns.add(out) {
		return
	}
	defer s.conns.remove(out)
	if err := writeReply(c, repSucceeded); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 { // bytes the client sent early
		b, _ := br.Peek(n)
		if _, err := out.Write(b); err != nil {
			return
		}
	}
	splice(c, out)
}

// isFoxtrotTarget reports whether a requested host names a foxtrot
// endpoint: a foxtrot address or key, or a stealth address.
func isFoxtrotTarget(host string) bool {
	if _, err := foxtrot.ParseAddr(host); err == nil {
		return true
	}
	_, err := stealth.ParseAddress(strings.ToLower(host))
	return err == nil
}

// connect opens the connection a request asks for and returns the reply
// code (repSucceeded with a connection).
func (s *socksServer) connect(ctx context.Context, req socksRequest) (net.Conn, byte, error) {
	if isFoxtrotTarget(req.host) {
		c, err := s.node.DialContext(ctx, "foxtrot", req.host)
		if err != nil {
			return nil, dialErrCode(err), err
		}
		return c, repSucceeded, nil
	}
	if s.exit == "" {
		return nil, repNotAllowed, fmt.Errorf("%w: %s is not a foxtrot address and no exit is set", errExitRefused, req.host)
	}
	hdr, err := appendExitHeader(nil, exitHeader{host: req.host, port: req.port, paid: s.exitMaxPrice > 0, maxPrice: s.exitMaxPrice})
	if err != nil {
		return nil, repHostUnreachable, err
	}
	c, err := s.node.DialContext(ctx, "foxtrot", s.exit)
	if err != nil {
		return nil, dialErrCode(err), fmt.Errorf("exit %s: %w", s.exit, err)
	}
	c.SetDeadline(time.Now().Add(socksDeadline))
	var st [1]byte
	if _, err := c.Write(hdr); err == nil {
		_, err = io.ReadFull(c, st[:])
	}
	if err != nil {
		c.Close()
		return nil, repFailure, fmt.Errorf("exit %s: %w", s.exit, err)
	}
	if st[0] != exitOK {
		c.Close()
		return nil, st[0], fmt.Errorf("%w: code %d", errExitRefused, st[0])
	}
	if s.exitMaxPrice > 0 {
		var p [4]byte
		if _, err := io.ReadFull(c, p[:]); err != nil {
			c.Close()
			return nil, repFailure, fmt.Errorf("exit %s: price: %w", s.exit, err)
		}
		price := binary.BigEndian.Uint32(p[:])
		if price > s.exitMaxPrice {
			c.Close()
			return nil, repNotAllowed, fmt.Errorf("%w: it charges %d sat/MiB, exit_max_price is %d", errExitRefused, price, s.exitMaxPrice)
		}
		if price > 0 {
			m, err := s.node.(ower).Owe(c.RemoteAddr().(foxtrot.Addr), uint64(price))
			if err != nil {
				c.Close()
				return nil, repFailure, fmt.Errorf("exit %s: billing: %w", s.exit, err)
			}
			c = meteredConn{Conn: c, m: m}
		}
	}
	c.SetDeadline(time.Time{})
	return c, repSucceeded, nil
}

// dialErrCode maps a foxtrot dial error to a SOCKS5 reply code.
func dialErrCode(err error) byte {
	var ne net.Error
	switch {
	case errors.Is(err, route.ErrRefused):
		return repRefused
	case errors.Is(err, route.ErrNoRoute):
		return repNetUnreachable
	case errors.Is(err, foxtrot.ErrBadAddr):
		return repHostUnreachable
	case errors.Is(err, route.ErrTooExpensive):
		return repNotAllowed
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return repHostUnreachable
	}
	return repFailure
}

// Close stops accepting, closes every connection and waits. Idempotent.
func (s *socksServer) Close() error {
	s.cancel()
	err := s.l.Close()
	s.conns.closeAll()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
