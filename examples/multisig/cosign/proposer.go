package cosign

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// DefaultTimeout is ProposerConfig.Timeout's default: long enough for a
// person to read a proposal at a prompt.
const DefaultTimeout = 2 * time.Minute

// DefaultDialTimeout is ProposerConfig.DialTimeout's default.
const DefaultDialTimeout = 15 * time.Second

// DialFunc opens a connection to a co-signer's address: over foxtrot, a
// closure over Node.DialContext with network "foxtrot" (the address is the
// foxtrot address of the co-signer's key); over TCP, one over a
// net.Dialer's.
type DialFunc func(ctx context.Context, address string) (net.Conn, error)

// Peer is a co-signer to ask.
type Peer struct {
	Key     *btcec.PublicKey // its wallet key; its answer must be signed with it
	Address string           // what DialFunc dials
}

func (p Peer) String() string { return shortKey(p.Key) + "@" + p.Address }

// ProposerConfig configures a Proposer.
type ProposerConfig struct {
	// Wallet is the wallet whose outputs are spent. Required.
	Wallet *Wallet
	// Key is the proposer's wallet key. Required.
	Key *btcec.PrivateKey
	// Dial connects to co-signers. Required.
	Dial DialFunc
	// Timeout bounds each co-signer's part: dial, send, and wait for the
	// answer. Default DefaultTimeout.
	Timeout time.Duration
	// DialTimeout bounds the dial alone, within Timeout. Over foxtrot an
	// address that nobody listens on gives no answer at all, so this is
	// how long an offline co-signer holds the proposal up, while Timeout
	// leaves a person time to decide. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// Window and CacheSize configure the replay protection for answers;
	// see DecoderConfig. Defaults DefaultWindow and DefaultCacheSize.
	Window    time.Duration
	CacheSize int
	// Logger receives one line per co-signer. Default: discard.
	Logger *slog.Logger
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
}

// Proposer sends proposals to co-signers and turns their approvals into a
// signed transaction. It is safe for concurrent use.
type Proposer struct {
	wallet      *Wallet
	key         *btcec.PrivateKey
	dial        DialFunc
	timeout     time.Duration
	dialTimeout time.Duration
	log         *slog.Logger
	dec         *Decoder
}

