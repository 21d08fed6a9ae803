package cosign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// DefaultIOTimeout is CosignerConfig.IOTimeout's default.
const DefaultIOTimeout = 30 * time.Second

// Policy decides on a proposal that passed every check, typically by
// asking a person. It returns whether to sign and, if not, why; the reason
// goes into the signed refusal. A Policy may be called concurrently (one
// call per connection) and should give up when ctx is done.
type Policy func(ctx context.Context, s *Summary) (approve bool, reason string)

// Approve is a Policy that signs every proposal that passes the checks.
func Approve(context.Context, *Summary) (bool, string) { return true, "" }

// Reject returns a Policy that refuses every proposal, giving reason.
func Reject(reason string) Policy {
	return func(context.Context, *Summary) (bool, string) { return false, reason }
}

// CosignerConfig configures a Cosigner.
type CosignerConfig struct {
	// Wallet is the wallet whose spends this co-signer signs. Required.
	Wallet *Wallet
	// Key is this co-signer's wallet key. Required.
	Key *btcec.PrivateKey
	// Policy decides on proposals that pass the checks. Default: refuse
	// every proposal ("no policy configured").
	Policy Policy
	// Window and CacheSize configure the replay protection; see
	// DecoderConfig. Defaults DefaultWindow and DefaultCacheSize.
	Window    time.Duration
	CacheSize int
	// IOTimeout bounds how long a connection may take to deliver its
	// proposal, and then to take the answer. The policy's time is not
	// counted. Default DefaultIOTimeout.
	IOTimeout time.Duration
	// Logger receives one line per connection. Default: discard.
	Logger *slog.Logger
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
}

// Cosigner answers proposals for one wallet key: it checks them, asks its
// policy, and signs either its partial signatures or a refusal. It is safe
// for concurrent use.
type Cosigner struct {
	wallet  *Wallet
	key     *btcec.PrivateKey
	policy  Policy
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
	dec     *Decoder

	mu     sync.Mutex
	signed map[chainhash.Hash][]int64 // guarded by mu: input amounts of each transaction signed
	order  []chainhash.Hash           // guarded by mu: signed's keys, oldest first
}

// maxSigned bounds the transactions a Cosigner remembers having signed.
const maxSigned = 4096

