package channel

import "errors"

// Errors returned by this package. Callers test for them with errors.Is;
// the returned errors wrap them with detail.
var (
	// ErrConfig means a Config field is out of range.
	ErrConfig = errors.New("channel: invalid config")
	// ErrParams means the channel parameters proposed by the opener are
	// outside the acceptor's policy, or inconsistent.
	ErrParams = errors.New("channel: unacceptable channel parameters")
	// ErrMalformed means a message or snapshot could not be decoded.
	ErrMalformed = errors.New("channel: malformed message")
	// ErrMsgVersion means a message carries a version this code does not speak.
	ErrMsgVersion = errors.New("channel: unsupported message version")
	// ErrWrongChannel means a message names another channel.
	ErrWrongChannel = errors.New("channel: message for another channel")
	// ErrUnexpected means a message arrived that makes no sense in the
	// channel's current phase (for example an Accept after the funding).
	ErrUnexpected = errors.New("channel: unexpected message")
	// ErrBadSignature means a signature from the peer does not verify, or is
	// not in canonical low-S DER form.
	ErrBadSignature = errors.New("channel: bad signature")
	// ErrScript means a transaction failed btcd's script engine.
	ErrScript = errors.New("channel: script check failed")
	// ErrPhase means the operation is not allowed in the channel's phase.
	ErrPhase = errors.New("channel: operation not allowed in this phase")
	// ErrPending means a proposal of ours is still waiting for the peer's
	// countersignature; only one may be in flight.
	ErrPending = errors.New("channel: a proposal is already pending")
	// ErrVersion means a state update carries an unexpected version number.
	ErrVersion = errors.New("channel: unexpected state version")
	// ErrInsufficientFunds means the payer's spendable balance (balance
	// minus reserves) does not cover the amount.
	ErrInsufficientFunds = errors.New("channel: insufficient funds")
	// ErrAmount means an amount is zero, negative, or an HTLC below the dust
	// limit.
	ErrAmount = errors.New("channel: invalid amount")
	// ErrTooManyHTLCs means the channel's HTLC output limit is reached.
	ErrTooManyHTLCs = errors.New("channel: too many HTLCs")
	// ErrUnknownHTLC means no live HTLC has the given ID, or the proposer may
	// not resolve it (only the receiver settles or fails an HTLC off-chain).
	ErrUnknownHTLC = errors.New("channel: unknown HTLC")
	// ErrBadPreimage means a preimage does not hash to the HTLC's hash.
	ErrBadPreimage = errors.New("channel: preimage does not match hash")
	// ErrHTLCExpiry means an HTLC's CLTV expiry is not far enough after the
	// state's lock time.
	ErrHTLCExpiry = errors.New("channel: HTLC expiry too early")
	// ErrHTLCsPending means the channel still carries HTLCs, so it cannot be
	// closed cooperatively.
	ErrHTLCsPending = errors.New("channel: HTLCs in flight")
	// ErrExhausted means no further state can be made: the next lock time
	// would not lie in the future. Close the channel and open a new one.
	ErrExhausted = errors.New("channel: no states left")
	// ErrNotSegwit means a funding input is not a native segwit output, so
	// the funding txid could change after the refund was signed.
	ErrNotSegwit = errors.New("channel: funding input is not native segwit")
	// ErrFunding means the funding transaction is invalid (inputs do not
	// cover outputs, witnesses missing or failing, fee too low).
	ErrFunding = errors.New("channel: invalid funding transaction")
	// ErrNoSigner means one of our funding inputs has no signer (for example
	// after a restart during opening).
	ErrNoSigner = errors.New("channel: funding input has no signer")
	// ErrConflict means both sides proposed the same version at once and the
	// peer's proposal lost the tie-break; it is dropped.
	ErrConflict = errors.New("channel: conflicting proposal")
	// ErrFeeRate means a proposed close fee rate is outside policy.
	ErrFeeRate = errors.New("channel: fee rate out of range")
	// ErrNotState means a transaction is not one of this channel's states.
	ErrNotState = errors.New("channel: not a state of this channel")
	// ErrRefused is the reason carried by a Reject whose code this
	// version does not know.
	ErrRefused = errors.New("channel: refused by peer")

	// ErrNotFound means a Store holds no snapshot for the channel.
	ErrNotFound = errors.New("channel: not found")
	// ErrCorrupt means a stored snapshot failed its checksum.
	ErrCorrupt = errors.New("channel: snapshot corrupt")

	// ErrRejected is wrapped by every Chain.Broadcast error that means the
	// node refused the transaction (as opposed to a transport failure).
	ErrRejected = errors.New("channel: transaction rejected")
	// ErrNonFinal is wrapped (with ErrRejected) when a transaction's
	// nLockTime or BIP68 relative lock is not yet satisfied.
	ErrNonFinal = errors.New("channel: transaction not final")
	// ErrDoubleSpend is wrapped (with ErrRejected) when an input is already
	// spent, in a block or in the mempool, or does not exist.
	ErrDoubleSpend = errors.New("channel: input already spent or missing")
	// ErrTxNotFound means the chain knows no transaction with that id.
	ErrTxNotFound = errors.New("channel: transaction not found")
)

// Reject codes carried on the wire, so that a peer learns why its proposal
// was refused without parsing text.
var rejectCodes = []error{
	1:  ErrRefused,
	2:  ErrBadSignature,
	3:  ErrVersion,
	4:  ErrInsufficientFunds,
	5:  ErrAmount,
	6:  ErrTooManyHTLCs,
	7:  ErrUnknownHTLC,
	8:  ErrBadPreimage,
	9:  ErrHTLCExpiry,
	10: ErrExhausted,
	11: ErrConflict,
	12: ErrPhase,
	13: ErrFeeRate,
	14: ErrHTLCsPending,
	15: ErrScript,
	16: ErrMalformed,
}

func rejectCode(err error) uint16 {
	for i, e := range rejectCodes {
		if e != nil && errors.Is(err, e) && i != 1 {
			return uint16(i)
		}
	}
	return 1
}

func rejectReason(code uint16) error {
	if int(code) < len(rejectCodes) && rejectCodes[code] != nil {
		return rejectCodes[code]
	}
	return ErrRefused
}
