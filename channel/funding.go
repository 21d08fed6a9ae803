package channel

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/txsort"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// An InputSigner produces the witness of one of our own funding inputs: it
// is the wallet's part of opening a channel. The channel calls it only
// after it holds the refund signed by both sides.
type InputSigner interface {
	SignInput(tx *wire.MsgTx, idx int, prevOuts txscript.PrevOutputFetcher) (wire.TxWitness, error)
}

// KeySigner signs P2WPKH and P2TR (key path) inputs with one key.
type KeySigner struct{ Key *btcec.PrivateKey }

// SignInput implements InputSigner.
func (k KeySigner) SignInput(tx *wire.MsgTx, idx int, prevOuts txscript.PrevOutputFetcher) (wire.TxWitness, error) {
	prev := prevOuts.FetchPrevOutput(tx.TxIn[idx].PreviousOutPoint)
	if prev == nil {
		return nil, fmt.Errorf("%w: input %d: unknown previous output", ErrFunding, idx)
	}
	hashes := txscript.NewTxSigHashes(tx, prevOuts)
	switch txscript.GetScriptClass(prev.PkScript) {
	case txscript.WitnessV0PubKeyHashTy:
		return txscript.WitnessSignature(tx, hashes, idx, prev.Value, prev.PkScript, txscript.SigHashAll, k.Key, true)
	case txscript.WitnessV1TaprootTy:
		return txscript.TaprootWitnessSignature(tx, hashes, idx, prev.Value, prev.PkScript, txscript.SigHashDefault, k.Key)
	}
	return nil, fmt.Errorf("%w: KeySigner cannot sign %v", ErrNoSigner, txscript.GetScriptClass(prev.PkScript))
}

// FundingInput is an unspent native segwit output that goes into the
// funding transaction.
type FundingInput struct {
	OutPoint wire.OutPoint
	PrevOut  wire.TxOut
	// Signer signs the input; required for our own inputs, unused for
	// the peer's (which arrive in messages).
	Signer InputSigner
}

// Contribution is what one side brings to a channel.
type Contribution struct {
	// Key is this side's channel key: one of the two funding keys, and
	// the key of its HTLC branches and spare outputs. Required. Use a
	// fresh key per channel.
	Key *btcec.PrivateKey
	// Payout is the pkScript this side's balance is paid to. Default:
	// P2WPKH of Key.
	Payout []byte
	// Amount is the value this side puts into the channel. The opener
	// must bring at least its reserve (see Channel.Reserve); the acceptor
	// may bring nothing.
	Amount btcutil.Amount
	// Inputs fund Amount, Change and this side's share of the funding
	// fee: whatever is left over. Native segwit only.
	Inputs []FundingInput
	// Change, if not nil, returns the rest of Inputs.
	Change *wire.TxOut
}

type funds struct {
	amount btcutil.Amount
	inputs []FundingInput
	change *wire.TxOut
}

func (f *funds) check(dust btcutil.Amount) error {
	if f.amount < 0 || f.amount > btcutil.MaxSatoshi {
		return fmt.Errorf("%w: contribution %d", ErrFunding, f.amount)
	}
	if len(f.inputs) > maxInputs {
		return fmt.Errorf("%w: %d inputs, limit %d", ErrFunding, len(f.inputs), maxInputs)
	}
	var in btcutil.Amount
	for _, i := range f.inputs {
		if err := checkSegwitInput(i.PrevOut.PkScript); err != nil {
			return err
		}
		if i.PrevOut.Value <= 0 || i.PrevOut.Value > int64(btcutil.MaxSatoshi) {
			return fmt.Errorf("%w: input value %d", ErrFunding, i.PrevOut.Value)
		}
		in += btcutil.Amount(i.PrevOut.Value)
	}
	out := f.amount
	if f.change != nil {
		if err := checkPayoutScript(f.change.PkScript); err != nil {
			return err
		}
		if btcutil.Amount(f.change.Value) < dust {
			return fmt.Errorf("%w: change %d is dust", ErrFunding, f.change.Value)
		}
		out += btcutil.Amount(f.change.Value)
	}
	if in < out || (len(f.inputs) == 0 && f.change != nil) {
		return fmt.Errorf("%w: inputs %d do not cover %d", ErrFunding, in, out)
	}
	return nil
}

// buildFunding builds the unsigned funding transaction from both sides'
// funds: version 2, inputs and outputs in BIP69 order, a final sequence on
// every input. It returns the transaction and the funding output index.
func buildFunding(f [2]funds, fundPk []byte) (*wire.MsgTx, uint32, error) {
	tx := wire.NewMsgTx(2)
	seen := map[wire.OutPoint]bool{}
	for _, side := range f {
		for _, in := range side.inputs {
			if seen[in.OutPoint] {
				return nil, 0, fmt.Errorf("%w: input %v used twice", ErrFunding, in.OutPoint)
			}
			seen[in.OutPoint] = true
			tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.OutPoint, Sequence: wire.MaxTxInSequenceNum})
		}
		if side.change != nil {
			tx.AddTxOut(wire.NewTxOut(side.change.Value, side.change.PkScript))
		}
	}
	if len(tx.TxIn) == 0 {
		return nil, 0, fmt.Errorf("%w: no inputs", ErrFunding)
	}
	tx.AddTxOut(wire.NewTxOut(int64(f[0].amount+f[1].amount), fundPk))
	txsort.InPlaceSort(tx)
	for i, o := range tx.TxOut {
		if string(o.PkScript) == string(fundPk) {
			return tx, uint32(i), nil
		}
	}
	return nil, 0, fmt.Errorf("%w: funding output missing", ErrFunding)
}

func fundingFetcher(f [2]funds) *txscript.MultiPrevOutFetcher {
	m := txscript.NewMultiPrevOutFetcher(nil)
	for _, side := range f {
		for _, in := range side.inputs {
			m.AddPrevOut(in.OutPoint, &wire.TxOut{Value: in.PrevOut.Value, PkScript: in.PrevOut.PkScript})
		}
	}
	return m
}

// fundingFee is the fee the funding transaction pays.
func fundingFee(f [2]funds) btcutil.Amount {
	var fee btcutil.Amount
	for _, side := range f {
		for _, in := range side.inputs {
			fee += btcutil.Amount(in.PrevOut.Value)
		}
		fee -= side.amount
		if side.change != nil {
			fee -= btcutil.Amount(side.change.Value)
		}
	}
	return fee
}
