package channel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Every signature this package makes is ground (as Bitcoin Core does, with
// RFC 6979 extra entropy) until both R and S encode in exactly 32 bytes:
// a 70-byte DER signature, 71 bytes with its sighash byte. Signatures from
// the peer must have that length too. A transaction's size is then known
// exactly before it is signed, so the fee rate both sides compute is the
// fee rate a node measures, and "each state pays a higher rate" holds on
// chain, not only on paper.
const (
	derSigLen = 70
	maxSigLen = derSigLen + 1
)

// fundingScript is the 2-of-2 witness script, keys sorted lexicographically
// by their compressed encoding (BIP67 style), so both sides build the same.
func fundingScript(a, b *btcec.PublicKey) []byte {
	ka, kb := sortedKeys(a, b)
	s, err := txscript.NewScriptBuilder().
		AddOp(txscript.OP_2).AddData(ka).AddData(kb).AddOp(txscript.OP_2).
		AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		panic(err) // fixed-size pushes cannot fail
	}
	return s
}

func sortedKeys(a, b *btcec.PublicKey) ([]byte, []byte) {
	ka, kb := a.SerializeCompressed(), b.SerializeCompressed()
	if bytes.Compare(ka, kb) > 0 {
		ka, kb = kb, ka
	}
	return ka, kb
}

// htlcScript pays the receiver against the SHA-256 preimage of hash, or the
// offerer once the chain has passed expiry (an absolute CLTV lock):
//
//	OP_IF
//	    OP_SIZE 32 OP_EQUALVERIFY OP_SHA256 <hash> OP_EQUALVERIFY <receiver>
//	OP_ELSE
//	    <expiry> OP_CHECKLOCKTIMEVERIFY OP_DROP <offerer>
//	OP_ENDIF
//	OP_CHECKSIG
//
// The size check keeps a claim's witness standard and the preimage 32 bytes.
func htlcScript(receiver, offerer *btcec.PublicKey, hash [32]byte, expiry uint32) []byte {
	s, err := txscript.NewScriptBuilder().
		AddOp(txscript.OP_IF).
		AddOp(txscript.OP_SIZE).AddInt64(32).AddOp(txscript.OP_EQUALVERIFY).
		AddOp(txscript.OP_SHA256).AddData(hash[:]).AddOp(txscript.OP_EQUALVERIFY).
		AddData(receiver.SerializeCompressed()).
		AddOp(txscript.OP_ELSE).
		AddInt64(int64(expiry)).AddOp(txscript.OP_CHECKLOCKTIMEVERIFY).AddOp(txscript.OP_DROP).
		AddData(offerer.SerializeCompressed()).
		AddOp(txscript.OP_ENDIF).
		AddOp(txscript.OP_CHECKSIG).Script()
	if err != nil {
		panic(err)
	}
	return s
}

// spareScript is the script of a spare output: <owner> OP_CHECKSIG, paid to
// as P2WSH so that a spare has exactly the size of an HTLC output.
func spareScript(owner *btcec.PublicKey) []byte {
	s, err := txscript.NewScriptBuilder().AddData(owner.SerializeCompressed()).
		AddOp(txscript.OP_CHECKSIG).Script()
	if err != nil {
		panic(err)
	}
	return s
}

// p2wsh returns the pkScript paying to a witness script.
func p2wsh(script []byte) []byte {
	h := sha256.Sum256(script)
	s, err := txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(h[:]).Script()
	if err != nil {
		panic(err)
	}
	return s
}

// P2WPKH returns the pay-to-witness-pubkey-hash pkScript of key, the
// default payout script.
func P2WPKH(key *btcec.PublicKey) []byte {
	h := btcutil.Hash160(key.SerializeCompressed())
	s, err := txscript.NewScriptBuilder().AddOp(txscript.OP_0).AddData(h).Script()
	if err != nil {
		panic(err)
	}
	return s
}

// checkPayoutScript accepts the standard output types a payout or change
// may use.
func checkPayoutScript(s []byte) error {
	switch txscript.GetScriptClass(s) {
	case txscript.WitnessV0PubKeyHashTy, txscript.WitnessV0ScriptHashTy,
		txscript.WitnessV1TaprootTy, txscript.PubKeyHashTy, txscript.ScriptHashTy:
		return nil
	}
	return fmt.Errorf("%w: payout script is not a standard type", ErrParams)
}

// checkSegwitInput accepts native segwit v0 and v1 (taproot) outputs, whose
// spending witness does not change the txid.
func checkSegwitInput(pkScript []byte) error {
	switch txscript.GetScriptClass(pkScript) {
	case txscript.WitnessV0PubKeyHashTy, txscript.WitnessV0ScriptHashTy, txscript.WitnessV1TaprootTy:
		return nil
	}
	return fmt.Errorf("%w: script class %v", ErrNotSegwit, txscript.GetScriptClass(pkScript))
}

// sign returns our DER signature (without sighash byte) on input idx of tx
// spending an output of value amt locked by witness script ws.
func sign(key *btcec.PrivateKey, tx *wire.MsgTx, idx int, ws []byte, amt int64, fetch txscript.PrevOutputFetcher) ([]byte, error) {
	hashes := txscript.NewTxSigHashes(tx, fetch)
	h, err := txscript.CalcWitnessSigHash(ws, hashes, txscript.SigHashAll, tx, idx, amt)
	if err != nil {
		return nil, err
	}
	return signFixed(key, h), nil
}

