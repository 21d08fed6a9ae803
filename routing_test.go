package foxtrot

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/internal/simnet"
)

// controlMessages is what setting up connections has cost the network so
// far: the connect requests, acks and refusals every node sent.
func controlMessages(nodes []*Node) int64 {
	var n int64
	for _, nd := range nodes {
		n += nd.router.Stats().ControlMessages()
	}
	return n
}

// inFlight describes the connect requests and acks that some node has
// sent and its neighbour has not handled yet ("" when there are none):
// every copy sent is, once it arrives, counted as seen, duplicate,
// invalid, throttled or refused, and every ack as verified (AcksBack),
// invalid or unknown. It holds for a network whose links stay up.
func inFlight(nodes []*Node) string {
	var reqSent, reqHandled, ackSent, ackHandled int64
	for _, nd := range nodes {
		s := nd.router.Stats()
		reqSent += s.RequestsSent + s.RequestsForwarded
		reqHandled += s.RequestsSeen + s.RequestsDuplicate + s.RequestsInvalid + s.RequestsThrottled + s.RequestsRefusedCredit
		ackSent += s.AcksSent + s.AcksRelayed
		ackHandled += s.AcksInvalid + s.AcksUnknown
		for _, o := range nd.router.Observations() {
			ackHandled += o.AcksBack
		}
	}
	if reqSent == reqHandled && ackSent == ackHandled {
		return ""
	}
	return fmt.Sprintf("%d of %d requests and %d of %d acks handled", reqHandled, reqSent, ackHandled, ackSent)
}

// waitSettled waits until every control message sent has been handled:
// a connect's flood and its late answers are over.
func waitSettled(t testing.TB, nodes []*Node) {
	t.Helper()
	var last string
	require.Eventually(t, func() bool {
		last = inFlight(nodes)
		return last == ""
	}, 30*time.Second, time.Millisecond, "control messages still in flight")
	require.Empty(t, last)
}

func TestSecondConnectUsesWhatTheFirstTaught(t *testing.T) {
	sn := simnet.New(60, simnet.Random(4), simnet.Options{Seed: 3})
	nodes := startNet(t, sn)
	target := sn.Farthest(0)
	l := echoListener(t, nodes[target])
	connect := func() int64 {
		before := controlMessages(nodes)
		c := dialT(t, nodes[0], l.Addr())
		c.Close()
		// Count the other answers and the flood's last copies too.
		waitSettled(t, nodes)
		return controlMessages(nodes) - before
	}
	first, second := connect(), connect()
	t.Logf("60-node random network, %d hops: first connect %d control messages, second %d (%.1f%%)",
		sn.Distance(0, target), first, second, 100*float64(second)/float64(first))
	require.Less(t, second*5, first, "the second connect costs under a fifth of the first")
	require.NotEmpty(t, nodes[0].Routes())
	require.Equal(t, l.Addr(), nodes[0].Routes()[0].Target)
}
