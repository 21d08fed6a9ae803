package route

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/relay"
)

// dialForTicket makes a first connection from n to target and waits for
// the ticket the target sends over it.
func dialForTicket(t *testing.T, n *node, target [20]byte) {
	t.Helper()
	kept := n.r.Stats().TicketsKept
	s, err := dial(t, n, target, 10*time.Second)
	require.NoError(t, err)
	roundTrip(t, s, "first")
	require.Eventually(t, func() bool { return n.r.Stats().TicketsKept > kept }, 10*time.Second, time.Millisecond)
	s.Close()
}

// A repeat dial through two relays presents the ticket its first
// connection brought: nobody on the path signs, verifies or does ECDH
// to set it up, the relays check the ack with a hash, and the connection
// carries data both ways. publicKeyOps counts route's own curve work
// (signatures, verifications, ECDH, key pairs); the ends' rekey (session's
// rekey.go: the dialler's key made while the ack crosses the path, one
// ECDH at each end once the connection is up) is not route's and not on
// any relay. The fresh ticket the connection brings comes from the
// rekeyed secret, so a third dial resumes too.
func TestARepeatDialThroughTwoRelaysDoesNoPublicKeyWork(t *testing.T) {
	nodes := startNodes(t, simnet.New(4, simnet.Line, simnet.Options{}), nil, nil)
	l := echo(t, nodes[3])
	full := publicKeyOps.Load()
	dialForTicket(t, nodes[0], l.Addr())
	require.Greater(t, publicKeyOps.Load(), full, "a full handshake counts its public-key work")
	require.Zero(t, nodes[0].r.Stats().TicketDials, "the first dial had no ticket")

	for i := range 2 {
		kept := nodes[0].r.Stats().TicketsKept
		before := publicKeyOps.Load()
		s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
		require.NoError(t, err)
		roundTrip(t, s, "again")
		require.Equal(t, before, publicKeyOps.Load(), "public-key operations during a ticket dial")
		require.Len(t, s.Path(), 2, "through both relays")
		require.Equal(t, int64(i+1), nodes[0].r.Stats().TicketDials)
		require.True(t, l.Key().PubKey().IsEqual(s.RemoteKey()))
		sendAndCheck(t, s, 1<<20)
		require.Eventually(t, func() bool { return nodes[0].r.Stats().TicketsKept > kept }, 10*time.Second, time.Millisecond,
			"a resumed connection brings the next ticket, from its rekeyed secret")
		require.Equal(t, int64(i+1), nodes[0].r.Stats().TicketRekeys, "the ends ran their ECDH after the dial")
		require.Equal(t, int64(i+1), nodes[3].r.Stats().TicketRekeys)
		s.Close()
	}
	for _, n := range nodes[1:3] {
		require.Zero(t, n.r.Stats().AcksInvalid)
	}
	require.Zero(t, nodes[0].r.Stats().TicketFallbacks)
}

// The target knows who dialled with a ticket: the identity the ticket
// was issued to, as its first connection's hello proved.
func TestTheTargetSeesTheTicketHoldersIdentity(t *testing.T) {
	nodes := startNodes(t, simnet.New(3, simnet.Line, simnet.Options{}), nil, nil)
	l, err := nodes[2].r.Listen(newTestKey(t))
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan *Session, 2)
	go func() {
		for {
			s, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- s
		}
	}()
	for range 2 {
		s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
		require.NoError(t, err)
		in := <-accepted
		require.True(t, nodes[0].r.cfg.Identity.PubKey().IsEqual(in.RemoteKey()))
		_, err = s.Write([]byte("x"))
		require.NoError(t, err)
		b := make([]byte, 1)
		_, err = in.Read(b)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return nodes[0].r.Stats().TicketsKept > 0 }, 10*time.Second, time.Millisecond)
		s.Close()
		in.Close()
	}
	require.Equal(t, int64(1), nodes[0].r.Stats().TicketDials)
}

