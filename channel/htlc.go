package channel

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// HTLCOutput is an HTLC's output in a state transaction that reached the
// chain, with what is needed to spend it.
type HTLCOutput struct {
	OutPoint wire.OutPoint
	HTLC     HTLC
	// Script is the witness script the output pays to.
	Script []byte
}

// HTLCOutputs finds the HTLC outputs of stateTx, which must spend this
// channel's funding output: any state of the channel, not only the newest.
func (c *Channel) HTLCOutputs(stateTx *wire.MsgTx) ([]HTLCOutput, error) {
	if len(stateTx.TxIn) != 1 || stateTx.TxIn[0].PreviousOutPoint != c.t.fundOut {
		return nil, fmt.Errorf("%w: does not spend the funding output", ErrNotState)
	}
	scripts := make(map[string]htlc, len(c.hist))
	for _, h := range c.hist {
		scripts[string(p2wsh(c.t.htlcScript(h)))] = h
	}
	txid := stateTx.TxHash()
	var out []HTLCOutput
	for i, o := range stateTx.TxOut {
		h, ok := scripts[string(o.PkScript)]
		if !ok || o.Value != int64(h.Amount) {
			continue
		}
		out = append(out, HTLCOutput{
			OutPoint: wire.OutPoint{Hash: txid, Index: uint32(i)},
			HTLC:     c.export(h),
			Script:   c.t.htlcScript(h),
		})
	}
	return out, nil
}

// ClaimHTLC spends an incoming HTLC output with its preimage, paying the
// amount less a fee at rate r to the pkScript to. It is valid at once.
func (c *Channel) ClaimHTLC(o HTLCOutput, pre [32]byte, to []byte, r FeeRate) (*wire.MsgTx, error) {
	if !o.HTLC.Incoming {
		return nil, fmt.Errorf("%w: HTLC %d is ours; time it out", ErrUnknownHTLC, o.HTLC.ID)
	}
	if sha256.Sum256(pre[:]) != o.HTLC.Hash {
		return nil, fmt.Errorf("%w: HTLC %d", ErrBadPreimage, o.HTLC.ID)
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: o.OutPoint, Sequence: wire.MaxTxInSequenceNum})
	return c.spendHTLC(tx, o, to, r, pre[:], []byte{1})
}

// TimeoutHTLC spends an outgoing HTLC output back to us, paying the amount
// less a fee at rate r to the pkScript to. Its nLockTime is the HTLC's
// expiry: the chain accepts it once the height reaches the expiry.
func (c *Channel) TimeoutHTLC(o HTLCOutput, to []byte, r FeeRate) (*wire.MsgTx, error) {
	if o.HTLC.Incoming {
		return nil, fmt.Errorf("%w: HTLC %d is the peer's; claim it", ErrUnknownHTLC, o.HTLC.ID)
	}
	tx := wire.NewMsgTx(2)
	tx.LockTime = o.HTLC.Expiry
	// Not final, so that nLockTime (and CLTV) applies; bit 31 set, so it is
	// no BIP68 relative lock.
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: o.OutPoint, Sequence: wire.MaxTxInSequenceNum - 1})
	return c.spendHTLC(tx, o, to, r, nil)
}

func (c *Channel) spendHTLC(tx *wire.MsgTx, o HTLCOutput, to []byte, r FeeRate, branch ...[]byte) (*wire.MsgTx, error) {
	if err := checkPayoutScript(to); err != nil {
		return nil, err
	}
	tx.AddTxOut(wire.NewTxOut(0, to))
	fee := r.Fee(singleSigVSize(tx, o.Script, branch...))
	v := o.HTLC.Amount - fee
	if v < c.t.p.DustLimit {
		return nil, fmt.Errorf("%w: HTLC of %d leaves %d after fee", ErrAmount, o.HTLC.Amount, v)
	}
	tx.TxOut[0].Value = int64(v)
	pk := p2wsh(o.Script)
	fetch := txscript.NewCannedPrevOutputFetcher(pk, int64(o.HTLC.Amount))
	sig, err := sign(c.key, tx, 0, o.Script, int64(o.HTLC.Amount), fetch)
	if err != nil {
		return nil, err
	}
	w := wire.TxWitness{append(sig, byte(txscript.SigHashAll))}
	w = append(w, branch...)
	tx.TxIn[0].Witness = append(w, o.Script)
	if err := checkScripts(tx, fetch); err != nil {
		return nil, err
	}
	return tx, nil
}

// ExtractPreimage returns the preimage of hash if a witness of tx reveals
// it: how a relay learns the preimage when its downstream peer claims an
// HTLC on chain, to settle the upstream HTLC with it.
func ExtractPreimage(tx *wire.MsgTx, hash [32]byte) ([32]byte, bool) {
	for _, in := range tx.TxIn {
		for _, item := range in.Witness {
			if len(item) == 32 && sha256.Sum256(item) == hash {
				var p [32]byte
				copy(p[:], item)
				return p, true
			}
		}
	}
	return [32]byte{}, false
}
