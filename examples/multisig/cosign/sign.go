package cosign

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// prevOuts returns the outputs the packet's inputs spend, from their witness
// UTXOs. Inputs without one are left out (the checks refuse them first).
func prevOuts(pkt *psbt.Packet) map[wire.OutPoint]*wire.TxOut {
	m := make(map[wire.OutPoint]*wire.TxOut, len(pkt.Inputs))
	for i, in := range pkt.Inputs {
		if in.WitnessUtxo != nil && i < len(pkt.UnsignedTx.TxIn) {
			m[pkt.UnsignedTx.TxIn[i].PreviousOutPoint] = in.WitnessUtxo
		}
	}
	return m
}

// sigHashes returns the BIP 143 midstate for the packet's transaction.
func sigHashes(tx *wire.MsgTx, prev map[wire.OutPoint]*wire.TxOut) *txscript.TxSigHashes {
	return txscript.NewTxSigHashes(tx, txscript.NewMultiPrevOutFetcher(prev))
}

// signInputs adds key's SIGHASH_ALL partial signature to every input of
// pkt, whose inputs must already have been checked to be the wallet's.
func signInputs(pkt *psbt.Packet, w *Wallet, key *btcec.PrivateKey) error {
	tx := pkt.UnsignedTx
	hashes := sigHashes(tx, prevOuts(pkt))
	u, err := psbt.NewUpdater(pkt)
	if err != nil {
		return err
	}
	pub := key.PubKey().SerializeCompressed()
	for i, in := range pkt.Inputs {
		sig, err := txscript.RawTxInWitnessSignature(tx, hashes, i, in.WitnessUtxo.Value,
			w.script, txscript.SigHashAll, key)
		if err != nil {
			return fmt.Errorf("cosign: sign input %d: %w", i, err)
		}
		if _, err := u.Sign(i, sig, pub, nil, nil); err != nil {
			return fmt.Errorf("cosign: sign input %d: %w", i, err)
		}
	}
	return nil
}

// verifyPartialSig checks one partial signature on input i of tx: the key
// is a compressed key, the signature canonical DER with SIGHASH_ALL, and it
// verifies against the input's BIP 143 sighash for the wallet's witness
// script and the input's amount as the verifier knows it. psbt's
// Updater.Sign checks none of this.
func verifyPartialSig(tx *wire.MsgTx, hashes *txscript.TxSigHashes, i int, amount int64,
	script []byte, ps *psbt.PartialSig) error {

	if len(ps.PubKey) != btcec.PubKeyBytesLenCompressed {
		return fmt.Errorf("%w: input %d: key is not compressed", ErrBadPartialSig, i)
	}
	pub, err := btcec.ParsePubKey(ps.PubKey)
	if err != nil {
		return fmt.Errorf("%w: input %d: %w", ErrBadPartialSig, i, err)
	}
	if len(ps.Signature) < 2 {
		return fmt.Errorf("%w: input %d: empty signature", ErrBadPartialSig, i)
	}
	der, hashType := ps.Signature[:len(ps.Signature)-1], txscript.SigHashType(ps.Signature[len(ps.Signature)-1])
	if hashType != txscript.SigHashAll {
		return fmt.Errorf("%w: input %d: sighash type %#x (want SIGHASH_ALL)", ErrBadPartialSig, i, uint32(hashType))
	}
	sig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return fmt.Errorf("%w: input %d: %w", ErrBadPartialSig, i, err)
	}
	if !bytes.Equal(sig.Serialize(), der) {
		return fmt.Errorf("%w: input %d: signature is not canonical (low-S, minimal DER)", ErrBadPartialSig, i)
	}
	hash, err := txscript.CalcWitnessSigHash(script, hashes, txscript.SigHashAll, tx, i, amount)
	if err != nil {
		return fmt.Errorf("%w: input %d: %w", ErrBadPartialSig, i, err)
	}
	if !sig.Verify(hash, pub) {
		return fmt.Errorf("%w: input %d: signature by %s does not verify", ErrBadPartialSig, i, shortKey(pub))
	}
	return nil
}

