package main

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"slices"
	"time"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// The scale rows follow sim_test.go's scaleRun: a random network of
// average degree 4 on the in-process mem transport, a target a typical
// distance (at least 4 links) from node 0, one first contact from node 0,
// five repeats (median), and a first contact from the node farthest from
// 0. A connect's control messages are the connect requests, acks and
// refusals sent by every node until the network is quiet again (300 ms
// after the dial returns).
//
// Counted through exported API only: Stats().Peers[].RequestsSent (the
// requests a node sent to each peer, its own and forwarded ones), plus
// Stats().AcksRelayed, plus the acks the target sent, which are the
// AcksBack its neighbours count on their link to it (every ack is
// verified and counted by the neighbour it reaches, relay or dialler).
// This equals the sum of route.Stats.ControlMessages over nodes that
// sim_test.go uses.

type scaleResult struct {
	nodes, links, hops int
	linkUp             time.Duration
	firstMsgs          int64
	firstTime          time.Duration
	repeatMsgs         int64 // median of 5
	repeatTime         time.Duration
	repeatMsgsAll      []int64
	otherMsgs          int64
	otherTime          time.Duration
}

func scaleRun(n int) (scaleResult, error) {
	sn := simnet.New(n, simnet.Random(4), simnet.Options{Seed: int64(n)})
	start := time.Now()
	nodes := make([]*foxtrot.Node, n)
	defer func() {
		for _, nd := range nodes {
			if nd != nil {
				nd.Close()
			}
		}
	}()
	for i := range nodes {
		nd, err := foxtrot.NewNode(foxtrot.Config{
			Identity:    sn.Keys[i],
			ListenAddrs: []string{sn.Listen(i)},
			Peers:       sn.Peers(i),
			Transports:  sn.Transports(),
			HopLimit:    12,
		})
		if err != nil {
			return scaleResult{}, err
		}
		nodes[i] = nd
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up := true
		for i, nd := range nodes {
			if len(nd.Peers()) != len(sn.Neighbours(i)) {
				up = false
				break
			}
		}
		if up {
			break
		}
		if time.Now().After(deadline) {
			return scaleResult{}, fmt.Errorf("network did not link up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := scaleResult{nodes: n, links: len(sn.Edges), linkUp: time.Since(start)}
	progress("scale: %d nodes, %d links up in %v", n, len(sn.Edges), res.linkUp.Round(time.Millisecond))

	rng := rand.New(rand.NewSource(1))
	target := rng.Intn(n)
	for sn.Distance(0, target) < 4 {
		target = rng.Intn(n)
	}
	res.hops = sn.Distance(0, target)
	key, err := foxtrot.GenerateKey()
	if err != nil {
		return res, err
	}
	l, err := nodes[target].Listen(key)
	if err != nil {
		return res, err
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go echoServe(c)
		}
	}()
	targetID := nodes[target].Identity()
	total := func() int64 {
		var m int64
		for _, nd := range nodes {
			st := nd.Stats()
			m += st.AcksRelayed
			for _, p := range st.Peers {
				m += p.RequestsSent
			}
		}
		for _, j := range sn.Neighbours(target) {
			for _, p := range nodes[j].Stats().Peers {
				if p.Addr == targetID {
					m += p.AcksBack
				}
			}
		}
		return m
	}
	connect := func(from int) (int64, time.Duration, error) {
		before := total()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		begin := time.Now()
		c, err := nodes[from].DialContext(ctx, "foxtrot", l.Addr().String())
		if err != nil {
			return 0, 0, err
		}
		took := time.Since(begin)
		if err := echoByte(c.(net.Conn)); err != nil {
			c.Close()
			return 0, 0, err
		}
		c.Close()
		time.Sleep(300 * time.Millisecond) // let the other answers and the flood's last copies settle
		return total() - before, took, nil
	}
	if res.firstMsgs, res.firstTime, err = connect(0); err != nil {
		return res, err
	}
	var times []time.Duration
	for i := 0; i < 5; i++ {
		m, d, err := connect(0)
		if err != nil {
			return res, err
		}
		res.repeatMsgsAll = append(res.repeatMsgsAll, m)
		times = append(times, d)
	}
	msgs := slices.Clone(res.repeatMsgsAll)
	slices.Sort(msgs)
	slices.Sort(times)
	res.repeatMsgs, res.repeatTime = msgs[2], times[2]
	if res.otherMsgs, res.otherTime, err = connect(sn.Farthest(0)); err != nil {
		return res, err
	}
	return res, nil
}
