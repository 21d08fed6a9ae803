package foxtrot

import (
	"github.com/btcsuite/btcd/btcutil"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/channel"
)

// ChannelStatus is the node's account with one neighbour: the payment
// channel between them and what was metered and paid over it.
type ChannelStatus struct {
	Peer          Addr
	ID            channel.ID
	Phase         channel.Phase
	Ready         bool           // the funding is confirmed: payments flow
	Local, Remote btcutil.Amount // the channel's balances
	Version       uint32         // the newest state's version
	StatesLeft    uint32
	Funding       [32]byte // the funding transaction's ID
	Close         [32]byte // the cooperative close's ID, once both signed
	// Satoshis metered and not yet paid (to us, by us), and paid over
	// the channel (to us, by us).
	OwedToUs, OwedByUs, PaidToUs, PaidByUs int64
	// CutOff is set while the neighbour owes more than the credit limit:
	// the node relays nothing for it.
	CutOff bool
}

// Channels returns the node's accounts with its neighbours (empty when
// billing is off).
func (n *Node) Channels() []ChannelStatus {
	var out []ChannelStatus
	for _, c := range n.router.Channels() {
		out = append(out, ChannelStatus{
			Peer: AddrFromHash160(c.Peer), ID: c.ID, Phase: c.Phase, Ready: c.Ready,
			Local: c.Local, Remote: c.Remote, Version: c.Version, StatesLeft: c.StatesLeft,
			Funding: c.Funding, Close: c.Close,
			OwedToUs: c.OwedToUs, OwedByUs: c.OwedByUs, PaidToUs: c.PaidToUs, PaidByUs: c.PaidByUs,
			CutOff: c.CutOff,
		})
	}
	return out
}

// CloseChannel closes the channel with a neighbour cooperatively, paying
// the fee rate given (satoshis per kvB): the final transaction is
// broadcast on Config.Billing.Chain as soon as both have signed it.
func (n *Node) CloseChannel(peerAddr Addr, feeRate channel.FeeRate) error {
	return n.router.CloseChannel(peerAddr.Hash160(), feeRate)
}

// ForceCloseChannel returns the newest state of the channel with a
// neighbour, signed by both: broadcast it once the chain reaches its lock
// time (its nLockTime) to close without the neighbour.
func (n *Node) ForceCloseChannel(peerAddr Addr) (*btcwire.MsgTx, error) {
	return n.router.ForceCloseChannel(peerAddr.Hash160())
}

// ServiceMeter counts the bytes of one connection that a neighbour pays
// for directly at a price per MiB, outside the per-hop prices of paths
// (a paid exit and its client: see Charge and Owe). Add only adds
// atomically; call Close when the connection ends.
type ServiceMeter struct {
	add   func(n int64)
	close func()
}

// Add counts n bytes of the connection, either direction.
func (m *ServiceMeter) Add(n int64) { m.add(n) }

// Close ends the metering. Idempotent.
func (m *ServiceMeter) Close() { m.close() }

// Charge meters a connection that neighbour (a node linked to this one)
// pays for directly, price satoshis per MiB both ways: it is asked to pay
// as it would be for relayed bytes, and cut off past the credit limit,
// when stop is called (on a goroutine of its own; at once if it already
// is cut off). Both ends must meter the same bytes: the client uses Owe
// at the same price. It fails with route.ErrBillingOff without
// Config.Billing.
func (n *Node) Charge(neighbour Addr, price uint64, stop func()) (*ServiceMeter, error) {
	m, err := n.router.Charge(neighbour.Hash160(), price, stop)
	if err != nil {
		return nil, err
	}
	return &ServiceMeter{add: m.Add, close: m.Close}, nil
}

// Owe meters a connection this node pays neighbour for directly, price
// satoshis per MiB both ways: what neighbour's Charge asks for, paid over
// the channel with it (opened from Config.Billing.Wallet if need be).
func (n *Node) Owe(neighbour Addr, price uint64) (*ServiceMeter, error) {
	m, err := n.router.Owe(neighbour.Hash160(), price)
	if err != nil {
		return nil, err
	}
	return &ServiceMeter{add: m.Add, close: func() {}}, nil
}
