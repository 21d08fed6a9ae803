package cosign

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The story of the issue: a 2-of-3 wallet of alice, bob and carol, each
// running a co-signer. Alice proposes; bob approves, carol refuses; alice's
// signature and bob's make a transaction that passes the script engine.
// Over foxtrot the three co-signers listen on three different nodes, and
// every connection from the proposer's node runs through relays.
func TestTwoOfThreeSpendApprovedByOneRefusedByAnother(t *testing.T) {
	overEveryCarrier(t, func(t *testing.T, c carrier) {
		w := testWallet(t, 2, "alice", "bob", "carol")
		peers := []Peer{
			serve(t, c, w, "alice", Approve), // skipped: the proposer's own
			serve(t, c, w, "bob", Approve),
			serve(t, c, w, "carol", Reject("not this month")),
		}
		prop := testProposal(t, w, "alice")

		res, err := newProposer(t, c, w, "alice", 10*time.Second).Propose(context.Background(), prop, peers)
		require.NoError(t, err)

		require.Len(t, res.Answers, 2, "alice does not ask herself")
		require.True(t, res.Answers[0].Approved, "bob: %v", res.Answers[0].Err)
		require.False(t, res.Answers[1].Approved)
		var refusal *RefusalError
		require.ErrorAs(t, res.Answers[1].Err, &refusal)
		require.ErrorIs(t, res.Answers[1].Err, ErrDeclined)
		require.Equal(t, "not this month", refusal.Reason)
		require.True(t, refusal.Signer.IsEqual(testKey("carol").PubKey()))
		requireRelayed(t, c, peers[1], peers[2])

		require.Len(t, res.Signers, 2)
		require.True(t, res.Signers[0].IsEqual(testKey("alice").PubKey()))
		require.True(t, res.Signers[1].IsEqual(testKey("bob").PubKey()))
		require.NotNil(t, res.Tx)
		require.Equal(t, prop.Packet.UnsignedTx.TxHash(), res.Tx.TxHash(), "segwit: the txid does not change with signing")
		require.NoError(t, VerifyTx(res.Tx, prevOuts(prop.Packet)), "the script engine accepts the transaction")
		for _, in := range res.Tx.TxIn {
			require.Len(t, in.Witness, 4, "empty, two signatures, witness script")
		}
		require.NotEmpty(t, res.TxHex())
	})
}

// With three approvals available, the transaction still carries exactly M
// signatures: the extra one is dropped before finalizing.
func TestApprovalsBeyondMAreNotUsed(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	peers := []Peer{serve(t, c, w, "bob", Approve), serve(t, c, w, "carol", Approve)}

	res, err := newProposer(t, c, w, "alice", 10*time.Second).Propose(context.Background(), testProposal(t, w, "alice"), peers)
	require.NoError(t, err)
	require.True(t, res.Answers[0].Approved)
	require.True(t, res.Answers[1].Approved)
	require.Len(t, res.Signers, 2)
	require.Len(t, res.Tx.TxIn[0].Witness, 4)
}

func TestOfflineCosignerIsReportedAndTheOthersSuffice(t *testing.T) {
	overEveryCarrier(t, func(t *testing.T, c carrier) {
		w := testWallet(t, 2, "alice", "bob", "carol")
		peers := []Peer{offline(t, c, "bob"), serve(t, c, w, "carol", Approve)}

		res, err := newProposer(t, c, w, "alice", 10*time.Second).Propose(context.Background(), testProposal(t, w, "alice"), peers)
		require.NoError(t, err)
		require.False(t, res.Answers[0].Approved)
		require.ErrorContains(t, res.Answers[0].Err, "offline")
		require.Contains(t, res.Answers[0].String(), peers[0].Address, "the report names the co-signer")
		require.True(t, res.Answers[1].Approved)
		require.NoError(t, VerifyTx(res.Tx, prevOuts(res.Proposal.Packet)))
	})
}

func TestOfflineAndRefusingCosignersLeaveTheProposalShort(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	peers := []Peer{offline(t, c, "bob"), serve(t, c, w, "carol", Reject("no"))}

	res, err := newProposer(t, c, w, "alice", 10*time.Second).Propose(context.Background(), testProposal(t, w, "alice"), peers)
	require.ErrorIs(t, err, ErrThreshold)
	require.Nil(t, res.Tx)
	require.Len(t, res.Signers, 1)
	require.ErrorContains(t, res.Answers[0].Err, "offline")
	require.ErrorIs(t, res.Answers[1].Err, ErrDeclined)
}

// A co-signer that takes the connection and never answers is reported as
// timed out; the proposer does not wait longer than its timeout.
func TestSilentCosignerTimesOut(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	silent := c.listen(t, testKey("bob"))
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		conn, err := silent.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 1)
		for {
			if _, err := conn.Read(buf); err != nil { // until the proposer hangs up
				return
			}
		}
	}()
	t.Cleanup(func() { silent.Close(); <-accepted })
	peers := []Peer{
		{Key: testKey("bob").PubKey(), Address: silent.Addr().String()},
		serve(t, c, w, "carol", Approve),
	}

	start := time.Now()
	res, err := newProposer(t, c, w, "alice", 4*time.Second).Propose(context.Background(), testProposal(t, w, "alice"), peers)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 15*time.Second)
	require.ErrorIs(t, res.Answers[0].Err, context.DeadlineExceeded)
	require.True(t, res.Answers[1].Approved)
}

