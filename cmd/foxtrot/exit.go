package main

import (
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
	"sync/atomic"
	"syscall"
	"time"

	"github.com/foxtrotnet/foxtrot"
)

// The exit header (SPEC.md, "SOCKS exit") opens a foxtrot connection to an
// exit: a version, the target host's length and bytes, its port and, in
// version 2, the most the client pays per MiB. The exit answers one
// status byte, 0 or a SOCKS5 reply code (in version 2, after a 0, the
// price it charges), then relays bytes.
const (
	exitVersion     = 1
	exitVersionPaid = 2
	exitOK          = 0x00
	headerTimeout   = 10 * time.Second
	exitDialTimeout = 10 * time.Second
)

// SOCKS5 reply codes (RFC 1928, section 6), also the exit's status codes.
const (
	repSucceeded        = 0x00
	repFailure          = 0x01
	repNotAllowed       = 0x02
	repNetUnreachable   = 0x03
	repHostUnreachable  = 0x04
	repRefused          = 0x05
	repTTLExpired       = 0x06
	repCmdNotSupported  = 0x07
	repAddrNotSupported = 0x08
)

// exitHeader is what a client asks of an exit.
type exitHeader struct {
	host string
	port uint16
	// paid is version 2: the client pays up to maxPrice satoshis per MiB
	// (0 included: it only learns the price). Version 1 pays nothing.
	paid     bool
	maxPrice uint32
}

// appendExitHeader appends the header asking an exit for h.
func appendExitHeader(b []byte, h exitHeader) ([]byte, error) {
	if !validHost(h.host) {
		return nil, fmt.Errorf("%w: host %q", errBadExitHeader, h.host)
	}
	v := byte(exitVersion)
	if h.paid {
		v = exitVersionPaid
	}
	b = append(b, v, byte(len(h.host)))
	b = append(b, h.host...)
	b = binary.BigEndian.AppendUint16(b, h.port)
	if h.paid {
		b = binary.BigEndian.AppendUint32(b, h.maxPrice)
	}
	return b, nil
}

// readExitHeader reads and checks an exit header. It reads no more than
// the header (at most 263 bytes).
func readExitHeader(r io.Reader) (exitHeader, error) {
	var h exitHeader
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return h, fmt.Errorf("%w: %w", errBadExitHeader, err)
	}
	if b[0] != exitVersion && b[0] != exitVersionPaid {
		return h, fmt.Errorf("%w: version %d", errBadExitHeader, b[0])
	}
	h.paid = b[0] == exitVersionPaid
	n := int(b[1]) + 2
	if h.paid {
		n += 4
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return h, fmt.Errorf("%w: %w", errBadExitHeader, err)
	}
	h.host = string(buf[:b[1]])
	if !validHost(h.host) {
		return exitHeader{}, fmt.Errorf("%w: host %q", errBadExitHeader, h.host)
	}
	h.port = binary.BigEndian.Uint16(buf[b[1]:])
	if h.paid {
		h.maxPrice = binary.BigEndian.Uint32(buf[b[1]+2:])
	}
	return h, nil
}

// validHost accepts an IP literal or a DNS name (letters, digits, '-',
// '_', '.'), 1 to 255 bytes.
func validHost(h string) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// allowList is what an exit may connect to: names (matched without case,
// as the client asked for them), IPs and CIDR prefixes (matched against
// an IP the client asked for), each with a port or any port. Empty
// allows nothing.
type allowList struct {
	entries []allowEntry
}

type allowEntry struct {
	name   string       // lower case, no trailing dot; "" for an IP entry
	prefix netip.Prefix // for an IP entry
	port   int          // -1: any
}

// parseAllowList parses entries of the forms host, host:port, host:*,
// IP, IP:port, [IPv6]:port and CIDR (any port).
func parseAllowList(ss []string) (*allowList, error) {
	al := &allowList{}
	for _, s := range ss {
		e, err := parseAllowEntry(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("%w: exit-allow entry %q: %w", errBadConfig, s, err)
		}
		al.entries = append(al.entries, e)
	}
	return al, nil
}

func parseAllowEntry(s string) (allowEntry, error) {
	e := allowEntry{port: -1}
	if p, err := netip.ParsePrefix(s); err == nil {
		e.prefix = p.Masked()
		return e, nil
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		host = h
		if p != "*" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return e, errors.New("bad port")
			}
			e.port = int(n)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		e.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		return e, nil
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !validHost(host) || host == "" {
		return e, errors.New("not a host name, IP or CIDR")
	}
	e.name = host
	return e, nil
}

// allows reports whether the list permits host:port.
func (al *allowList) allows(host string, port uint16) bool {
	ip, ipErr := netip.ParseAddr(host)
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, e := range al.entries {
		if e.port >= 0 && e.port != int(port) {
			continue
		}
		if ipErr == nil && e.name == "" && e.prefix.Contains(ip.Unmap()) {
			return true
		}
		if ipErr != nil && e.name != "" && e.name == name {
			return true
		}
	}
	return false
}

// exitServer accepts foxtrot connections on a key, reads each one's exit
// header and connects it to the target if the allow-list permits.
type exitServer struct {
	l      net.Listener
	price  uint32  // sat/MiB charged to each client; 0: free
	node   charger // meters what clients pay (used when price > 0)
	log    *slog.Logger
	allow  atomic.Pointer[allowList]
	dialer net.Dialer
	conns  connSet
	stats  *counters
	wg     sync.WaitGroup
	ctx    context.Context // ends at Close: so do dials in progress
	cancel context.CancelFunc
}

// charger meters the connections clients pay an exit for directly
// (foxtrot.Node.Charge).
type charger interface {
	Charge(neighbour foxtrot.Addr, price uint64, stop func()) (*foxtrot.ServiceMeter, error)
}