// NewCosigner returns a Cosigner configured by cfg.
func NewCosigner(cfg CosignerConfig) (*Cosigner, error) {
	if cfg.Wallet == nil || cfg.Key == nil {
		return nil, fmt.Errorf("cosign: co-signer needs a wallet and a key")
	}
	if !cfg.Wallet.IsMember(cfg.Key.PubKey()) {
		return nil, fmt.Errorf("%w: co-signer key %s", ErrNotMember, shortKey(cfg.Key.PubKey()))
	}
	c := &Cosigner{
		wallet:  cfg.Wallet,
		key:     cfg.Key,
		policy:  cfg.Policy,
		timeout: cfg.IOTimeout,
		log:     cfg.Logger,
		now:     cfg.Now,
		signed:  make(map[chainhash.Hash][]int64),
	}
	if c.policy == nil {
		c.policy = Reject("no policy configured")
	}
	if c.timeout <= 0 {
		c.timeout = DefaultIOTimeout
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.dec = NewDecoder(DecoderConfig{
		Window:    cfg.Window,
		CacheSize: cfg.CacheSize,
		Senders:   cfg.Wallet.keys,
		Now:       c.now,
	})
	return c, nil
}

// PublicKey returns the co-signer's key.
func (c *Cosigner) PublicKey() *btcec.PublicKey { return c.key.PubKey() }

// Answer decodes one message and returns the encoded, signed answer: an
// Approval if the message is a valid, fresh proposal from another wallet
// member that passes Wallet.CheckProposal and the policy; otherwise a
// Refusal whose Code says which check failed. Answer returns an error, and
// no answer, only when the message is too broken to name the proposal it
// refuses (no well-formed header) or signing fails.
func (c *Cosigner) Answer(ctx context.Context, msg []byte) ([]byte, error) {
	m, err := c.dec.Decode(msg)
	if err != nil {
		env, herr := parseEnvelope(msg)
		if herr != nil {
			return nil, err
		}
		return c.refuse(env.hdr, err)
	}
	h := m.Head()
	p, ok := m.(*Proposal)
	if !ok {
		return c.refuse(*h, fmt.Errorf("%w: %s (co-signers answer proposals)", ErrUnexpectedType, m.Type()))
	}
	if p.Sender.IsEqual(c.key.PubKey()) {
		return c.refuse(*h, ErrOwnProposal)
	}
	s, err := c.wallet.CheckProposal(p)
	if err != nil {
		return c.refuse(*h, err)
	}
	amounts := inputAmounts(p)
	if err := c.checkAmounts(s.TxID, amounts, false); err != nil {
		return c.refuse(*h, err)
	}
	approve, reason := c.policy(ctx, s)
	if !approve {
		if reason == "" {
			reason = "declined"
		}
		return c.refuse(*h, fmt.Errorf("%w: %s", ErrDeclined, reason))
	}
	if err := c.checkAmounts(s.TxID, amounts, true); err != nil {
		return c.refuse(*h, err)
	}
	pkt, err := copyPacket(p.Packet)
	if err != nil {
		return nil, fmt.Errorf("cosign: %w", err)
	}
	if err := signInputs(pkt, c.wallet, c.key); err != nil {
		return nil, err
	}
	a := &Approval{Header: c.header(h.ID), Packet: pkt}
	c.log.Info("approved proposal", "id", h.ID, "proposer", shortKey(h.Sender), "txid", s.TxID)
	return a.Encode(c.key)
}

// checkAmounts refuses to sign txid with input amounts other than those it
// was signed with before, and with record, remembers these ones.
//
// A segwit v0 signature commits to its own input's amount only. A proposer
// who got the same transaction signed twice, once with a low amount on
// input 0 and the true one on input 1, once the other way round, could
// combine the two valid signatures into a transaction whose true fee no
// co-signer was shown. Remembering what was signed closes that, for as
// long as the co-signer runs and for the last maxSigned transactions.
func (c *Cosigner) checkAmounts(txid chainhash.Hash, amounts []int64, record bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.signed[txid]; ok {
		if !slices.Equal(prev, amounts) {
			return fmt.Errorf("%w: %s", ErrAmountConflict, txid)
		}
		return nil
	}
	if !record {
		return nil
	}
	if len(c.order) == maxSigned {
		delete(c.signed, c.order[0])
		c.order = c.order[1:]
	}
	c.signed[txid] = amounts
	c.order = append(c.order, txid)
	return nil
}

func inputAmounts(p *Proposal) []int64 {
	amounts := make([]int64, len(p.Packet.Inputs))
	for i, in := range p.Packet.Inputs {
		amounts[i] = in.WitnessUtxo.Value
	}
	return amounts
}

// refuse returns a signed refusal of proposal h.ID because of err.
func (c *Cosigner) refuse(h Header, err error) ([]byte, error) {
	code := CodeOf(err)
	reason := err.Error()
	if code == CodeDeclined {
		// The policy's own words, without the sentinel in front of them.
		reason = strings.TrimPrefix(reason, ErrDeclined.Error()+": ")
	}
	c.log.Warn("refused proposal", "id", h.ID, "sender", shortKey(h.Sender), "code", code, "reason", reason)
	r := &Refusal{Header: c.header(h.ID), Code: code, Reason: cleanText(reason, MaxReasonLen)}
	return r.Encode(c.key)
}

func (c *Cosigner) header(id ID) Header {
	return Header{ID: id, Time: c.now().UTC().Truncate(time.Second), Sender: c.key.PubKey()}
}

// Serve accepts connections on l and answers one proposal on each: it reads
// one frame, answers it with one frame (see Answer) and closes the
// connection. Serve closes l when ctx is done, then waits for the
// connections it is serving, which ctx's end also closes, and returns nil.
// A failed connection never stops Serve; it returns early only with an
// error of l's Accept wrapping net.ErrClosed (l closed by someone else).
func (c *Cosigner) Serve(ctx context.Context, l net.Listener) error {
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Transient (out of file descriptors, a failed handshake that
			// leaked out): wait a little and go on, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			c.log.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.serveConn(ctx, conn)
		}()
	}
}

func (c *Cosigner) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	remote := conn.RemoteAddr().String()
	conn.SetDeadline(time.Now().Add(c.timeout))
	msg, err := ReadFrame(conn)
	if err != nil {
		c.log.Info("no proposal read", "remote", remote, "err", err)
		return
	}
	conn.SetDeadline(time.Time{}) // the policy may take a while
	ans, err := c.Answer(ctx, msg)
	if err != nil {
		c.log.Warn("unanswerable message", "remote", remote, "err", err)
		return
	}
	conn.SetDeadline(time.Now().Add(c.timeout))
	if err := WriteFrame(conn, ans); err != nil {
		c.log.Info("answer not delivered", "remote", remote, "err", err)
	}
}

// cleanText makes s acceptable as a message text of at most max bytes:
// invalid UTF-8 and control characters become '?', and it is cut at a rune
// boundary.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	for len(s) > max {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}
