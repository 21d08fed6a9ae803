package cosign

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
)

// signedBy returns alice's proposal carrying the partial signatures of
// the named co-signers too.
func signedBy(t *testing.T, w *Wallet, names ...string) *psbt.Packet {
	t.Helper()
	pkt := mustCopy(t, testProposal(t, w, "alice").Packet)
	for _, n := range names {
		require.NoError(t, signInputs(pkt, w, testKey(n)))
	}
	return pkt
}

// The fact from the issue, pinned: if a psbt release learns to finalize an
// M-of-N input with more than M signatures, this test says so, and
// Finalize's dropping of extras can go.
func TestPsbtCannotFinalizeMoreThanMSignatures(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	pkt := signedBy(t, w, "bob", "carol")
	require.Len(t, pkt.Inputs[0].PartialSigs, 3)
	err := psbt.Finalize(pkt, 0)
	require.Error(t, err)
	require.Contains(t, err.Error(), "Unsupported script type")
}

// The other fact: Updater.Sign takes any signature bytes of the right shape.
func TestPsbtSignAcceptsASignatureThatDoesNotVerify(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	good := signedBy(t, w, "bob")
	bobSig, ok := partialSigBy(&good.Inputs[0], testKey("bob").PubKey())
	require.True(t, ok)

	pkt := mustCopy(t, testProposal(t, w, "alice").Packet)
	u, err := psbt.NewUpdater(pkt)
	require.NoError(t, err)
	// bob's signature for another transaction, filed under carol's key.
	_, err = u.Sign(0, bobSig.Signature, testKey("carol").PubKey().SerializeCompressed(), nil, nil)
	require.NoError(t, err, "psbt does not check")
	ps, _ := partialSigBy(&pkt.Inputs[0], testKey("carol").PubKey())
	tx := pkt.UnsignedTx
	err = verifyPartialSig(tx, sigHashes(tx, prevOuts(pkt)), 0, pkt.Inputs[0].WitnessUtxo.Value, w.script, ps)
	require.ErrorIs(t, err, ErrBadPartialSig, "we do")
}

func TestFinalizeDropsSignaturesBeyondM(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	pkt := signedBy(t, w, "bob", "carol")
	tx, err := Finalize(w, pkt)
	require.NoError(t, err)
	require.Len(t, tx.TxIn[0].Witness, 4)
	require.Len(t, pkt.Inputs[0].PartialSigs, 3, "Finalize leaves its argument alone")
}

func TestFinalizeSkipsSignaturesThatDoNotVerify(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	pkt := signedBy(t, w, "bob", "carol")
	bob, _ := partialSigBy(&pkt.Inputs[0], testKey("bob").PubKey())
	bob.Signature[10] ^= 1
	tx, err := Finalize(w, pkt)
	require.NoError(t, err, "alice and carol suffice")
	require.NoError(t, VerifyTx(tx, prevOuts(pkt)))

	carol, _ := partialSigBy(&pkt.Inputs[0], testKey("carol").PubKey())
	carol.Signature[10] ^= 1
	_, err = Finalize(w, pkt)
	require.ErrorIs(t, err, ErrThreshold)
}

func TestVerifyTxRunsTheScriptEngine(t *testing.T) {
	w := testWallet(t, 3, "alice", "bob", "carol")
	pkt := signedBy(t, w, "bob", "carol")
	tx, err := Finalize(w, pkt)
	require.NoError(t, err)
	require.NoError(t, VerifyTx(tx, prevOuts(pkt)))

	tx.TxOut[0].Value-- // what the signatures committed to has changed
	require.ErrorIs(t, VerifyTx(tx, prevOuts(pkt)), ErrScript)
	tx.TxOut[0].Value++
	tx.TxIn[1].Witness[2] = tx.TxIn[0].Witness[2] // a signature of the other input
	require.ErrorIs(t, VerifyTx(tx, prevOuts(pkt)), ErrScript)
}

func TestPartialSignaturesMustBeLowS(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	pkt := signedBy(t, w, "bob")
	ps, _ := partialSigBy(&pkt.Inputs[0], testKey("bob").PubKey())
	tx := pkt.UnsignedTx
	hashes := sigHashes(tx, prevOuts(pkt))
	amount := pkt.Inputs[0].WitnessUtxo.Value
	require.NoError(t, verifyPartialSig(tx, hashes, 0, amount, w.script, ps))
	high := &psbt.PartialSig{PubKey: ps.PubKey, Signature: highS(t, ps.Signature)}
	require.ErrorIs(t, verifyPartialSig(tx, hashes, 0, amount, w.script, high), ErrBadPartialSig)
}

// Why Cosigner remembers the amounts it signed: two signings of one
// transaction, each with a different input's amount understated, give a
// valid signature for every input, and so a valid transaction whose true
// fee (here 1,000 sat more than either memo said) no co-signer saw.
func TestTwoAmountLiesMakeOneValidTransaction(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	honest := testProposal(t, w, "alice").Packet
	bobSigned := func(understated int) *psbt.Packet {
		pkt := mustCopy(t, honest)
		pkt.Inputs[understated].WitnessUtxo.Value -= 1_000
		for i := range pkt.Inputs {
			pkt.Inputs[i].PartialSigs = nil
		}
		require.NoError(t, signInputs(pkt, w, testKey("bob")))
		return pkt
	}
	lie0, lie1 := bobSigned(0), bobSigned(1)

	combined := mustCopy(t, honest) // alice's signatures, true amounts
	sig1, _ := partialSigBy(&lie0.Inputs[1], testKey("bob").PubKey())
	sig0, _ := partialSigBy(&lie1.Inputs[0], testKey("bob").PubKey())
	combined.Inputs[0].PartialSigs = append(combined.Inputs[0].PartialSigs, sig0)
	combined.Inputs[1].PartialSigs = append(combined.Inputs[1].PartialSigs, sig1)
	tx, err := Finalize(w, combined)
	require.NoError(t, err)
	require.NoError(t, VerifyTx(tx, prevOuts(honest)))
}
