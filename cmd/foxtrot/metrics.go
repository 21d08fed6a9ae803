package main

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foxtrotnet/foxtrot"
)

// outcomes names the SOCKS reply codes as metric label values; the
// library counts no dial outcomes, so the command counts its own dials.
var outcomes = [...]string{
	repSucceeded: "ok", repFailure: "error", repNotAllowed: "not_allowed", repNetUnreachable: "no_route",
	repHostUnreachable: "unreachable", repRefused: "refused", repTTLExpired: "timeout",
}

// counters are the command's own counts: SOCKS dials and exit
// connections, by outcome.
type counters struct {
	dials, exits [len(outcomes)]atomic.Int64
}

func outcomeIndex(code byte) int {
	if int(code) < len(outcomes) {
		return int(code)
	}
	return repFailure
}

func (c *counters) dial(code byte) { c.dials[outcomeIndex(code)].Add(1) }
func (c *counters) exit(code byte) { c.exits[outcomeIndex(code)].Add(1) }

// statsSource is what the collector reads at each scrape.
type statsSource interface {
	Stats() foxtrot.Stats
	Channels() []foxtrot.ChannelStatus
}

// collector turns Node.Stats into Prometheus metrics at scrape time.
// No metric has a per-peer label.
type collector struct {
	node  statsSource
	stats *counters

	links, circuitsActive, circuitsRelayed, bytesRelayed         *prometheus.Desc
	failovers, handshakesFailed, requestsSeen, requestsForwarded *prometheus.Desc
	directedTimeouts, dials, exits, billingEarned, billingPaid   *prometheus.Desc
	channels                                                     *prometheus.Desc
}

func newCollector(node statsSource, stats *counters) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("foxtrot_"+name, help, labels, nil)
	}
	return &collector{
		node: node, stats: stats,
		links:             d("links", "Peer links up now."),
		circuitsActive:    d("circuits_active", "Circuits this node relays now."),
		circuitsRelayed:   d("circuits_relayed_total", "Circuits this node has relayed."),
		bytesRelayed:      d("relayed_bytes_total", "Bytes spliced for relayed circuits, both directions."),
		failovers:         d("failovers_total", "Connections moved to a new path."),
		handshakesFailed:  d("handshakes_failed_total", "Inbound peer links whose handshake failed."),
		requestsSeen:      d("requests_seen_total", "New valid connect requests handled."),
		requestsForwarded: d("requests_forwarded_total", "Connect request copies sent on to neighbours."),
		directedTimeouts:  d("directed_timeouts_total", "Dials whose directed request timed out and were flooded."),
		dials:             d("socks_dials_total", "SOCKS connects by outcome.", "outcome"),
		exits:             d("exit_connections_total", "Exit connections by outcome.", "outcome"),
		billingEarned:     d("billing_earned_satoshis_total", "Satoshis paid to this node over its channels."),
		billingPaid:       d("billing_paid_satoshis_total", "Satoshis this node paid over its channels."),
		channels:          d("channels", "Payment channels open with neighbours."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.links, c.circuitsActive, c.circuitsRelayed, c.bytesRelayed, c.failovers,
		c.handshakesFailed, c.requestsSeen, c.requestsForwarded, c.directedTimeouts, c.dials, c.exits,
		c.billingEarned, c.billingPaid, c.channels} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.node.Stats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.links, int64(len(s.Peers)))
	gauge(c.circuitsActive, s.CircuitsActive)
	counter(c.circuitsRelayed, s.CircuitsRelayed)
	counter(c.bytesRelayed, s.BytesRelayed)
	counter(c.failovers, s.Failovers)
	counter(c.handshakesFailed, s.HandshakesFailed)
	counter(c.requestsSeen, s.RequestsSeen)
	counter(c.requestsForwarded, s.RequestsForwarded)
	counter(c.directedTimeouts, s.DirectedTimeouts)
	for i, name := range outcomes {
		counter(c.dials, c.stats.dials[i].Load(), name)
		counter(c.exits, c.stats.exits[i].Load(), name)
	}
	var earned, paid int64
	chans := c.node.Channels()
	for _, st := range chans {
		earned += st.PaidToUs
		paid += st.PaidByUs
	}
	counter(c.billingEarned, earned)
	counter(c.billingPaid, paid)
	gauge(c.channels, int64(len(chans)))
}

// metricsHandler serves the node's metrics (and the Go runtime's) in the
// Prometheus exposition format.
func metricsHandler(node statsSource, stats *counters) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(node, stats), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
