// Package cosign lets the co-signers of an M-of-N P2WSH multisig wallet
// agree on a spend over any net.Conn: a proposer sends a PSBT with a memo,
// each co-signer checks it and answers with its partial signatures or a
// signed refusal, and the proposer assembles and verifies the transaction.
// It is the logic of the examples/multisig program, which runs it over
// foxtrot; nothing here knows which network carries it.
//
// # Overview
//
//	proposer                                   co-signer (Serve)
//	   |  dial(address)                               |
//	   |--- frame: Proposal{memo, PSBT} ------------->|  Decoder: version, signature,
//	   |                                              |    member, window, replay
//	   |                                              |  Wallet.CheckProposal
//	   |                                              |  Policy (flag or prompt)
//	   |<-- frame: Approval{PSBT + its sigs} ---------|  or Refusal{code, reason}
//	   |  close                                       |
//
// One proposal per connection, one answer, then both sides close. The
// proposer asks every co-signer at once, verifies each partial signature
// against its own copy of the inputs before accepting it, and with M
// signatures per input finalizes and runs btcd's script engine.
//
// # Usage
//
// A co-signer:
//
//	c, err := cosign.NewCosigner(cosign.CosignerConfig{Wallet: w, Key: key, Policy: cosign.Approve})
//	err = c.Serve(ctx, listener)
//
// A proposer:
//
//	prop, err := cosign.NewProposal(w, key, utxos, cosign.Memo{Payees: payees, Fee: fee})
//	p, err := cosign.NewProposer(cosign.ProposerConfig{Wallet: w, Key: key, Dial: dial})
//	res, err := p.Propose(ctx, prop, peers) // res.TxHex(), res.Answers
//
// # Security
//
// Every message is signed by its sender's wallet key and carries a version,
// a proposal ID and a timestamp; Decoder refuses unsigned, malformed,
// wrong-version, stale and replayed messages, and messages from keys that
// are not the wallet's, before anything else looks at them. A co-signer
// signs only SIGHASH_ALL, only inputs paying the wallet's script, only
// outputs and a fee that match the memo. The input amounts are the
// proposer's word: each signature commits to its input's amount (BIP 143),
// so a lie makes the transaction invalid, but see README.md for what a
// co-signer that signs the same transaction twice risks.
//
// # Concurrency
//
// Wallet is immutable. Decoder, Cosigner and Proposer are safe for
// concurrent use. Serve runs one goroutine per connection and waits for
// them before it returns; Propose runs one per co-signer and waits for them
// too. Nothing is left running after either returns.
package cosign
