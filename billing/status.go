package billing

import (
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// ChannelStatus describes the account and channel with one neighbour.
type ChannelStatus struct {
	Peer          addr.NodeID
	ID            channel.ID
	Phase         channel.Phase
	Ready         bool
	Local, Remote btcutil.Amount // balances
	Version       uint32
	StatesLeft    uint32   // at the last height learned
	Funding       [32]byte // the funding txid (zero until it exists)
	Close         [32]byte // the cooperative close's txid, once signed
	// What was metered and paid: satoshis owed to us / by us (metered,
	// unpaid), and paid to us / by us over the channel.
	OwedToUs, OwedByUs, PaidToUs, PaidByUs int64
	CutOff                                 bool
}

// Channels returns the node's accounts with its neighbours: those with a
// channel or something owed. Nil once the engine is closed.
func (e *Engine) Channels() []ChannelStatus {
	var out []ChannelStatus
	e.do(func() {
		e.fold()
		out = make([]ChannelStatus, 0, len(e.accts))
		for id, a := range e.accts {
			if a.ch == nil && a.owedToUs == 0 && a.owedByUs == 0 {
				continue
			}
			s := ChannelStatus{Peer: id, OwedToUs: a.owedToUs / 1000, OwedByUs: a.owedByUs / 1000,
				PaidToUs: a.paidToUs, PaidByUs: a.paidByUs, CutOff: a.cutOff, Ready: a.ready}
			if a.ch != nil {
				s.ID, s.Phase, s.Version, s.StatesLeft = a.ch.ID(), a.ch.Phase(), a.ch.Version(), a.ch.StatesLeft()
				s.Local, s.Remote = a.ch.Balance()
				if ft := a.ch.FundingTx(); ft != nil {
					s.Funding = ft.TxHash()
				}
				if ct, err := a.ch.CloseTx(); err == nil && ct != nil {
					s.Close = ct.TxHash()
				}
			}
			out = append(out, s)
		}
	})
	return out
}

// CloseChannel closes the channel with a neighbour cooperatively at fee
// rate: both sides sign a final transaction paying each its balance,
// broadcast as soon as it is complete.
func (e *Engine) CloseChannel(peer addr.NodeID, rate channel.FeeRate) error {
	var err error
	if derr := e.do(func() {
		a := e.accts[peer]
		switch {
		case a == nil || a.ch == nil:
			err = fmt.Errorf("%w: %s", ErrNoChannel, peer.String())
			return
		case a.link == nil:
			err = fmt.Errorf("%w: %s", ErrNoLink, peer.String())
			return
		}
		var msg []byte
		if msg, err = a.ch.Close(rate); err == nil {
			err = a.link.Send(&wire.ChannelMessage{Payload: msg})
		}
	}); derr != nil {
		return derr
	}
	return err
}

// ForceCloseChannel returns the newest state of the channel with a
// neighbour, signed by both, to broadcast once its lock time is reached.
func (e *Engine) ForceCloseChannel(peer addr.NodeID) (*btcwire.MsgTx, error) {
	var tx *btcwire.MsgTx
	var err error
	if derr := e.do(func() {
		a := e.accts[peer]
		if a == nil || a.ch == nil {
			err = fmt.Errorf("%w: %s", ErrNoChannel, peer.String())
			return
		}
		tx, err = a.ch.ForceClose()
	}); derr != nil {
		return nil, derr
	}
	return tx, err
}