// newExitServer serves exit connections on l to what al allows, charging
// each client price sat/MiB through node (price 0: free, node unused).
func newExitServer(l net.Listener, al *allowList, price uint32, node charger, log *slog.Logger, stats *counters) *exitServer {
	s := &exitServer{l: l, price: price, node: node, log: log, stats: stats, dialer: net.Dialer{Timeout: exitDialTimeout}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.allow.Store(al)
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *exitServer) serve() {
	defer s.wg.Done()
	s.conns.serve(s.l, &s.wg, s.log, "exit", s.handle)
}

func (s *exitServer) handle(c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	h, err := readExitHeader(c)
	if err != nil {
		s.log.Debug("exit: bad header", "from", c.RemoteAddr(), "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	target := net.JoinHostPort(h.host, strconv.Itoa(int(h.port)))
	refuse := func(code byte, msg string, args ...any) {
		s.stats.exit(code)
		s.log.Info(msg, append([]any{"target", target, "client", c.RemoteAddr().String()}, args...)...)
		c.Write([]byte{code})
	}
	if !s.allow.Load().allows(h.host, h.port) {
		refuse(repNotAllowed, "exit: target not allowed")
		return
	}
	var client foxtrot.Addr
	if s.price > 0 {
		fc, _ := c.(*foxtrot.Conn)
		switch {
		case !h.paid || h.maxPrice < s.price:
			refuse(repNotAllowed, "exit: the client does not pay the exit's price", "price", s.price, "client_max", h.maxPrice)
			return
		case fc == nil || len(fc.Path()) > 0:
			// Relays quote only their own prices: the last one would be
			// billed for the exit's and paid by nobody.
			refuse(repNotAllowed, "exit: a priced exit serves only clients linked to it, not through relays")
			return
		}
		client = fc.RemoteAddr().(foxtrot.Addr) // the dialler's node: proved in its hello
	}
	ctx, cancel := context.WithTimeout(s.ctx, exitDialTimeout)
	out, err := s.dialer.DialContext(ctx, "tcp", target)
	cancel()
	if err != nil {
		code := netErrCode(err)
		s.stats.exit(code)
		s.log.Info("exit: dial failed", "target", target, "err", err)
		c.Write([]byte{code})
		return
	}
	defer out.Close()
	if !s.conns.add(out) {
		return
	}
	defer s.conns.remove(out)
	reply := []byte{exitOK}
	if h.paid {
		reply = binary.BigEndian.AppendUint32(reply, s.price)
	}
	var m *foxtrot.ServiceMeter
	if s.price > 0 {
		m, err = s.node.Charge(client, uint64(s.price), func() { c.Close() })
		if err != nil {
			refuse(repFailure, "exit: billing", "err", err)
			return
		}
		defer m.Close()
	}
	s.stats.exit(exitOK)
	if _, err := c.Write(reply); err != nil {
		return
	}
	if m != nil { // the bytes after the reply, as the client counts them
		c = meteredConn{Conn: c, m: m}
	}
	splice(c, out)
}

// meteredConn counts what it reads and writes on a meter: a paid exit
// connection, at each end.
type meteredConn struct {
	net.Conn
	m meter
}

// meter counts bytes (foxtrot.ServiceMeter).
type meter interface {
	Add(n int64)
	Close()
}

func (c meteredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.m.Add(int64(n))
	}
	return n, err
}

func (c meteredConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.m.Add(int64(n))
	}
	return n, err
}

// CloseWrite half-closes the connection (closes it if it cannot).
func (c meteredConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// netErrCode maps a failed TCP dial to a SOCKS5 reply code.
func netErrCode(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return repRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return repNetUnreachable
	case errors.As(err, &dnsErr), errors.Is(err, syscall.EHOSTUNREACH):
		return repHostUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return repTTLExpired
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return repTTLExpired
	}
	return repFailure
}

// setAllow replaces the allow-list (SIGHUP).
func (s *exitServer) setAllow(al *allowList) { s.allow.Store(al) }

// Close stops accepting, closes every connection and waits for the
// handlers. Idempotent.
func (s *exitServer) Close() error {
	s.cancel()
	err := s.l.Close()
	s.conns.closeAll()
	s.wg.Wait()
	return err
}

// connSet tracks open connections so Close can end them.
type connSet struct {
	mu     sync.Mutex
	m      map[net.Conn]struct{}
	closed bool
}

// add records c; false once closeAll ran (the caller closes c).
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.m == nil {
		s.m = map[net.Conn]struct{}{}
	}
	s.m[c] = struct{}{}
	return true
}

// serve accepts connections from l until it closes (or closeAll ran),
// each handled on a goroutine of wg that closes it afterwards and that
// closeAll ends. Timeouts are retried; other errors end it, logged
// unless l was closed.
func (s *connSet) serve(l net.Listener, wg *sync.WaitGroup, log *slog.Logger, what string, handle func(net.Conn)) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if !errors.Is(err, net.ErrClosed) {
				log.Warn(what+": accept", "err", err)
			}
			return
		}
		if !s.add(c) {
			c.Close()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.remove(c)
			defer c.Close()
			handle(c)
		}()
	}
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	m := s.m
	s.m = nil
	s.mu.Unlock()
	for c := range m {
		c.Close()
	}
}

// splice copies both ways until both directions end, passing a
// half-close on; it returns when both copies have.
func splice(a, b net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(b, a)
	}()
	copyHalf(a, b)
	<-done
}

// copyHalf copies src to dst, then half-closes dst's write side (or
// closes dst if it cannot) and stops reading src.
func copyHalf(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
		return
	}
	dst.Close()
	src.Close()
}
