package route

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/internal/simnet"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
)

// asked is a router that reports every payment request it receives.
type asked struct {
	*Router
	requests chan uint64
}

func (a asked) HandleMessage(l *peer.Link, m wire.Message) {
	if p, ok := m.(*wire.PaymentRequest); ok {
		select {
		case a.requests <- p.Owed:
		default:
		}
	}
	a.Router.HandleMessage(l, m)
}

// TestALinkComingUpWhileARelayAsksForPaymentIsNoDataRace brings the
// dialler's link up again at the relay (as a replacement link does) over
// and over while the relay meters the dialler's bytes and asks it to pay,
// again and again (it never pays: it has no wallet). The account's link
// is written by LinkUp and read to ask; the biller that read it outside
// its lock failed here under -race.
func TestALinkComingUpWhileARelayAsksForPaymentIsNoDataRace(t *testing.T) {
	chain := simchain.New(simchain.Config{})
	sn := simnet.New(3, simnet.Line, simnet.Options{})
	requests := make(chan uint64, 1)
	nodes := startNodes(t, sn, func(i int, c *Config) {
		switch i {
		case 0:
			c.Billing = &Billing{MaxPrice: 1000, Chain: chain}
		case 1:
			c.Billing = &Billing{Price: 1000, Chunk: 1, CreditLimit: 1 << 40, Chain: chain, PollInterval: 50 * time.Millisecond}
		}
	}, func(i int, r *Router) peer.Handler {
		if i == 0 {
			return asked{r, requests}
		}
		return nil
	})
	l := echo(t, nodes[2])
	s, err := dial(t, nodes[0], l.Addr(), 5*time.Second)
	require.NoError(t, err)
	defer s.Close()

	up := linkTo(t, nodes[1], nodes[0])
	stop, relinked := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				relinked <- n
				return
			default:
				nodes[1].r.LinkUp(up)
				n++
			}
		}
	}()
	msg := strings.Repeat("x", 32<<10)
	for range 16 {
		roundTrip(t, s, msg)
	}
	// The traffic stopped; the relay keeps asking on its own.
	for range 4 {
		select {
		case <-requests:
		case <-time.After(10 * time.Second):
			t.Fatal("the relay stopped asking for payment")
		}
	}
	close(stop)
	require.Positive(t, <-relinked)

	dialler := addr.NodeIDFromPubKey(nodes[0].r.cfg.Identity.PubKey())
	var owed int64
	for _, c := range nodes[1].r.Channels() {
		if c.Peer == dialler {
			owed = c.OwedToUs
		}
	}
	require.Positive(t, owed, "the relay metered the dialler")
}
