package cosign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// ChangeDust is the smallest change output NewProposal makes: the dust
// limit of a P2WSH output at the default relay fee. Smaller change must go
// to the fee instead, and the memo must say so.
const ChangeDust btcutil.Amount = 330

// UTXO is a wallet output the proposer may spend. The proposer knows its
// wallet's outputs; nothing here looks at a chain.
type UTXO struct {
	OutPoint wire.OutPoint
	Amount   btcutil.Amount
}

type utxoJSON struct {
	TxID      string `json:"txid"`
	Vout      uint32 `json:"vout"`
	AmountSat int64  `json:"amount_sat"`
}

// ParseUTXOs parses a JSON list of wallet outputs:
//
//	[{"txid": "<hex, as block explorers show it>", "vout": 0, "amount_sat": 100000}]
func ParseUTXOs(data []byte) ([]UTXO, error) {
	var js []utxoJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&js); err != nil {
		return nil, fmt.Errorf("cosign: UTXO list: %w", err)
	}
	utxos := make([]UTXO, len(js))
	for i, u := range js {
		h, err := chainhash.NewHashFromStr(u.TxID)
		if err != nil || len(u.TxID) != 2*chainhash.HashSize {
			return nil, fmt.Errorf("cosign: UTXO %d: txid %q is not 32 bytes of hex", i, u.TxID)
		}
		utxos[i] = UTXO{OutPoint: wire.OutPoint{Hash: *h, Index: u.Vout}, Amount: btcutil.Amount(u.AmountSat)}
	}
	return utxos, nil
}

// Payee is an output of a proposal.
type Payee struct {
	Address string // in the wallet's network
	Amount  btcutil.Amount
}

// Memo is what a proposal says it does: pay these payees, in this order,
// and this fee. Any other output must pay the wallet itself (change). The
// note is free text for the co-signers.
type Memo struct {
	Payees []Payee
	Fee    btcutil.Amount
	Note   string
}

// NewProposal builds a proposal that spends all of utxos (wallet outputs)
// to the memo's payees, pays the memo's fee, and returns the rest to the
// wallet as a change output placed last (none if the rest is zero; an error
// if it is below ChangeDust). It signs every input with key, a wallet key,
// and gives the proposal a random ID and the current time. Encode signs the
// message itself.
func NewProposal(w *Wallet, key *btcec.PrivateKey, utxos []UTXO, memo Memo) (*Proposal, error) {
	if !w.IsMember(key.PubKey()) {
		return nil, fmt.Errorf("%w: proposer %s", ErrNotMember, shortKey(key.PubKey()))
	}
	if err := memo.validate(); err != nil {
		return nil, err
	}
	if len(utxos) == 0 {
		return nil, fmt.Errorf("cosign: proposal spends no UTXOs")
	}
	tx := wire.NewMsgTx(2)
	var in btcutil.Amount
	seen := make(map[wire.OutPoint]bool)
	for _, u := range utxos {
		if seen[u.OutPoint] {
			return nil, fmt.Errorf("cosign: UTXO %s listed twice", u.OutPoint)
		}
		seen[u.OutPoint] = true
		if u.Amount <= 0 || u.Amount > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("cosign: UTXO %s: amount %d sat out of range", u.OutPoint, int64(u.Amount))
		}
		in += u.Amount
		// Sequence 0xfffffffd: final for lock time, signals replaceability.
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: u.OutPoint, Sequence: wire.MaxTxInSequenceNum - 2})
	}
	out := memo.Fee
	for i, p := range memo.Payees {
		script, err := w.payeeScript(p.Address)
		if err != nil {
			return nil, fmt.Errorf("cosign: payee %d: %w", i, err)
		}
		tx.AddTxOut(wire.NewTxOut(int64(p.Amount), script))
		out += p.Amount
	}
	change := in - out
	switch {
	case in > btcutil.MaxSatoshi || out > btcutil.MaxSatoshi:
		return nil, fmt.Errorf("cosign: amounts above 21 million BTC")
	case change < 0:
		return nil, fmt.Errorf("%w: inputs %v, payees and fee %v", ErrInsufficientFunds, in, out)
	case change > 0 && change < ChangeDust:
		return nil, fmt.Errorf("cosign: change of %d sat is below the dust limit of %d sat; add it to the fee",
			int64(change), int64(ChangeDust))
	case change > 0:
		tx.AddTxOut(wire.NewTxOut(int64(change), w.PkScript()))
	}
	if len(tx.TxOut) == 0 {
		return nil, fmt.Errorf("cosign: proposal has no outputs (everything would go to the fee)")
	}
	pkt, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	u, err := psbt.NewUpdater(pkt)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	for i, utxo := range utxos {
		if err := u.AddInWitnessUtxo(wire.NewTxOut(int64(utxo.Amount), w.PkScript()), i); err != nil {
			return nil, fmt.Errorf("cosign: input %d: %w", i, err)
		}
		if err := u.AddInWitnessScript(w.WitnessScript(), i); err != nil {
			return nil, fmt.Errorf("cosign: input %d: %w", i, err)
		}
		if err := u.AddInSighashType(txscript.SigHashAll, i); err != nil {
			return nil, fmt.Errorf("cosign: input %d: %w", i, err)
		}
	}
	if err := signInputs(pkt, w, key); err != nil {
		return nil, err
	}
	id, err := NewID()
	if err != nil {
		return nil, fmt.Errorf("cosign: proposal ID: %w", err)
	}
	return &Proposal{
		Header: Header{ID: id, Time: time.Now().UTC().Truncate(time.Second), Sender: key.PubKey()},
		Memo:   memo,
		Packet: pkt,
	}, nil
}