// partialSigBy returns in's partial signature by pub, if any.
func partialSigBy(in *psbt.PInput, pub *btcec.PublicKey) (*psbt.PartialSig, bool) {
	want := pub.SerializeCompressed()
	for _, ps := range in.PartialSigs {
		if bytes.Equal(ps.PubKey, want) {
			return ps, true
		}
	}
	return nil, false
}

// copyPacket returns a deep copy of pkt.
func copyPacket(pkt *psbt.Packet) (*psbt.Packet, error) {
	var buf bytes.Buffer
	if err := pkt.Serialize(&buf); err != nil {
		return nil, err
	}
	return psbt.NewFromRawBytes(&buf, false)
}

// Finalize returns the signed transaction for pkt, whose inputs must be the
// wallet's (see Wallet.CheckProposal) and carry at least M valid partial
// signatures each. It works on a copy and leaves pkt alone. On every input
// it verifies the partial signatures, keeps the first M valid ones and drops
// the rest (psbt v1.1.8 cannot finalize an M-of-N input holding more than M,
// and says "Unsupported script type"), then finalizes, extracts and checks
// the transaction with VerifyTx. Too few valid signatures on an input is
// ErrThreshold.
func Finalize(w *Wallet, pkt *psbt.Packet) (*wire.MsgTx, error) {
	pkt, err := copyPacket(pkt)
	if err != nil {
		return nil, fmt.Errorf("cosign: finalize: %w", err)
	}
	prev := prevOuts(pkt)
	if len(prev) != len(pkt.Inputs) {
		return nil, fmt.Errorf("%w: finalize: input without a witness UTXO", ErrMalformed)
	}
	tx := pkt.UnsignedTx
	hashes := sigHashes(tx, prev)
	for i := range pkt.Inputs {
		in := &pkt.Inputs[i]
		var keep []*psbt.PartialSig
		for _, ps := range in.PartialSigs {
			if len(keep) == w.m {
				break
			}
			if !w.isMemberBytes(ps.PubKey) {
				continue
			}
			if verifyPartialSig(tx, hashes, i, in.WitnessUtxo.Value, w.script, ps) == nil {
				keep = append(keep, ps)
			}
		}
		if len(keep) < w.m {
			return nil, fmt.Errorf("%w: input %d has %d valid signatures of the %d needed",
				ErrThreshold, i, len(keep), w.m)
		}
		in.PartialSigs = keep
		if err := psbt.Finalize(pkt, i); err != nil {
			return nil, fmt.Errorf("cosign: finalize input %d: %w", i, err)
		}
	}
	final, err := psbt.Extract(pkt)
	if err != nil {
		return nil, fmt.Errorf("cosign: extract: %w", err)
	}
	if err := VerifyTx(final, prev); err != nil {
		return nil, err
	}
	return final, nil
}

// VerifyTx runs every input of tx through btcd's script engine with the
// standard verification flags, against the outputs it spends.
func VerifyTx(tx *wire.MsgTx, prev map[wire.OutPoint]*wire.TxOut) error {
	fetcher := txscript.NewMultiPrevOutFetcher(prev)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		out, ok := prev[in.PreviousOutPoint]
		if !ok {
			return fmt.Errorf("%w: input %d: unknown previous output %s", ErrScript, i, in.PreviousOutPoint)
		}
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags,
			nil, hashes, out.Value, fetcher)
		if err != nil {
			return fmt.Errorf("%w: input %d: %w", ErrScript, i, err)
		}
		if err := vm.Execute(); err != nil {
			return fmt.Errorf("%w: input %d: %w", ErrScript, i, err)
		}
	}
	return nil
}

func (w *Wallet) isMemberBytes(pub []byte) bool {
	for _, k := range w.keys {
		if bytes.Equal(k.SerializeCompressed(), pub) {
			return true
		}
	}
	return false
}