func TestCancellingProposeStopsWaiting(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	slow := func(ctx context.Context, s *Summary) (bool, string) {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return false, "gave up"
	}
	peers := []Peer{serve(t, c, w, "bob", slow), serve(t, c, w, "carol", slow)}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()

	res, err := newProposer(t, c, w, "alice", time.Minute).Propose(ctx, testProposal(t, w, "alice"), peers)
	require.ErrorIs(t, err, ErrThreshold)
	for _, a := range res.Answers {
		require.ErrorIs(t, a.Err, context.DeadlineExceeded)
	}
}

func TestTamperedProposalIsRefused(t *testing.T) {
	overEveryCarrier(t, func(t *testing.T, c carrier) {
		w := testWallet(t, 2, "alice", "bob", "carol")
		bob := serve(t, c, w, "bob", Approve)
		alice := testKey("alice")

		t.Run("bytes changed in transit", func(t *testing.T) {
			msg, err := testProposal(t, w, "alice").Encode(alice)
			require.NoError(t, err)
			msg[len(msg)-200] ^= 1 // inside the PSBT
			requireRefusal(t, exchange(t, c, bob, msg), CodeBadSignature)
		})
		t.Run("payee amount raised after signing, memo left alone", func(t *testing.T) {
			p := testProposal(t, w, "alice")
			p.Packet.UnsignedTx.TxOut[0].Value += 1_000
			p.Packet.UnsignedTx.TxOut[2].Value -= 1_000 // change: the fee is unchanged
			msg, err := p.Encode(alice)
			require.NoError(t, err)
			requireRefusal(t, exchange(t, c, bob, msg), CodeMemoMismatch)
		})
		t.Run("payee amount raised after signing, memo rewritten to match", func(t *testing.T) {
			p := testProposal(t, w, "alice")
			p.Packet.UnsignedTx.TxOut[0].Value += 1_000
			p.Packet.UnsignedTx.TxOut[2].Value -= 1_000
			p.Memo.Payees[0].Amount += 1_000
			msg, err := p.Encode(alice)
			require.NoError(t, err)
			requireRefusal(t, exchange(t, c, bob, msg), CodeBadPartialSig)
		})
		t.Run("input amount lowered after signing", func(t *testing.T) {
			p := testProposal(t, w, "alice")
			p.Packet.Inputs[0].WitnessUtxo.Value -= 1_000
			p.Packet.UnsignedTx.TxOut[2].Value -= 1_000
			msg, err := p.Encode(alice)
			require.NoError(t, err)
			requireRefusal(t, exchange(t, c, bob, msg), CodeBadPartialSig)
		})
	})
}

func TestProposalFromNonMemberIsRefused(t *testing.T) {
	overEveryCarrier(t, func(t *testing.T, c carrier) {
		w := testWallet(t, 2, "alice", "bob", "carol")
		bob := serve(t, c, w, "bob", Approve)

		// mallory copies a real proposal and signs it as her own.
		p := testProposal(t, w, "alice")
		mallory := testKey("mallory")
		p.Sender = mallory.PubKey()
		msg, err := p.Encode(mallory)
		require.NoError(t, err)
		r := requireRefusal(t, exchange(t, c, bob, msg), CodeNotMember)
		require.Equal(t, p.ID, r.ID, "the refusal names the proposal")

		_, err = NewProposer(ProposerConfig{Wallet: w, Key: mallory, Dial: c.dial})
		require.ErrorIs(t, err, ErrNotMember)
	})
}

func TestInputNotTheWalletsIsRefused(t *testing.T) {
	overEveryCarrier(t, func(t *testing.T, c carrier) {
		w := testWallet(t, 2, "alice", "bob", "carol")
		bob := serve(t, c, w, "bob", Approve)

		// alice is also in another wallet, with dave and erin, and proposes
		// one of its outputs to bob, correctly signed by her.
		other := testWallet(t, 2, "alice", "dave", "erin")
		msg, err := testProposal(t, other, "alice").Encode(testKey("alice"))
		require.NoError(t, err)
		requireRefusal(t, exchange(t, c, bob, msg), CodeForeignInput)

		// And the proposer's side of it: the refusal arrives as an error that
		// names the check.
		carol := serve(t, c, w, "carol", Approve)
		p := newProposer(t, c, w, "alice", 10*time.Second)
		prop := testProposal(t, w, "alice")
		prop.Packet.Inputs[1].WitnessUtxo.PkScript = other.PkScript()
		_, err = p.Propose(context.Background(), prop, []Peer{bob, carol})
		require.ErrorIs(t, err, ErrForeignInput, "the proposer checks its own proposal first")
	})
}

