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
