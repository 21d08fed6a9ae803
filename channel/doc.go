// Package channel is a payment channel between two neighbours of the
// foxtrot network, in the style of ESCHATON: every state is a real Bitcoin
// transaction, built with btcd's txscript and wire packages, signed by both
// sides, and ordered against older states by its lock time.
//
// The package is pure logic: no sockets, no goroutines, randomness and
// chain height injected through Config. Messages to the peer are returned
// as bytes and messages from the peer are handed to Channel.Receive; the
// routing layer carries them on its control stream. Talking to a Bitcoin
// node is the business of a Chain (channel/simchain in memory,
// channel/rpcchain for btcd), which the caller drives.
//
// # Model
//
// The opener and the acceptor put money into one 2-of-2 P2WSH output (the
// funding; keys sorted by their compressed encoding), funded from native
// segwit inputs only, so the funding txid is fixed before anyone signs it.
// Either side may contribute; the opener must, and pays all fees.
//
// Version 0 is the refund: it pays each side its contribution back and its
// nLockTime lies Lifetime blocks in the future. It is signed by both sides
// before either signs the funding (MsgAccept carries the acceptor's refund
// signature, the opener's MsgFundingSigs its own with its funding
// witnesses, and only then does the acceptor sign its inputs).
//
// Each later version moves balance and is signed by both. It spends the
// same funding output, and is made to beat every older version on chain:
//
//   - nLockTime: version v locks at OpenHeight+Lifetime-v*LockStep, so it
//     becomes final LockStep blocks before version v-1, and can be mined
//     while every older state is still refused as non-final;
//   - nSequence: 1<<31 | v. Bit 31 disables BIP68 (a small nSequence in a
//     version-2 transaction would be a relative lock, which the node
//     refuses until it matures); it is below 0xffffffff, so nLockTime
//     applies, and signals BIP125 replaceability;
//   - fee: a higher fee rate and a higher absolute fee (below).
//
// Versions increase by one per state, except that a version at which
// either side ever signed a state that was then refused or crossed by the
// peer's proposal is skipped: no one ever signs two different states of
// one version, so a half-signed leftover is always outranked.
//
// A state's outputs: the opener's payout (its balance less the fee and
// less its spares), the acceptor's payout (once its balance reaches the
// dust limit; until then the opener's output carries the acceptor's small
// credit), one P2WSH output per live HTLC, and spares. When an HTLC is
// settled or failed its output becomes a spare: an output of DustLimit,
// of the same size, paid to the opener's key, which the next HTLC takes
// over. Outputs thus never disappear, a state is never smaller than an
// older one, and a higher fee rate also means a higher absolute fee.
//
//	version:    0 (refund)     1               2           ...   v
//	nLockTime:  O+Life         O+Life-S        O+Life-2S         O+Life-v*S
//	nSequence:  1<<31          1<<31|1         1<<31|2           1<<31|v
//	fee rate:   R              R+D             R+2D              R+v*D
//	            <── older states: final later, pay less ───  newest ──>
//
// Unilateral close: broadcast the newest state (NewestState, ForceClose)
// once the height reaches its lock time; until LockStep blocks later no
// older state is even valid, and after it confirms every older state is a
// double spend. Cooperative close: a transaction with no lock time and a
// final sequence, paying each side its whole balance; it is valid at once.
//
// # How many states a channel holds
//
// A state is made only while its lock time lies in the future (after the
// current height), otherwise it could not outrank the state before it. So
//
//	states ever:            MaxVersion = floor((Lifetime-1) / LockStep)
//	states left at height h, newest version v:
//	                        StatesLeft = floor((LockTime(v) - h - 1) / LockStep)
//
// Time uses the budget as much as updates do. A channel that makes r
// states per block lasts Lifetime/(1+r*LockStep) blocks and makes
// r*Lifetime/(1+r*LockStep) states. With the defaults (Lifetime 4032
// blocks, four weeks; LockStep 2): at most 2015 states; at one state per
// block it lasts 1344 blocks (9 days); at one per ten blocks, 3360 blocks
// (23 days) and 336 states.
//
// Hence billing is by chunk, never by packet: one state pays for a chunk
// of bytes. A relay forwarding B bytes per block for a neighbour, wanting
// the channel to last T blocks, makes r = (Lifetime/T - 1)/LockStep states
// per block and bills chunks of B/r bytes; the credit it extends is one
// chunk's price. When StatesLeft runs low, close and open a new channel.
// (Channels one-way per direction would not need the lock-time ladder, and
// so would hold unbounded states, but need a funding per direction and a
// second protocol for HTLCs back; the issue asks for the ESCHATON design,
// and one bidirectional channel lets two relays bill each other and
// forward HTLCs both ways over one funding.)
//
// # Fees
//
// The fee of version v is ceil((FeeRate + v*FeeRateStep) * vsize / 1000)
// satoshis, rates in sat/kvB. Both signatures are ground (RFC 6979 with
// extra entropy, as Bitcoin Core does) to exactly 70 DER bytes, so vsize is
// known exactly before signing and the rate both sides compute is the rate
// a node measures. Since vsize never decreases and FeeRateStep times the
// smallest possible state (137 vbytes) is at least 1000, every state pays
// a strictly higher absolute fee and a strictly higher fee rate (also as
// btcd rounds it) than every older one. Defaults: 2000 sat/kvB plus 10 per
// version, 22150 sat/kvB at version 2015. The opener pays; it sets aside
// a reserve (Channel.Reserve): the fee of the largest possible state at
// the last version, a spare per HTLC slot, and its own dust reserve, so
// that every state stays affordable and resolving an HTLC never fails.
//
// Adjacent states differ by a few satoshis, less than BIP125 asks of a
// replacement (its own size at the relay fee), so a mempool replaces an
// older state by a newer only when they are far apart; the lock-time
// ladder, not the fee, is what guarantees the order. The fee makes miners
// prefer the newer state when both are final.
//
// # HTLCs
//
// An HTLC output pays the receiver against the SHA-256 preimage of its
// hash, or the offerer after an absolute CLTV expiry:
//
//	OP_IF OP_SIZE 32 OP_EQUALVERIFY OP_SHA256 <hash> OP_EQUALVERIFY <receiver>
//	OP_ELSE <expiry> OP_CHECKLOCKTIMEVERIFY OP_DROP <offerer> OP_ENDIF OP_CHECKSIG
//
// The expiry must lie at least HTLCMargin blocks after the lock time of the
// state that adds the HTLC (MinHTLCExpiry), so the receiver, closing with
// that state or a newer one (which locks earlier), has HTLCMargin blocks to
// claim. A payment along a path of relays uses one hash; expiries decrease
// toward the payee by each relay's margin (PathExpiries). The receiver
// settles (SettleHTLC, revealing the preimage) or fails (FailHTLC) an HTLC
// off-chain; the offerer cannot take it back off-chain, only by TimeoutHTLC
// on chain after the expiry. On chain: HTLCOutputs finds them in whatever
// state confirmed, ClaimHTLC and TimeoutHTLC spend them, ExtractPreimage
// reads a preimage from the peer's claim.
//
// # Use by a relay
//
//   - open: Open / Accept, then Receive the MsgAccept and the two
//     MsgFundingSigs; Result.Funding is the funding to broadcast. Wait for
//     confirmations (Chain.Confirmations) before extending credit;
//   - updates: Propose (or Pay) returns a MsgUpdate; the peer's Receive
//     checks it, countersigns and returns a MsgAck in Result.Reply; our
//     Receive of the MsgAck makes it the newest (Result.Update). One
//     proposal may be in flight at a time; batch ops into one update;
//   - pay for metered bytes: Pay(price of a chunk) per chunk;
//   - forward: an Update from upstream with an AddHTLC is offered
//     downstream with the same hash and a lower expiry; a SettleHTLC from
//     downstream carries the preimage to settle upstream (Preimage keeps
//     it); a FailHTLC is failed upstream;
//   - close: Close / Receive gives Result.Close to broadcast at once; or
//     ForceClose and broadcast at the newest state's lock time.
//
// Every signature from the peer is verified (by btcd's script engine with
// the standard verification flags, over the complete transaction) before
// we countersign or accept anything; a forged or tampered message is
// refused with an error wrapping ErrBadSignature, and the peer is sent a
// MsgReject naming the reason. Every message carries a version byte;
// decoders never panic and are fuzzed.
//
// # Persistence
//
// With Config.Store set, a Channel saves a snapshot after every change and
// before it returns the message that acknowledges it (or proposes it: a
// restart must never sign a different state of the same version); a
// failed save undoes the change. FileStore fsyncs the file and its
// directory before Save returns. Resume or Load restores a channel; its
// PendingMessage is the proposal to resend.
//
// # Concurrency
//
// A Channel is not safe for concurrent use: its owner (one goroutine, or
// a mutex) serialises calls.
package channel
