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