// payeeScript returns the output script for a payee address in the wallet's
// network; the wallet's own address is not a payee (it gets change).
func (w *Wallet) payeeScript(address string) ([]byte, error) {
	addr, err := btcutil.DecodeAddress(address, w.net)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, err)
	}
	if !addr.IsForNet(w.net) {
		return nil, fmt.Errorf("address %q is not a %s address", address, networkName(w.net))
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, err)
	}
	if bytes.Equal(script, w.pkScript) {
		return nil, fmt.Errorf("address %q is the wallet itself; change is implicit", address)
	}
	return script, nil
}

// CheckProposal checks a proposal the way a co-signer must before signing
// it, and returns what it does. In order:
//
//   - the proposer is a wallet member (ErrNotMember);
//   - the PSBT is well formed: inputs and outputs, no duplicate inputs, no
//     finalized or foreign fields, SIGHASH_ALL (ErrMalformed);
//   - every input's witness UTXO pays the wallet's P2WSH script, with the
//     wallet's witness script (ErrForeignInput);
//   - the outputs that do not pay the wallet are exactly the memo's payees,
//     in order, with their amounts, and the fee is the memo's (ErrMemoMismatch);
//   - every input carries exactly one partial signature, the proposer's, and
//     it verifies (ErrBadPartialSig).
//
// The input amounts are the proposer's word (the witness UTXOs); a signature
// commits to them, so a lie about one makes that signature useless on chain.
func (w *Wallet) CheckProposal(p *Proposal) (*Summary, error) {
	if p == nil || p.Sender == nil || p.Packet == nil || p.Packet.UnsignedTx == nil {
		return nil, fmt.Errorf("%w: incomplete proposal", ErrMalformed)
	}
	if !w.IsMember(p.Sender) {
		return nil, fmt.Errorf("%w: proposer %s", ErrNotMember, shortKey(p.Sender))
	}
	if err := p.Memo.validate(); err != nil {
		return nil, err
	}
	pkt, tx := p.Packet, p.Packet.UnsignedTx
	switch {
	case len(tx.TxIn) == 0 || len(tx.TxOut) == 0:
		return nil, fmt.Errorf("%w: transaction needs inputs and outputs", ErrMalformed)
	case len(pkt.Inputs) != len(tx.TxIn) || len(pkt.Outputs) != len(tx.TxOut):
		return nil, fmt.Errorf("%w: PSBT sections do not match the transaction", ErrMalformed)
	case tx.Version != 1 && tx.Version != 2:
		return nil, fmt.Errorf("%w: transaction version %d", ErrMalformed, tx.Version)
	}

	s := &Summary{
		ID: p.ID, Proposer: p.Sender, Time: p.Time,
		Wallet: w.addr.EncodeAddress(), M: w.m, N: len(w.keys), Network: networkName(w.net),
		TxID: tx.TxHash(), LockTime: tx.LockTime, Note: p.Memo.Note,
	}
	var in btcutil.Amount
	seen := make(map[wire.OutPoint]bool)
	for i := range pkt.Inputs {
		amt, err := w.checkInput(pkt, i)
		if err != nil {
			return nil, err
		}
		op := tx.TxIn[i].PreviousOutPoint
		if seen[op] {
			return nil, fmt.Errorf("%w: input %d spends %s twice", ErrMalformed, i, op)
		}
		seen[op] = true
		if in += amt; in > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("%w: inputs above 21 million BTC", ErrMalformed)
		}
		s.Inputs = append(s.Inputs, UTXO{OutPoint: op, Amount: amt})
	}

	out, change, err := w.checkOutputs(tx, &p.Memo)
	if err != nil {
		return nil, err
	}
	if out > in {
		return nil, fmt.Errorf("%w: outputs (%v) exceed inputs (%v)", ErrMalformed, out, in)
	}
	if fee := in - out; fee != p.Memo.Fee {
		return nil, fmt.Errorf("%w: fee is %d sat, memo says %d sat", ErrMemoMismatch, int64(fee), int64(p.Memo.Fee))
	}
	s.Payees = append([]Payee(nil), p.Memo.Payees...)
	s.Change, s.Fee = change, p.Memo.Fee
	s.VSize = w.estimateVSize(tx)

	hashes := sigHashes(tx, prevOuts(pkt))
	for i := range pkt.Inputs {
		in := &pkt.Inputs[i]
		ps, ok := partialSigBy(in, p.Sender)
		if !ok || len(in.PartialSigs) != 1 {
			return nil, fmt.Errorf("%w: input %d must carry exactly the proposer's partial signature (has %d)",
				ErrBadPartialSig, i, len(in.PartialSigs))
		}
		if err := verifyPartialSig(tx, hashes, i, in.WitnessUtxo.Value, w.script, ps); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkInput checks input i of pkt and returns its amount.
func (w *Wallet) checkInput(pkt *psbt.Packet, i int) (btcutil.Amount, error) {
	in := &pkt.Inputs[i]
	op := pkt.UnsignedTx.TxIn[i].PreviousOutPoint
	if in.WitnessUtxo == nil {
		return 0, fmt.Errorf("%w: input %d (%s) has no witness UTXO", ErrForeignInput, i, op)
	}
	if !bytes.Equal(in.WitnessUtxo.PkScript, w.pkScript) {
		return 0, fmt.Errorf("%w: input %d (%s) spends script %x, not the wallet's",
			ErrForeignInput, i, op, in.WitnessUtxo.PkScript)
	}
	if !bytes.Equal(in.WitnessScript, w.script) {
		return 0, fmt.Errorf("%w: input %d: witness script is not the wallet's", ErrMalformed, i)
	}
	amt := btcutil.Amount(in.WitnessUtxo.Value)
	if amt <= 0 || amt > btcutil.MaxSatoshi {
		return 0, fmt.Errorf("%w: input %d: amount %d sat out of range", ErrMalformed, i, int64(amt))
	}
	switch {
	case in.RedeemScript != nil, in.FinalScriptSig != nil, in.FinalScriptWitness != nil,
		in.TaprootKeySpendSig != nil, len(in.TaprootScriptSpendSig) > 0, len(in.TaprootLeafScript) > 0,
		in.TaprootInternalKey != nil, in.TaprootMerkleRoot != nil:
		return 0, fmt.Errorf("%w: input %d has fields a P2WSH multisig input does not", ErrMalformed, i)
	case in.SighashType != 0 && in.SighashType != txscript.SigHashAll:
		return 0, fmt.Errorf("%w: input %d asks for sighash type %#x", ErrMalformed, i, uint32(in.SighashType))
	}
	if prev := in.NonWitnessUtxo; prev != nil {
		if prev.TxHash() != op.Hash || int(op.Index) >= len(prev.TxOut) ||
			!psbt.TxOutsEqual(prev.TxOut[op.Index], in.WitnessUtxo) {
			return 0, fmt.Errorf("%w: input %d: non-witness UTXO does not match", ErrMalformed, i)
		}
	}
	return amt, nil
}

// checkOutputs matches tx's outputs against the memo and returns the total
// paid out and the change.
func (w *Wallet) checkOutputs(tx *wire.MsgTx, memo *Memo) (out, change btcutil.Amount, err error) {
	scripts := make([][]byte, len(memo.Payees))
	for i, p := range memo.Payees {
		if scripts[i], err = w.payeeScript(p.Address); err != nil {
			return 0, 0, fmt.Errorf("%w: payee %d: %w", ErrMemoMismatch, i, err)
		}
	}
	next := 0
	for i, o := range tx.TxOut {
		amt := btcutil.Amount(o.Value)
		if amt <= 0 || amt > btcutil.MaxSatoshi {
			return 0, 0, fmt.Errorf("%w: output %d: amount %d sat out of range", ErrMalformed, i, o.Value)
		}
		if out += amt; out > btcutil.MaxSatoshi {
			return 0, 0, fmt.Errorf("%w: outputs above 21 million BTC", ErrMalformed)
		}
		if bytes.Equal(o.PkScript, w.pkScript) {
			change += amt
			continue
		}
		if next == len(memo.Payees) {
			return 0, 0, fmt.Errorf("%w: output %d pays %v to script %x, which the memo does not list",
				ErrMemoMismatch, i, amt, o.PkScript)
		}
		p := memo.Payees[next]
		if !bytes.Equal(o.PkScript, scripts[next]) || amt != p.Amount {
			return 0, 0, fmt.Errorf("%w: output %d pays %v to script %x; memo payee %d is %v to %s",
				ErrMemoMismatch, i, amt, o.PkScript, next, p.Amount, p.Address)
		}
		next++
	}
	if next != len(memo.Payees) {
		return 0, 0, fmt.Errorf("%w: memo lists %d payees, the transaction pays %d",
			ErrMemoMismatch, len(memo.Payees), next)
	}
	return out, change, nil
}

// estimateVSize estimates the final transaction's virtual size with M
// signatures of the largest size per input.
func (w *Wallet) estimateVSize(tx *wire.MsgTx) int64 {
	base := 4 + 4 + wire.VarIntSerializeSize(uint64(len(tx.TxIn))) + wire.VarIntSerializeSize(uint64(len(tx.TxOut)))
	base += len(tx.TxIn) * (32 + 4 + 1 + 4)
	for _, o := range tx.TxOut {
		base += o.SerializeSize()
	}
	perInput := wire.VarIntSerializeSize(uint64(w.m+2)) + 1 + w.m*(1+73) +
		wire.VarIntSerializeSize(uint64(len(w.script))) + len(w.script)
	weight := 4*base + 2 + len(tx.TxIn)*perInput
	return int64((weight + 3) / 4)
}

// Summary is what a proposal does, as checked by Wallet.CheckProposal: the
// thing a co-signer is shown before deciding.
type Summary struct {
	ID       ID
	Proposer *btcec.PublicKey
	Time     time.Time
	Wallet   string // the wallet's address
	M, N     int
	Network  string
	TxID     chainhash.Hash // of the unsigned transaction; segwit keeps it final
	LockTime uint32
	Inputs   []UTXO
	Payees   []Payee
	Change   btcutil.Amount // back to the wallet
	Fee      btcutil.Amount
	VSize    int64 // estimated virtual size of the signed transaction
	Note     string
}

// String renders the summary for a person, one fact per line.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "proposal %s\n", s.ID)
	fmt.Fprintf(&b, "  from     %x\n", s.Proposer.SerializeCompressed())
	fmt.Fprintf(&b, "  at       %s\n", s.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "  wallet   %d-of-%d %s (%s)\n", s.M, s.N, s.Wallet, s.Network)
	fmt.Fprintf(&b, "  txid     %s\n", s.TxID)
	var in btcutil.Amount
	for _, u := range s.Inputs {
		in += u.Amount
	}
	fmt.Fprintf(&b, "  spends   %d input(s), %s\n", len(s.Inputs), btc(in))
	for _, u := range s.Inputs {
		fmt.Fprintf(&b, "           %s  %s\n", u.OutPoint, btc(u.Amount))
	}
	for _, p := range s.Payees {
		fmt.Fprintf(&b, "  pays     %s  %s\n", p.Address, btc(p.Amount))
	}
	fmt.Fprintf(&b, "  change   %s back to the wallet\n", btc(s.Change))
	rate := float64(s.Fee) / float64(max(s.VSize, 1))
	fmt.Fprintf(&b, "  fee      %s (%d sat, about %.1f sat/vB at %d vB)\n", btc(s.Fee), int64(s.Fee), rate, s.VSize)
	if s.LockTime != 0 {
		fmt.Fprintf(&b, "  locktime %d\n", s.LockTime)
	}
	fmt.Fprintf(&b, "  memo     %q\n", s.Note)
	return b.String()
}

// btc formats an amount with all eight decimals, so that columns line up
// and no digit is rounded away: "0.40000000 BTC".
func btc(a btcutil.Amount) string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%08d BTC", sign, a/btcutil.SatoshiPerBitcoin, a%btcutil.SatoshiPerBitcoin)
}