func TestReplayedProposalIsRefused(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	bob := serve(t, c, w, "bob", Approve)
	msg, err := testProposal(t, w, "alice").Encode(testKey("alice"))
	require.NoError(t, err)

	_, ok := exchange(t, c, bob, msg).(*Approval)
	require.True(t, ok, "first time: approved")
	requireRefusal(t, exchange(t, c, bob, msg), CodeReplay)

	// Through the proposer: proposing the same proposal again is refused.
	p := newProposer(t, c, w, "alice", 10*time.Second)
	prop := testProposal(t, w, "alice")
	_, err = p.Propose(context.Background(), prop, []Peer{bob})
	require.NoError(t, err)
	res, err := p.Propose(context.Background(), prop, []Peer{bob})
	require.ErrorIs(t, err, ErrThreshold)
	require.ErrorIs(t, res.Answers[0].Err, ErrReplay)
}

func TestStaleProposalIsRefused(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	bob := serve(t, c, w, "bob", Approve)
	p := testProposal(t, w, "alice")
	p.Time = p.Time.Add(-time.Hour)
	msg, err := p.Encode(testKey("alice"))
	require.NoError(t, err)
	requireRefusal(t, exchange(t, c, bob, msg), CodeStale)
}

func TestUnsignedAndWrongVersionMessagesAreRefused(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	bob := serve(t, c, w, "bob", Approve)
	msg, err := testProposal(t, w, "alice").Encode(testKey("alice"))
	require.NoError(t, err)

	unsigned := withoutSignature(msg)
	requireRefusal(t, exchange(t, c, bob, unsigned), CodeUnsigned)

	// A message of another version cannot be read, so it gets no answer:
	// the co-signer hangs up.
	v2 := append([]byte{2}, msg[1:]...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.dial(ctx, bob.Address)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, WriteFrame(conn, v2))
	_, err = ReadFrame(conn)
	require.ErrorIs(t, err, io.EOF, "the co-signer hangs up")
}

// A co-signer that returns a signature the proposer cannot use is caught
// before anything is combined, and the proposer finishes with the others.
func TestForgedPartialSignatureIsRejectedByProposer(t *testing.T) {
	for _, f := range forgeries() {
		t.Run(f.name, func(t *testing.T) {
			checkLeaks(t)
			c := foxtrotCarrier(t)
			w := testWallet(t, 2, "alice", "bob", "carol")
			peers := []Peer{serveForger(t, c, w, "bob", f.forge), serve(t, c, w, "carol", Approve)}

			res, err := newProposer(t, c, w, "alice", 10*time.Second).Propose(context.Background(), testProposal(t, w, "alice"), peers)
			require.NoError(t, err)
			require.False(t, res.Answers[0].Approved)
			require.ErrorIs(t, res.Answers[0].Err, f.want)
			require.True(t, res.Answers[1].Approved)
			require.True(t, res.Signers[1].IsEqual(testKey("carol").PubKey()))
			require.NoError(t, VerifyTx(res.Tx, prevOuts(res.Proposal.Packet)))
		})
	}
}

// A co-signer that garbles its connection does not stop the others: Serve
// keeps answering.
func TestServeSurvivesBrokenConnections(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	bob := serve(t, c, w, "bob", Approve)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, junk := range [][]byte{
		{0, 0, 0, 0},             // empty frame
		{0xff, 0xff, 0xff, 0xff}, // oversized frame
		{0, 0, 0, 3, 1, 2, 3},    // a frame of garbage
		{0, 0},                   // half a length, then hang up
	} {
		conn, err := c.dial(ctx, bob.Address)
		require.NoError(t, err)
		_, err = conn.Write(junk)
		require.NoError(t, err)
		require.NoError(t, conn.Close())
	}
	msg, err := testProposal(t, w, "alice").Encode(testKey("alice"))
	require.NoError(t, err)
	_, ok := exchange(t, c, bob, msg).(*Approval)
	require.True(t, ok)
}

// The BIP 143 amount trick: two proposals for one transaction, each lying
// about a different input's amount, would each yield one valid signature.
// The co-signer signs a transaction once per set of amounts.
func TestSameTransactionWithOtherInputAmountsIsRefused(t *testing.T) {
	checkLeaks(t)
	c := foxtrotCarrier(t)
	w := testWallet(t, 2, "alice", "bob", "carol")
	bob := serve(t, c, w, "bob", Approve)
	alice := testKey("alice")
	lie := func(input int) []byte {
		p := testProposal(t, w, "alice")
		p.Packet.Inputs[input].WitnessUtxo.Value -= 1_000
		p.Memo.Fee -= 1_000 // the memo matches the lie
		for i := range p.Packet.Inputs {
			p.Packet.Inputs[i].PartialSigs = nil
		}
		require.NoError(t, signInputs(p.Packet, w, alice))
		msg, err := p.Encode(alice)
		require.NoError(t, err)
		return msg
	}
	_, ok := exchange(t, c, bob, lie(0)).(*Approval)
	require.True(t, ok, "the first lie cannot be told from the truth")
	requireRefusal(t, exchange(t, c, bob, lie(1)), CodeAmountConflict)

	// The same transaction with the same amounts again is fine.
	_, ok = exchange(t, c, bob, lie(0)).(*Approval)
	require.True(t, ok)
}
