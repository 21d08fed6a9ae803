package route

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/foxtrotnet/foxtrot/addr"
)

// BenchmarkDialCrypto is the cryptography on the critical path of one
// Dial through two relays, all of it, end to end (the network and the
// scheduling are left out):
//
//	full    the dialler's ephemeral key and request signature, the
//	        target's check of it, its ephemeral key, ECDH and ack
//	        signature, the ack's check at both relays and the dialler,
//	        the dialler's ECDH and hello signature, the target's check
//	        of the hello
//	ticket  the same dial resumed with a ticket: the dialler's lock, the
//	        target opening the ticket and sealing the next one, the proof
//	        checked by both relays and the dialler, both masters
//
// Run: go test -run x -bench DialCrypto ./route
func BenchmarkDialCrypto(b *testing.B) {
	var target [20]byte
	tk, err := newKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	target = addr.FromPubKey(tk.pub).Hash160()
	id, err := newKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, eph, err := newRequest(target, 8, 0, 0, now, rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			cid := req.ID()
			dEph, err := checkRequest(req, now, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			tEph, err := newKey(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			tMaster := targetSecret(cid, tk, tEph, dEph)
			ack := newAck(cid, req.Ephemeral, tk, tEph, 1)
			for range 3 { // two relays, then the dialler
				if _, _, err := checkAck(ack, target, req.Ephemeral); err != nil {
					b.Fatal(err)
				}
			}
			tKey, tE, _ := checkAck(ack, target, req.Ephemeral)
			dMaster := dialerSecret(cid, eph, tKey, tE)
			helloH := helloHash(cid, eph.ser, ack.TargetKey, ack.Ephemeral)
			if _, _, err := checkHello(buildHello(id, helloH, nil), helloH); err != nil {
				b.Fatal(err)
			}
			if dMaster != tMaster {
				b.Fatal("masters differ")
			}
		}
	})
	b.Run("ticket", func(b *testing.B) {
		iss := newTicketIssuer(time.Now, rand.Reader, time.Hour, 1<<30)
		var master [32]byte
		rand.Read(master[:])
		ticket, err := iss.issue(master, target, id.ser)
		if err != nil {
			b.Fatal(err)
		}
		rs := ticketSecret(master, ticket)
		var cid addr.ConnID
		b.ReportAllocs()
		for b.Loop() {
			var nd, nt [16]byte
			rand.Read(nd[:])
			rand.Read(cid[:])
			lock := ticketLock(ticketProof(rs, nd))
			o, err := iss.open(ticket, target)
			if err != nil {
				b.Fatal(err)
			}
			rand.Read(nt[:])
			proof := ticketProof(o.rs, nd)
			tMaster := ticketMaster(cid, o.rs, nd, nt)
			confirm := ticketConfirm(tMaster, cid)
			next, err := iss.issue(tMaster, target, o.dialler)
			if err != nil {
				b.Fatal(err)
			}
			for range 3 { // two relays, then the dialler
				if !checkTicketProof(lock, proof) {
					b.Fatal("proof")
				}
			}
			dMaster := ticketMaster(cid, rs, nd, nt)
			if ticketConfirm(dMaster, cid) != confirm {
				b.Fatal("confirm")
			}
			ticket, rs = next, ticketSecret(dMaster, next)
		}
	})
}
