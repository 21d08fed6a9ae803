package cosign

import (
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Errors of the message layer. A decoder wraps exactly one of them with %w and
// a detail; callers branch with errors.Is, never on the text.
var (
	// ErrMalformed reports bytes that are not a well-formed message or body.
	ErrMalformed = errors.New("cosign: malformed message")
	// ErrVersion reports a message whose version byte is not Version.
	ErrVersion = errors.New("cosign: unsupported message version")
	// ErrUnsigned reports a message that carries no signature.
	ErrUnsigned = errors.New("cosign: message is not signed")
	// ErrBadSignature reports a message whose signature does not verify
	// against its sender key (or is not canonical DER).
	ErrBadSignature = errors.New("cosign: bad message signature")
	// ErrStale reports a message whose timestamp is outside the accepted
	// window around the receiver's clock.
	ErrStale = errors.New("cosign: message timestamp outside the accepted window")
	// ErrReplay reports a message already seen (same type, ID and sender).
	ErrReplay = errors.New("cosign: replayed message")
	// ErrBusy reports that the replay cache is full of live entries; the
	// message was not accepted and may be sent again later.
	ErrBusy = errors.New("cosign: replay cache full, try again later")
	// ErrUnexpectedType reports a message of a type the receiver does not
	// expect at this point (an approval sent to a co-signer, say).
	ErrUnexpectedType = errors.New("cosign: unexpected message type")
	// ErrFrameTooLarge reports a frame longer than MaxFrameSize.
	ErrFrameTooLarge = errors.New("cosign: frame too large")
)

// Errors of the wallet and proposal checks.
var (
	// ErrWallet reports an invalid wallet description or key file.
	ErrWallet = errors.New("cosign: invalid wallet")
	// ErrNotMember reports a key that is not one of the wallet's keys.
	ErrNotMember = errors.New("cosign: sender is not a wallet member")
	// ErrOwnProposal reports a proposal signed with the receiving
	// co-signer's own key.
	ErrOwnProposal = errors.New("cosign: proposal carries this co-signer's own key")
	// ErrForeignInput reports an input that does not spend a wallet output.
	ErrForeignInput = errors.New("cosign: input does not belong to the wallet")
	// ErrMemoMismatch reports outputs or a fee that differ from the memo.
	ErrMemoMismatch = errors.New("cosign: transaction does not match the memo")
	// ErrAmountConflict reports a proposal for a transaction this
	// co-signer already signed with other input amounts.
	ErrAmountConflict = errors.New("cosign: transaction already signed with other input amounts")
	// ErrBadPartialSig reports a partial signature that is missing, not
	// canonical, not SIGHASH_ALL or does not verify.
	ErrBadPartialSig = errors.New("cosign: invalid partial signature")
	// ErrWrongProposal reports an answer with another proposal's ID, or
	// whose PSBT is for a different unsigned transaction than the proposal.
	ErrWrongProposal = errors.New("cosign: answer is for a different proposal")
	// ErrWrongSender reports an answer signed by a key other than the
	// co-signer's that was asked.
	ErrWrongSender = errors.New("cosign: answer from the wrong co-signer")
	// ErrInsufficientFunds reports payees and fee above the inputs' value.
	ErrInsufficientFunds = errors.New("cosign: inputs do not cover payees and fee")
	// ErrDeclined reports a proposal a co-signer's policy said no to.
	ErrDeclined = errors.New("cosign: declined by co-signer")
	// ErrRefused is wrapped by every *RefusalError.
	ErrRefused = errors.New("cosign: proposal refused")
	// ErrThreshold reports that fewer than M valid signatures per input
	// could be collected.
	ErrThreshold = errors.New("cosign: not enough signatures")
	// ErrScript reports a final transaction that fails btcd's script engine.
	ErrScript = errors.New("cosign: transaction fails script verification")
)

// Code is the machine-readable reason carried by a Refusal. Unknown codes
// decode fine (as themselves) so that later versions can add codes.
type Code uint8

// Refusal codes. Each but CodeOther stands for one sentinel error.
const (
	CodeOther          Code = 0
	CodeDeclined       Code = 1
	CodeMalformed      Code = 2
	CodeVersion        Code = 3
	CodeUnsigned       Code = 4
	CodeBadSignature   Code = 5
	CodeStale          Code = 6
	CodeReplay         Code = 7
	CodeBusy           Code = 8
	CodeUnexpectedType Code = 9
	CodeNotMember      Code = 10
	CodeOwnProposal    Code = 11
	CodeForeignInput   Code = 12
	CodeMemoMismatch   Code = 13
	CodeBadPartialSig  Code = 14
	CodeAmountConflict Code = 15
)

const lastCode = CodeAmountConflict

var codeErrs = map[Code]error{
	CodeDeclined:       ErrDeclined,
	CodeMalformed:      ErrMalformed,
	CodeVersion:        ErrVersion,
	CodeUnsigned:       ErrUnsigned,
	CodeBadSignature:   ErrBadSignature,
	CodeStale:          ErrStale,
	CodeReplay:         ErrReplay,
	CodeBusy:           ErrBusy,
	CodeUnexpectedType: ErrUnexpectedType,
	CodeNotMember:      ErrNotMember,
	CodeOwnProposal:    ErrOwnProposal,
	CodeForeignInput:   ErrForeignInput,
	CodeMemoMismatch:   ErrMemoMismatch,
	CodeBadPartialSig:  ErrBadPartialSig,
	CodeAmountConflict: ErrAmountConflict,
}

// Err returns the sentinel error the code stands for, or nil for CodeOther
// and codes this version does not know.
func (c Code) Err() error { return codeErrs[c] }

// String returns the sentinel's text without its "cosign: " prefix.
func (c Code) String() string {
	if err := c.Err(); err != nil {
		return strings.TrimPrefix(err.Error(), "cosign: ")
	}
	return fmt.Sprintf("code %d", uint8(c))
}

// CodeOf returns the refusal code for err: the code of the first sentinel
// err wraps, CodeOther if none.
func CodeOf(err error) Code {
	for c := CodeDeclined; c <= lastCode; c++ {
		if errors.Is(err, codeErrs[c]) {
			return c
		}
	}
	return CodeOther
}

// RefusalError is a co-signer's signed refusal, as the proposer reports it.
// It wraps ErrRefused and the sentinel of its Code, so
// errors.Is(err, ErrNotMember) holds for a refusal with CodeNotMember.
type RefusalError struct {
	Signer *btcec.PublicKey // who refused
	Code   Code
	Reason string // the co-signer's words; for people, not for branching
}

func (e *RefusalError) Error() string {
	return fmt.Sprintf("cosign: refused by %s: %s: %s", shortKey(e.Signer), e.Code, e.Reason)
}

// Unwrap returns ErrRefused and the sentinel of e.Code, if any.
func (e *RefusalError) Unwrap() []error {
	if err := e.Code.Err(); err != nil {
		return []error{ErrRefused, err}
	}
	return []error{ErrRefused}
}
