package route

import (
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/billing"
	"github.com/foxtrotnet/foxtrot/channel"
)

// Billing makes a node charge for what it relays and pay for what it
// uses; see billing.Config, which it is.
type Billing = billing.Config

// Wallet funds payment channels; see billing.Wallet.
type Wallet = billing.Wallet

// ChannelStatus describes the account and channel with one neighbour; see
// billing.ChannelStatus.
type ChannelStatus = billing.ChannelStatus

// Channels returns the node's accounts with its neighbours (nil when
// billing is off).
func (r *Router) Channels() []ChannelStatus {
	if r.bill == nil {
		return nil
	}
	return r.bill.Channels()
}

// CloseChannel closes the channel with a neighbour cooperatively: both
// sides sign a final transaction paying each its balance, broadcast as
// soon as it is complete.
func (r *Router) CloseChannel(peerID addr.NodeID, rate channel.FeeRate) error {
	if r.bill == nil {
		return ErrBillingOff
	}
	return r.bill.CloseChannel(peerID, rate)
}

// ForceCloseChannel returns the newest state of the channel with a
// neighbour, to broadcast once its lock time is reached.
func (r *Router) ForceCloseChannel(peerID addr.NodeID) (*btcwire.MsgTx, error) {
	if r.bill == nil {
		return nil, ErrBillingOff
	}
	return r.bill.ForceCloseChannel(peerID)
}

// Charge returns the meter of a service connection that neighbour peer
// pays this node for directly, price per MiB of its bytes (either
// direction), outside the per-hop prices of paths: a paid exit charges
// its client so. stop is called (on a goroutine of its own) if peer is
// cut off while the connection lives, or at once if it already is. Close
// the meter when the connection ends.
func (r *Router) Charge(peer addr.NodeID, price uint64, stop func()) (*billing.RelayMeter, error) {
	if r.bill == nil {
		return nil, ErrBillingOff
	}
	return r.bill.Relay(peer, peer, price, 0, stop), nil
}

// Owe returns the meter of a service connection this node pays
// neighbour peer for directly, price per MiB: the other side of Charge.
// Both count the same bytes, so what one asks for the other pays.
func (r *Router) Owe(peer addr.NodeID, price uint64) (billing.OriginMeter, error) {
	if r.bill == nil {
		return billing.OriginMeter{}, ErrBillingOff
	}
	return r.bill.Origin(peer, price), nil
}
