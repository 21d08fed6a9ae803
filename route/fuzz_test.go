package route

import (
	"bytes"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

func fixedKey(b byte) *btcec.PrivateKey {
	var k [32]byte
	k[31] = b
	p, _ := btcec.PrivKeyFromBytes(k[:])
	return p
}

var fuzzNow = time.UnixMilli(1_800_000_000_000)

// FuzzConnectRequest decodes arbitrary control payloads and checks any
// request found. Nothing may panic, and only requests whose signature
// really verifies may pass: the one genuine seed (or its hop-limit
// variants, which the signature does not cover).
func FuzzConnectRequest(f *testing.F) {
	genuine, _, err := newRequest([20]byte{1}, 8, 0, 0, fuzzNow, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	if err != nil {
		f.Fatal(err)
	}
	frame, _ := wire.Append(nil, genuine)
	f.Add(frame[4:])
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := wire.Decode(payload)
		if err != nil {
			return
		}
		req, ok := m.(*wire.ConnectRequest)
		if !ok {
			return
		}
		if _, err := checkRequest(req, fuzzNow, time.Minute); err != nil {
			return
		}
		g := *genuine
		g.HopLimit = req.HopLimit
		if *req != g {
			t.Fatalf("a request that was never signed passed: %+v", req)
		}
	})
}

// FuzzConnectAck decodes arbitrary payloads and checks any ack found
// against a fixed request; only the genuine ack (with any hop list a relay
// may append) may pass.
func FuzzConnectAck(f *testing.F) {
	target := fixedKey(3)
	dEph := ser(fixedKey(4).PubKey())
	id := addr.ConnID{5}
	genuine := newAck(id, dEph, newKeyPair(target), newKeyPair(fixedKey(6)), 1)
	withHop := *genuine
	withHop.Hops = []wire.Hop{{Key: [33]byte{2, 8}, Price: 2}}
	for _, m := range []wire.Message{genuine, &withHop, newRefuse(id, newKeyPair(target), wire.RefuseBusy)} {
		frame, _ := wire.Append(nil, m)
		f.Add(frame[4:])
	}
	th := addr.FromPubKey(target.PubKey()).Hash160()
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := wire.Decode(payload)
		if err != nil {
			return
		}
		switch m := m.(type) {
		case *wire.ConnectAck:
			if _, _, err := checkAck(m, th, dEph); err != nil {
				return
			}
			if m.ID != genuine.ID || m.Path != genuine.Path || m.TargetKey != genuine.TargetKey ||
				m.Ephemeral != genuine.Ephemeral || m.Sig != genuine.Sig {
				t.Fatalf("a forged ack passed: %+v", m)
			}
		case *wire.ConnectRefuse:
			_ = checkRefuse(m, th)
		}
	})
}