// signFixed returns a low-S ECDSA signature of hash whose DER encoding is
// exactly derSigLen bytes. The first attempt is plain RFC 6979 (identical to
// ecdsa.Sign); later ones add a counter as RFC 6979 extra data, so every
// nonce is still deterministic and distinct. About half the attempts
// succeed.
func signFixed(key *btcec.PrivateKey, hash []byte) []byte {
	var d [32]byte
	key.Key.PutBytes(&d)
	defer clear(d[:])
	var e btcec.ModNScalar
	e.SetByteSlice(hash)
	for counter := uint32(0); ; counter++ {
		var extra []byte
		if counter > 0 {
			extra = make([]byte, 32)
			binary.LittleEndian.PutUint32(extra, counter)
		}
		k := btcec.NonceRFC6979(d[:], hash, extra, nil, 0)
		var kG btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(k, &kG)
		kG.ToAffine()
		var r btcec.ModNScalar
		r.SetBytes(kG.X.Bytes())
		if r.IsZero() {
			k.Zero()
			continue
		}
		kInv := new(btcec.ModNScalar).InverseValNonConst(k)
		k.Zero()
		s := new(btcec.ModNScalar).Mul2(&key.Key, &r).Add(&e).Mul(kInv)
		if s.IsZero() {
			continue
		}
		if s.IsOverHalfOrder() {
			s.Negate()
		}
		if sig := ecdsa.NewSignature(&r, s).Serialize(); len(sig) == derSigLen {
			return sig
		}
	}
}

// verify checks a peer's DER signature (without sighash byte). It accepts
// only the canonical low-S encoding, the one the script engine's standard
// flags accept.
func verify(pub *btcec.PublicKey, sig []byte, tx *wire.MsgTx, idx int, ws []byte, amt int64, fetch txscript.PrevOutputFetcher) error {
	s, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !bytes.Equal(s.Serialize(), sig) {
		return fmt.Errorf("%w: not canonical low-S DER", ErrBadSignature)
	}
	if len(sig) != derSigLen {
		return fmt.Errorf("%w: %d bytes, not a %d-byte ground signature", ErrBadSignature, len(sig), derSigLen)
	}
	hashes := txscript.NewTxSigHashes(tx, fetch)
	h, err := txscript.CalcWitnessSigHash(ws, hashes, txscript.SigHashAll, tx, idx, amt)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !s.Verify(h, pub) {
		return fmt.Errorf("%w: does not verify", ErrBadSignature)
	}
	return nil
}

// multisigWitness assembles the witness spending the 2-of-2 funding output,
// signatures in the order of the sorted keys.
func multisigWitness(ws []byte, a *btcec.PublicKey, sigA []byte, b *btcec.PublicKey, sigB []byte) wire.TxWitness {
	ka, kb := a.SerializeCompressed(), b.SerializeCompressed()
	sa := append(append([]byte{}, sigA...), byte(txscript.SigHashAll))
	sb := append(append([]byte{}, sigB...), byte(txscript.SigHashAll))
	if bytes.Compare(ka, kb) > 0 {
		sa, sb = sb, sa
	}
	return wire.TxWitness{nil, sa, sb, ws}
}

// checkScripts runs btcd's script engine, with the standard (policy)
// verification flags, over every input of tx.
func checkScripts(tx *wire.MsgTx, fetch txscript.PrevOutputFetcher) error {
	hashes := txscript.NewTxSigHashes(tx, fetch)
	for i, in := range tx.TxIn {
		prev := fetch.FetchPrevOutput(in.PreviousOutPoint)
		if prev == nil {
			return fmt.Errorf("%w: input %d: unknown previous output", ErrScript, i)
		}
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, fetch)
		if err != nil {
			return fmt.Errorf("%w: input %d: %v", ErrScript, i, err)
		}
		if err := vm.Execute(); err != nil {
			return fmt.Errorf("%w: input %d: %v", ErrScript, i, err)
		}
	}
	return nil
}

// vsize returns the virtual size of tx as btcd's mempool computes it.
func vsize(tx *wire.MsgTx) int64 {
	stripped := int64(tx.SerializeSizeStripped())
	total := int64(tx.SerializeSize())
	return (stripped*3 + total + 3) / 4
}

// nominalVSize is the virtual size tx will have once its single input
// spending a witness script ws is signed by both funding keys (with ground
// signatures: the size is exact).
func nominalVSize(tx *wire.MsgTx, ws []byte) int64 {
	sig := make([]byte, maxSigLen)
	t := tx.Copy()
	t.TxIn[0].Witness = wire.TxWitness{nil, sig, sig, ws}
	return vsize(t)
}

// singleSigVSize is the nominal size of a one-input transaction spending
// witness script ws with one signature and the given extra witness items.
func singleSigVSize(tx *wire.MsgTx, ws []byte, extra ...[]byte) int64 {
	t := tx.Copy()
	w := wire.TxWitness{make([]byte, maxSigLen)}
	w = append(w, extra...)
	t.TxIn[0].Witness = append(w, ws)
	return vsize(t)
}
