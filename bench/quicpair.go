package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"sync"
	"time"

	quicgo "github.com/foxtrotnet/foxtrot/internal/third_party/quicgo"
)

// quicPair is quic-go alone (the repository's fork, internal/third_party/quicgo, that
// transport/quic runs on): a client connection to a listener, configured
// as transport/quic configures its connections (1280-byte packets, no path
// MTU discovery, stream and connection windows from 1 MiB growing to
// 16 MiB, CUBIC unless -wan-quic-cc says reno), without the obfs layer and
// without foxtrot's link stack on top. Each sample is a new stream on
// the one connection, as each foxtrot sample is a new connection over one
// peer link; so the congestion state carries over between samples in
// both. Its ConnectionStats show what the congestion controller did.
type quicPair struct {
	ln     *quicgo.Listener
	client *quicgo.Conn
	wg     sync.WaitGroup
}

// quicTrace is -wan-quic-trace: the quic-go row logs its congestion
// window every 50 ms to stderr.
var quicTrace bool

// quicReno is -wan-quic-cc reno: the quic-go row on NewReno (upstream
// quic-go's controller) instead of CUBIC (transport/quic's default).
var quicReno bool

func quicConfig() *quicgo.Config {
	return &quicgo.Config{
		MaxIdleTimeout:                 30 * time.Second,
		KeepAlivePeriod:                15 * time.Second,
		InitialPacketSize:              1280,
		DisablePathMTUDiscovery:        true,
		InitialStreamReceiveWindow:     1 << 20,
		InitialConnectionReceiveWindow: 1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		MaxConnectionReceiveWindow:     16 << 20,
		MaxIncomingStreams:             1000,
		Congestion:                     congestion(),
	}
}

func congestion() func(quicgo.CongestionParams) quicgo.CongestionControl {
	if quicReno {
		return quicgo.NewReno
	}
	return quicgo.NewCubic
}

// startQUICPair listens on loopback UDP, asks via for the address to dial
// to reach it (a line's), and connects.
func startQUICPair(ctx context.Context, via func(target string) (string, error)) (*quicPair, error) {
	cert, err := benchCert()
	if err != nil {
		return nil, err
	}
	ln, err := quicgo.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"bench"}}, quicConfig())
	if err != nil {
		return nil, err
	}
	q := &quicPair{ln: ln}
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			q.wg.Add(1)
			go func() {
				defer q.wg.Done()
				for {
					s, err := c.AcceptStream(context.Background())
					if err != nil {
						return
					}
					go sinkServe(s)
				}
			}()
		}
	}()
	addr, err := via(ln.Addr().String())
	if err != nil {
		q.Close()
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	q.client, err = quicgo.DialAddr(dctx, addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"bench"}}, quicConfig())
	if err != nil {
		q.Close()
		return nil, err
	}
	return q, nil
}

func (q *quicPair) stream(ctx context.Context) (*quicgo.Stream, error) {
	return q.client.OpenStreamSync(ctx)
}

func (q *quicPair) stats() quicgo.ConnectionStats { return q.client.ConnectionStats() }

// watchCwnd samples the client's congestion window every interval until
// the returned stop, which gives the mean.
func (q *quicPair) watchCwnd(interval time.Duration) (stop func() float64) {
	n := 0
	return sampleMean(interval, func() float64 {
		st := q.client.ConnectionStats()
		if n++; quicTrace && n%5 == 0 {
			progress("quic-go trace: cwnd %d KiB, lost %d packets, latest RTT %v, min RTT %v",
				st.CongestionWindow>>10, st.PacketsLost, st.LatestRTT.Round(100*time.Microsecond), st.MinRTT.Round(100*time.Microsecond))
		}
		return float64(st.CongestionWindow)
	})
}

func (q *quicPair) Close() {
	if q.client != nil {
		q.client.CloseWithError(0, "")
	}
	q.ln.Close()
	q.wg.Wait()
}

// benchCert is a throwaway self-signed certificate.
func benchCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"bench"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour * 24)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