// A ticket is good for one connection. Presented again, with a fresh
// nonce and time (a new request), by the node that held it or by a relay
// that saw it pass, the target drops the request without a word: no ack,
// no refusal. The dialler's own second try falls back to a full
// handshake within its Dial.
func TestAReplayedTicketIsRefusedSilently(t *testing.T) {
	nodes := startNodes(t, simnet.New(4, simnet.Line, simnet.Options{}), nil, nil)
	l := echo(t, nodes[3])
	dialForTicket(t, nodes[0], l.Addr())
	h, ok := nodes[0].r.tickets.take(l.Addr())
	require.True(t, ok)
	copyOf := heldTicket{ticket: append([]byte(nil), h.ticket...), rs: h.rs, expires: h.expires, key: h.key}

	s, err := nodes[0].r.dialTicket(context.Background(), nodes[0].r.id, nodes[0].r.newDial(0, l.Addr()), h)
	require.NoError(t, err)
	roundTrip(t, s, "resumed")
	s.Close()
	target := nodes[3].r
	acks, refused := target.Stats().AcksSent, target.Stats().TicketsRefused
	relayBefore := nodes[2].r.Stats()

	// A relay that saw the ticket replays it toward the target.
	req := &TicketRequest{HopLimit: 4, Target: l.Addr(), Time: uint64(time.Now().UnixMilli()), MaxPrice: ^uint64(0)}
	rand.Read(req.Nonce[:])
	rand.Read(req.Lock[:])
	copy(req.Ticket[:], h.ticket)
	require.NoError(t, linkTo(t, nodes[2], nodes[3]).Send(req))
	require.Eventually(t, func() bool { return target.Stats().TicketsRefused == refused+1 }, 10*time.Second, time.Millisecond)

	// The dialler replays its own ticket: its dial falls back.
	_, err = nodes[0].r.dialTicket(context.Background(), nodes[0].r.id, nodes[0].r.newDial(0, l.Addr()), copyOf)
	require.ErrorIs(t, err, errTicketFallback)
	require.Equal(t, refused+2, target.Stats().TicketsRefused)
	require.Equal(t, acks, target.Stats().AcksSent, "a replay is answered with nothing")
	relayAfter := nodes[2].r.Stats()
	require.Equal(t, relayBefore.AcksRelayed, relayAfter.AcksRelayed, "no refusal travels back")
	require.Equal(t, relayBefore.AcksUnknown, relayAfter.AcksUnknown, "no refusal travels back")
}

// A ticket the target cannot take falls back to a full handshake in the
// same Dial, at once: the target refuses it (unsigned) instead of leaving
// the dialler to wait. The dialler's fallback wait is set to a minute
// here, so a dial that waited for it could not succeed within its 10 s.
func TestAnUnknownOrExpiredTicketFallsBackAtOnce(t *testing.T) {
	for _, tc := range []string{"the target restarted", "expired"} {
		t.Run(tc, func(t *testing.T) {
			var offset atomic.Int64
			nodes := startNodes(t, simnet.New(3, simnet.Line, simnet.Options{}), func(i int, c *Config) {
				c.MinDirectedWait = time.Minute
				if i == 2 {
					c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
					c.MaxClockSkew = time.Hour
				}
			}, nil)
			l := echo(t, nodes[2])
			dialForTicket(t, nodes[0], l.Addr())
			switch tc {
			case "the target restarted": // its ticket keys are gone
				r := nodes[2].r
				r.mu.Lock()
				r.issuer = newTicketIssuer(r.cfg.Now, rand.Reader, 0, 0)
				r.mu.Unlock()
			case "expired":
				offset.Store(int64(11 * time.Minute))
			}
			s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
			require.NoError(t, err)
			roundTrip(t, s, "full handshake")
			s.Close()
			st := nodes[0].r.Stats()
			require.Equal(t, int64(1), st.TicketFallbacks)
			require.Zero(t, st.TicketDials)
			require.Equal(t, int64(1), nodes[2].r.Stats().TicketsRefused)
		})
	}
}

// A relay cannot answer a ticket request for the target: without the
// ticket's secret it has no proof that opens the request's lock, and the
// relays upstream (and the dialler) check it with one hash. No circuit is
// recorded for a forged ack.
func TestARelayCannotForgeATicketAck(t *testing.T) {
	nodes := startNodes(t, simnet.New(4, simnet.Line, simnet.Options{}), nil, nil)
	l := echo(t, nodes[3])
	dialForTicket(t, nodes[0], l.Addr())
	s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, int64(1), nodes[0].r.Stats().TicketDials)

	forged := &TicketAck{ID: s.ID(), Path: 9}
	rand.Read(forged.Proof[:])
	rand.Read(forged.Nonce[:])
	for _, at := range []struct{ n, from *node }{{nodes[1], nodes[2]}, {nodes[0], nodes[1]}} {
		invalid := at.n.r.Stats().AcksInvalid
		at.n.r.handleTicketAck(linkTo(t, at.n, at.from), forged)
		require.Equal(t, invalid+1, at.n.r.Stats().AcksInvalid)
		require.False(t, at.n.r.relay.Has(relay.Key{ID: s.ID(), Path: 9}))
	}
	roundTrip(t, s, "unharmed")
}

// With tickets off, nothing is issued and every dial is a full handshake.
func TestNoTicketsMeansFullHandshakes(t *testing.T) {
	nodes := startNodes(t, simnet.New(3, simnet.Line, simnet.Options{}), func(i int, c *Config) { c.NoTickets = true }, nil)
	l := echo(t, nodes[2])
	for range 2 {
		s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
		require.NoError(t, err)
		roundTrip(t, s, "full")
		s.Close()
	}
	require.Zero(t, nodes[2].r.Stats().TicketsIssued)
	require.Zero(t, nodes[0].r.Stats().TicketDials)
}

