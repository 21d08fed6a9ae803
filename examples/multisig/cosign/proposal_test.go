package cosign

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

func TestNewProposalPaysThePayeesThenReturnsChangeToTheWallet(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	p := testProposal(t, w, "alice")
	tx := p.Packet.UnsignedTx
	require.Len(t, tx.TxIn, 2)
	require.Len(t, tx.TxOut, 3)
	require.Equal(t, int64(40_000_000), tx.TxOut[0].Value)
	require.Equal(t, int64(10_000_000), tx.TxOut[1].Value)
	require.Equal(t, int64(150_000_000-50_000_000-2_000), tx.TxOut[2].Value)
	require.Equal(t, w.PkScript(), tx.TxOut[2].PkScript)
	for _, in := range p.Packet.Inputs {
		require.Equal(t, w.PkScript(), in.WitnessUtxo.PkScript)
		require.Equal(t, w.WitnessScript(), in.WitnessScript)
		require.Equal(t, txscript.SigHashAll, in.SighashType)
		require.Len(t, in.PartialSigs, 1)
	}
	fee, err := p.Packet.GetTxFee()
	require.NoError(t, err)
	require.Equal(t, btcutil.Amount(2_000), fee)

	s, err := w.CheckProposal(p)
	require.NoError(t, err)
	require.Equal(t, btcutil.Amount(99_998_000), s.Change)
	text := s.String()
	for _, want := range []string{p.ID.String(), payeeAddress(t, "shop"), "0.40000000 BTC", "0.10000000 BTC",
		"2000 sat", "2-of-3", "March: shop invoice 1142", tx.TxHash().String()} {
		require.Contains(t, text, want)
	}
}

func TestNewProposalRefusesWhatCannotBeSpent(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	utxos := []UTXO{testUTXO("funding", 100_000)}
	testnet, err := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), &chaincfg.TestNet3Params)
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		proposer string
		utxos    []UTXO
		memo     Memo
		want     error
	}{
		{"more than the inputs hold", "alice", utxos, Memo{Payees: []Payee{{payeeAddress(t, "x"), 100_000}}, Fee: 1}, ErrInsufficientFunds},
		{"dust change", "alice", utxos, Memo{Payees: []Payee{{payeeAddress(t, "x"), 99_000}}, Fee: 800}, nil},
		{"payee is the wallet", "alice", utxos, Memo{Payees: []Payee{{w.Address().EncodeAddress(), 1_000}}, Fee: 1}, nil},
		{"payee on another network", "alice", utxos, Memo{Payees: []Payee{{testnet.EncodeAddress(), 1_000}}, Fee: 1}, nil},
		{"proposer not a member", "mallory", utxos, Memo{Fee: 1_000}, ErrNotMember},
		{"UTXO listed twice", "alice", append(utxos, utxos...), Memo{Fee: 1_000}, nil},
		{"no UTXOs", "alice", nil, Memo{Fee: 1_000}, nil},
		{"everything to the fee", "alice", utxos, Memo{Fee: 100_000}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewProposal(w, testKey(tc.proposer), tc.utxos, tc.memo)
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
}

// CheckProposal on proposals altered after alice signed them, or built
// wrong; no network involved.
func TestCheckProposalCatchesEveryMismatch(t *testing.T) {
	w := testWallet(t, 2, "alice", "bob", "carol")
	other := testWallet(t, 2, "alice", "dave", "erin")
	for _, tc := range []struct {
		name  string
		alter func(p *Proposal)
		want  error
	}{
		{"an output the memo does not list", func(p *Proposal) {
			p.Packet.UnsignedTx.AddTxOut(wire.NewTxOut(1_000, p.Packet.UnsignedTx.TxOut[0].PkScript))
			p.Packet.Outputs = append(p.Packet.Outputs, psbt.POutput{})
			p.Packet.UnsignedTx.TxOut[2].Value -= 1_000
		}, ErrMemoMismatch},
		{"payees listed in another order", func(p *Proposal) {
			p.Memo.Payees[0], p.Memo.Payees[1] = p.Memo.Payees[1], p.Memo.Payees[0]
		}, ErrMemoMismatch},
		{"a payee missing from the transaction", func(p *Proposal) {
			p.Memo.Payees = append(p.Memo.Payees, Payee{Address: payeeAddress(t, "eve"), Amount: 5})
		}, ErrMemoMismatch},
		{"fee above what the memo says", func(p *Proposal) {
			p.Packet.UnsignedTx.TxOut[2].Value -= 50_000
		}, ErrMemoMismatch},
		{"memo payee is not an address", func(p *Proposal) {
			p.Memo.Payees[0].Address = "not-an-address"
		}, ErrMemoMismatch},
		{"one input of another wallet", func(p *Proposal) {
			p.Packet.Inputs[1].WitnessUtxo.PkScript = other.PkScript()
		}, ErrForeignInput},
		{"an input without its witness UTXO", func(p *Proposal) {
			p.Packet.Inputs[0].WitnessUtxo = nil
		}, ErrForeignInput},
		{"proposer not a member", func(p *Proposal) {
			p.Sender = testKey("mallory").PubKey()
		}, ErrNotMember},
		{"another member's signature in the proposer's place", func(p *Proposal) {
			pkt := mustCopy(t, p.Packet)
			for i := range pkt.Inputs {
				pkt.Inputs[i].PartialSigs = nil
			}
			require.NoError(t, signInputs(pkt, w, testKey("bob")))
			p.Packet = pkt
		}, ErrBadPartialSig},
		{"a second partial signature", func(p *Proposal) {
			require.NoError(t, signInputs(p.Packet, w, testKey("bob")))
		}, ErrBadPartialSig},
		{"an input asking for SIGHASH_NONE", func(p *Proposal) {
			p.Packet.Inputs[0].SighashType = txscript.SigHashNone
		}, ErrMalformed},
		{"an input spent twice", func(p *Proposal) {
			p.Packet.UnsignedTx.TxIn[1].PreviousOutPoint = p.Packet.UnsignedTx.TxIn[0].PreviousOutPoint
		}, ErrMalformed},
		{"a finalized input", func(p *Proposal) {
			p.Packet.Inputs[0].FinalScriptWitness = []byte{0}
		}, ErrMalformed},
		{"another witness script", func(p *Proposal) {
			p.Packet.Inputs[0].WitnessScript = other.WitnessScript()
		}, ErrMalformed},
		{"outputs above the inputs", func(p *Proposal) {
			p.Packet.UnsignedTx.TxOut[2].Value += 1_000_000_000
		}, ErrMalformed},
		{"a zero-value output", func(p *Proposal) {
			p.Packet.UnsignedTx.TxOut[2].Value = 0
		}, ErrMalformed},
		{"transaction version 3", func(p *Proposal) {
			p.Packet.UnsignedTx.Version = 3
		}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testProposal(t, w, "alice")
			tc.alter(p)
			_, err := w.CheckProposal(p)
			require.ErrorIs(t, err, tc.want)
		})
	}
}
