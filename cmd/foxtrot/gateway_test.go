package main

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
)

// socksConnect asks the SOCKS5 server at proxy for host:port (as a domain
// name unless host is an IPv4 literal) and returns the reply code and,
// on success, the connection.
func socksConnect(t *testing.T, proxy, host string, port uint16) (net.Conn, byte) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	require.NoError(t, err)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := []byte{5, 1, 0, 5, 1, 0}
	if ip := net.ParseIP(host).To4(); ip != nil {
		req = append(append(req, atypIPv4), ip...)
	} else {
		req = append(append(req, atypDomain, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, port)
	_, err = c.Write(req)
	require.NoError(t, err)
	var resp [12]byte
	_, err = io.ReadFull(c, resp[:])
	require.NoError(t, err)
	require.Equal(t, []byte{5, 0}, resp[:2], "no-auth method chosen")
	require.Equal(t, byte(5), resp[2])
	if resp[3] != repSucceeded {
		c.Close()
		return nil, resp[3]
	}
	c.SetDeadline(time.Time{})
	return c, repSucceeded
}

// scrape reads a metrics handler's text output and returns the metric
// families.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err, "the scrape parses as Prometheus text")
	return fams
}

func metricValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "metric %s missing", name)
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue next
			}
		}
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s%v missing", name, labels)
	return 0
}

// TestSOCKSGatewayReachesAddressesAndTheExit runs a client, a relay and an
// exit in one process: the client's SOCKS server reaches a foxtrot
// address and, through the exit on its identity key, an HTTP server on
// loopback the allow-list permits; other targets are refused with
// 0x02; the metrics count it all.
func TestSOCKSGatewayReachesAddressesAndTheExit(t *testing.T) {
	fn := foxtrottest.New(t, 3, foxtrottest.Custom([][2]int{{0, 1}, {1, 2}}), foxtrottest.Options{Logs: true})
	log := slog.New(slog.DiscardHandler)

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the web") }))
	t.Cleanup(web.Close)
	webPort, _ := strconv.Atoi(web.URL[strings.LastIndexByte(web.URL, ':')+1:])

	exitStats := &counters{}
	l, err := fn.Nodes[2].Listen(fn.Sim.Keys[2])
	require.NoError(t, err, "a node can listen on its own identity key")
	al, err := parseAllowList([]string{"127.0.0.1:" + strconv.Itoa(webPort)})
	require.NoError(t, err)
	exit := newExitServer(l, al, 0, nil, log, exitStats)
	t.Cleanup(func() { exit.Close() })

	stats := &counters{}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	socks := newSOCKSServer(sl, fn.Nodes[0], fn.Identity(2).String(), 0, log, stats)
	socks.dialTimeout = 2 * time.Second // for the address nobody listens on
	t.Cleanup(func() { socks.Close() })

	// Through the exit: an HTTP request, as curl --socks5-hostname sends it.
	c, code := socksConnect(t, sl.Addr().String(), "127.0.0.1", uint16(webPort))
	require.Equal(t, byte(repSucceeded), code)
	io.WriteString(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
	body, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Contains(t, string(body), "hello from the web")
	c.Close()

	// A target the allow-list does not name.
	_, code = socksConnect(t, sl.Addr().String(), "127.0.0.1", uint16(webPort+1))
	require.Equal(t, byte(repNotAllowed), code)
	_, code = socksConnect(t, sl.Addr().String(), "localhost", uint16(webPort))
	require.Equal(t, byte(repNotAllowed), code, "names are matched as asked, not resolved at the client")

	// A foxtrot address, given as a domain name.
	echo := foxtrottest.Echo(t, fn.Nodes[2])
	c, code = socksConnect(t, sl.Addr().String(), echo.Addr().String(), 7)
	require.Equal(t, byte(repSucceeded), code)
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf))
	c.Close()

	// An address nobody listens on is refused, not a hang.
	nobody, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	_, code = socksConnect(t, sl.Addr().String(), foxtrot.AddrFromPubKey(nobody.PubKey()).String(), 80)
	require.Equal(t, byte(repHostUnreachable), code)

	fams := scrape(t, metricsHandler(fn.Nodes[0], stats))
	require.Equal(t, 2.0, metricValue(t, fams, "foxtrot_socks_dials_total", "outcome", "ok"))
	require.Equal(t, 2.0, metricValue(t, fams, "foxtrot_socks_dials_total", "outcome", "not_allowed"))
	require.Equal(t, 1.0, metricValue(t, fams, "foxtrot_links"))
	relay := scrape(t, metricsHandler(fn.Nodes[1], &counters{}))
	require.GreaterOrEqual(t, metricValue(t, relay, "foxtrot_circuits_relayed_total"), 2.0)
	require.Greater(t, metricValue(t, relay, "foxtrot_relayed_bytes_total"), float64(len("hello from the web")))
	exitFams := scrape(t, metricsHandler(fn.Nodes[2], exitStats))
	require.Equal(t, 1.0, metricValue(t, exitFams, "foxtrot_exit_connections_total", "outcome", "ok"))
	require.Equal(t, 2.0, metricValue(t, exitFams, "foxtrot_exit_connections_total", "outcome", "not_allowed"))
}

// TestSOCKSRefusesWhatItCannotServe: a client without "no
// authentication" gets 0xFF; a name with no exit configured gets 0x02.
func TestSOCKSRefusesWhatItCannotServe(t *testing.T) {
	fn := foxtrottest.New(t, 2, foxtrottest.Custom([][2]int{{0, 1}}), foxtrottest.Options{})
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	socks := newSOCKSServer(sl, fn.Nodes[0], "", 0, slog.New(slog.DiscardHandler), &counters{})
	t.Cleanup(func() { socks.Close() })

	c, err := net.Dial("tcp", sl.Addr().String())
	require.NoError(t, err)
	c.Write([]byte{5, 1, 2}) // username/password only
	resp := make([]byte, 2)
	_, err = io.ReadFull(c, resp)
	require.NoError(t, err)
	require.Equal(t, []byte{5, 0xff}, resp)
	c.Close()

	_, code := socksConnect(t, sl.Addr().String(), "example.com", 80)
	require.Equal(t, byte(repNotAllowed), code)
}

// TestSOCKSCloseEndsDialsInProgress: closing the server while a client
// waits on a dial to an address nobody answers ends the dial (the node's
// DialTimeout is an hour: a Close that waited for it would hang the test).
func TestSOCKSCloseEndsDialsInProgress(t *testing.T) {
	fn := foxtrottest.New(t, 2, foxtrottest.Custom([][2]int{{0, 1}}), foxtrottest.Options{
		Config: func(_ int, c *foxtrot.Config) { c.DialTimeout = time.Hour },
	})
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	socks := newSOCKSServer(sl, fn.Nodes[0], "", 0, slog.New(slog.DiscardHandler), &counters{})
	nobody, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	answered := make(chan byte, 1)
	go func() {
		c, err := net.Dial("tcp", sl.Addr().String())
		if err != nil {
			answered <- 0xff
			return
		}
		defer c.Close()
		host := foxtrot.AddrFromPubKey(nobody.PubKey()).String()
		c.Write(append(append([]byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}, host...), 0, 80))
		resp := make([]byte, 12)
		n, _ := io.ReadFull(c, resp)
		if n < 4 {
			answered <- 0xfe // closed without a reply
			return
		}
		answered <- resp[3]
	}()
	foxtrottest.WaitBlocked(t, "cmd/foxtrot.(*socksServer).connect")
	require.NoError(t, socks.Close())
	require.NotEqual(t, byte(repSucceeded), <-answered)
}