// FuzzDecodeTicketMessages decodes arbitrary bodies as each ticket
// message: nothing may panic, whatever decodes re-encodes to the same
// bytes (one encoding per message), and a ticket ack passes a lock's
// check only with the proof the lock was made from.
func FuzzDecodeTicketMessages(f *testing.F) {
	var proof [32]byte
	proof[0] = 9
	lock := ticketLock(proof)
	req := &TicketRequest{HopLimit: 3, Flags: 1, Target: [20]byte{1}, Nonce: [16]byte{2}, Time: 5, MaxPrice: 6, Lock: lock}
	ack := &TicketAck{ID: [20]byte{7}, Path: 2, Nonce: [16]byte{8}, Proof: proof, Confirm: [32]byte{10},
		Hops: []wire.Hop{{Key: [33]byte{2, 8}, Price: 2, ValidUntil: 3}}}
	for _, m := range []wire.Message{req, ack, &TicketAck{}, &TicketRefuse{ID: [20]byte{11}}} {
		f.Add(byte(m.Type()), m.AppendBody(nil))
	}
	decoders := map[wire.Type]wire.DecodeFunc{
		TypeTicketRequest: DecodeTicketRequest, TypeTicketAck: DecodeTicketAck, TypeTicketRefuse: DecodeTicketRefuse,
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		dec := decoders[wire.Type(typ)]
		if dec == nil {
			return
		}
		m, err := dec(body)
		if err != nil {
			return
		}
		if m.Type() != wire.Type(typ) {
			t.Fatalf("decoded a %v as %v", wire.Type(typ), m.Type())
		}
		if got := m.AppendBody(nil); !bytes.Equal(got, body) {
			t.Fatalf("re-encodes to %x, not %x", got, body)
		}
		if a, ok := m.(*TicketAck); ok && checkTicketProof(lock, a.Proof) && a.Proof != proof {
			t.Fatalf("a forged proof opened the lock: %x", a.Proof)
		}
	})
}

// FuzzCheckTicketHello checks arbitrary hello bodies (a resume carries
// one whose length nothing else checked) against a ticket's identity:
// nothing may panic, and only a hello naming that identity with a zero
// signature passes.
func FuzzCheckTicketHello(f *testing.F) {
	id := newKeyPair(fixedKey(5))
	f.Add(ticketHello(id, nil))
	f.Add(ticketHello(id, []Hop{{Node: [20]byte{1}}, {Node: [20]byte{2}}}))
	f.Add(append(ticketHello(id, nil)[:helloMin-1], 3))
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, hops, err := checkTicketHello(b, id.ser)
		if err != nil {
			return
		}
		if !pub.IsEqual(id.pub) || len(b) != helloMin+20*len(hops) || !bytes.Equal(b[33:97], make([]byte, 64)) {
			t.Fatalf("a hello passed that should not: %x", b)
		}
		if _, _, err := checkHello(b, [32]byte{}); err == nil {
			t.Fatalf("a zero signature verified")
		}
	})
}

// A hello whose relay count promises more relays than its bytes hold is
// refused, not read past its end: a resume's hello reaches the check with
// only a lower bound on its length, and before this check a dialler
// could make the target's node panic with one.
func TestAHelloShorterThanItsRelayCountIsRefused(t *testing.T) {
	id := newKeyPair(fixedKey(5))
	helloH := [32]byte{1}
	b := append(buildHello(id, helloH, nil)[:helloMin-1], 3)
	b = append(b, 1, 2, 3, 4, 5)
	_, _, err := checkHello(b, helloH)
	require.ErrorIs(t, err, ErrProtocol)
	_, _, err = checkTicketHello(b, id.ser)
	require.ErrorIs(t, err, ErrProtocol)
}

// A ticket connection to a neighbour (no relays) relies on the peer
// link's encryption and does not rekey; it still brings the next ticket,
// so repeat dials to a neighbour keep resuming.
func TestADirectResumedConnectionBringsTheNextTicketToo(t *testing.T) {
	nodes := startNodes(t, simnet.New(2, simnet.Line, simnet.Options{}), nil, nil)
	l := echo(t, nodes[1])
	dialForTicket(t, nodes[0], l.Addr())
	for i := range 2 {
		kept := nodes[0].r.Stats().TicketsKept
		s, err := dial(t, nodes[0], l.Addr(), 10*time.Second)
		require.NoError(t, err)
		roundTrip(t, s, "direct")
		require.Empty(t, s.Path())
		require.Equal(t, int64(i+1), nodes[0].r.Stats().TicketDials)
		require.Eventually(t, func() bool { return nodes[0].r.Stats().TicketsKept > kept }, 10*time.Second, time.Millisecond)
		s.Close()
	}
}