// NewProposer returns a Proposer configured by cfg.
func NewProposer(cfg ProposerConfig) (*Proposer, error) {
	if cfg.Wallet == nil || cfg.Key == nil || cfg.Dial == nil {
		return nil, fmt.Errorf("cosign: proposer needs a wallet, a key and a dial function")
	}
	if !cfg.Wallet.IsMember(cfg.Key.PubKey()) {
		return nil, fmt.Errorf("%w: proposer key %s", ErrNotMember, shortKey(cfg.Key.PubKey()))
	}
	p := &Proposer{wallet: cfg.Wallet, key: cfg.Key, dial: cfg.Dial, timeout: cfg.Timeout,
		dialTimeout: cfg.DialTimeout, log: cfg.Logger}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.dialTimeout <= 0 {
		p.dialTimeout = DefaultDialTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.dec = NewDecoder(DecoderConfig{
		Window:    cfg.Window,
		CacheSize: cfg.CacheSize,
		Senders:   cfg.Wallet.keys,
		Now:       cfg.Now,
	})
	return p, nil
}

// Answer is what became of asking one co-signer.
type Answer struct {
	Peer Peer
	// Approved is true for an approval whose signatures all verified.
	Approved bool
	// Err says why not: a *RefusalError (the co-signer's signed refusal),
	// a dial or I/O error (offline; context.DeadlineExceeded when it did
	// not answer in time), or ErrBadPartialSig, ErrWrongProposal,
	// ErrWrongSender, a decoding error for an answer that was refused here.
	Err error
	// Took is how long the co-signer took.
	Took time.Duration

	sigs []*psbt.PartialSig // one per input, verified
}

func (a *Answer) String() string {
	switch {
	case a.Approved:
		return fmt.Sprintf("%s: approved (%s)", a.Peer, a.Took.Round(time.Millisecond))
	case a.Err == nil:
		return fmt.Sprintf("%s: not asked", a.Peer)
	}
	return fmt.Sprintf("%s: %v", a.Peer, a.Err)
}

// Result is the outcome of Propose.
type Result struct {
	Proposal *Proposal
	// Answers has one entry per co-signer asked, in the order given.
	Answers []Answer
	// Signers are the keys whose signatures the transaction carries,
	// the proposer first. Approvals beyond M are not used.
	Signers []*btcec.PublicKey
	// Tx is the signed transaction; nil unless Propose succeeded.
	Tx *wire.MsgTx
}

// TxHex returns the signed transaction in hex, ready to broadcast, or ""
// if there is none.
func (r *Result) TxHex() string {
	if r.Tx == nil {
		return ""
	}
	var buf bytes.Buffer
	if err := r.Tx.Serialize(&buf); err != nil {
		return ""
	}
	return hex.EncodeToString(buf.Bytes())
}

// Propose sends prop, which the proposer built (see NewProposal), to every
// peer at once and waits until each has answered or timed out. It verifies
// every partial signature of every approval against its own copy of the
// inputs before accepting it. With its own signature and M-1 approvals, it
// combines the signatures (dropping any beyond M), finalizes, extracts and
// verifies the transaction (see Finalize).
//
// Peers with the proposer's own key are skipped; a peer that is not a
// wallet member, or listed twice, is an error before anything is sent.
// If fewer than M signers approve, Propose returns the Result (whose
// Answers say what each co-signer did) and an error wrapping ErrThreshold.
func (p *Proposer) Propose(ctx context.Context, prop *Proposal, peers []Peer) (*Result, error) {
	if prop == nil || prop.Sender == nil || !prop.Sender.IsEqual(p.key.PubKey()) {
		return nil, fmt.Errorf("cosign: propose: the proposal is not this proposer's")
	}
	if _, err := p.wallet.CheckProposal(prop); err != nil {
		return nil, fmt.Errorf("cosign: propose: own proposal fails the checks: %w", err)
	}
	msg, err := prop.Encode(p.key)
	if err != nil {
		return nil, err
	}
	res := &Result{Proposal: prop}
	for _, peer := range peers {
		switch {
		case peer.Key == nil:
			return nil, fmt.Errorf("cosign: propose: peer %q has no key", peer.Address)
		case peer.Key.IsEqual(p.key.PubKey()):
			continue
		case !p.wallet.IsMember(peer.Key):
			return nil, fmt.Errorf("%w: peer %s", ErrNotMember, peer)
		}
		for _, a := range res.Answers {
			if a.Peer.Key.IsEqual(peer.Key) {
				return nil, fmt.Errorf("cosign: propose: co-signer %s listed twice", shortKey(peer.Key))
			}
		}
		res.Answers = append(res.Answers, Answer{Peer: peer})
	}
	if 1+len(res.Answers) < p.wallet.m {
		return res, fmt.Errorf("%w: %d co-signers to ask, %d more signatures needed",
			ErrThreshold, len(res.Answers), p.wallet.m-1)
	}

	tx := prop.Packet.UnsignedTx
	hashes := sigHashes(tx, prevOuts(prop.Packet))
	var wg sync.WaitGroup
	for i := range res.Answers {
		wg.Add(1)
		go func(a *Answer) {
			defer wg.Done()
			start := time.Now()
			a.sigs, a.Err = p.ask(ctx, a.Peer, prop, msg, hashes)
			a.Approved = a.Err == nil
			a.Took = time.Since(start)
			p.log.Info("co-signer answered", "peer", a.Peer, "approved", a.Approved, "err", a.Err)
		}(&res.Answers[i])
	}
	wg.Wait()

	combined, err := copyPacket(prop.Packet)
	if err != nil {
		return res, fmt.Errorf("cosign: %w", err)
	}
	res.Signers = []*btcec.PublicKey{p.key.PubKey()}
	for _, a := range res.Answers {
		if !a.Approved || len(res.Signers) == p.wallet.m {
			continue
		}
		for i, ps := range a.sigs {
			combined.Inputs[i].PartialSigs = append(combined.Inputs[i].PartialSigs, ps)
		}
		res.Signers = append(res.Signers, a.Peer.Key)
	}
	if len(res.Signers) < p.wallet.m {
		return res, fmt.Errorf("%w: %d of %d signatures (asked %d co-signers)",
			ErrThreshold, len(res.Signers), p.wallet.m, len(res.Answers))
	}
	if res.Tx, err = Finalize(p.wallet, combined); err != nil {
		return res, err
	}
	return res, nil
}

// ask sends the proposal to one co-signer and returns its verified partial
// signatures, one per input.
func (p *Proposer) ask(ctx context.Context, peer Peer, prop *Proposal, msg []byte,
	hashes *txscript.TxSigHashes) ([]*psbt.PartialSig, error) {

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	dialCtx, dialCancel := context.WithTimeout(ctx, p.dialTimeout)
	conn, err := p.dial(dialCtx, peer.Address)
	dialCancel()
	if err != nil {
		return nil, fmt.Errorf("cosign: co-signer offline: %w", err)
	}
	defer conn.Close()
	// The end of ctx (timeout or cancellation) closes the connection, which
	// unblocks the write or read below; ctx.Err() then says why.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	raw, err := func() ([]byte, error) {
		if err := WriteFrame(conn, msg); err != nil {
			return nil, err
		}
		return ReadFrame(conn)
	}()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("cosign: no answer: %w", ctx.Err())
		}
		return nil, fmt.Errorf("cosign: no answer: %w", err)
	}
	// Only the answer of the co-signer asked, to this proposal, may take a
	// place in the replay cache: another member's answer relayed onto this
	// connection must not shut out the real one.
	m, err := p.dec.decode(raw, func(m Message) error {
		h := m.Head()
		switch {
		case !h.Sender.IsEqual(peer.Key):
			return fmt.Errorf("%w: signed by %s", ErrWrongSender, shortKey(h.Sender))
		case h.ID != prop.ID:
			return fmt.Errorf("%w: ID %s", ErrWrongProposal, h.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch m := m.(type) {
	case *Refusal:
		return nil, &RefusalError{Signer: m.Sender, Code: m.Code, Reason: m.Reason}
	case *Approval:
		return p.verifyApproval(prop, m, hashes)
	}
	return nil, fmt.Errorf("%w: %s in answer to a proposal", ErrUnexpectedType, m.Type())
}

// verifyApproval takes the co-signer's partial signature off every input of
// its copy and verifies it against the proposer's own copy of the inputs.
func (p *Proposer) verifyApproval(prop *Proposal, a *Approval, hashes *txscript.TxSigHashes) ([]*psbt.PartialSig, error) {
	tx := prop.Packet.UnsignedTx
	if a.Packet.UnsignedTx.TxHash() != tx.TxHash() {
		return nil, fmt.Errorf("%w: unsigned transaction %s, proposed %s",
			ErrWrongProposal, a.Packet.UnsignedTx.TxHash(), tx.TxHash())
	}
	sigs := make([]*psbt.PartialSig, len(tx.TxIn))
	for i := range tx.TxIn {
		ps, ok := partialSigBy(&a.Packet.Inputs[i], a.Sender)
		if !ok {
			return nil, fmt.Errorf("%w: input %d carries no signature by %s", ErrBadPartialSig, i, shortKey(a.Sender))
		}
		amount := prop.Packet.Inputs[i].WitnessUtxo.Value
		if err := verifyPartialSig(tx, hashes, i, amount, p.wallet.script, ps); err != nil {
			return nil, err
		}
		sigs[i] = &psbt.PartialSig{PubKey: bytes.Clone(ps.PubKey), Signature: bytes.Clone(ps.Signature)}
	}
	return sigs, nil
}
