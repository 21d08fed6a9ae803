package billing

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	btcwire "github.com/btcsuite/btcd/wire"

	"github.com/foxtrotnet/foxtrot/channel"
)

// Config makes a node charge for what it relays and pay for what it
// uses. A node without one (route.Config.Billing nil, the default)
// charges nothing and pays nothing: it relays for free, and its own dials
// take free paths only. Every field has the default its comment gives;
// negative numbers are an error.
//
// Channels are one per pair of neighbours, opened by the side that first
// has to pay (it funds it from Wallet), used once its funding has
// MinConfirmations. With Dir set, channel states are saved (fsynced)
// before every update is acknowledged, so a restart loses no money; what
// was metered but not yet billed (less than a chunk and the credit) is
// not saved.
type Config struct {
	// Price this node charges per MiB it relays. 0 relays for free.
	Price uint64
	// MaxPrice is the most this node's own dials pay per MiB for a whole
	// path. 0 takes free paths only.
	MaxPrice uint64
	// Chunk is how many satoshis a neighbour may owe before it is asked
	// to pay, and so the smallest payment. Default 1000.
	Chunk int64
	// CreditLimit is how many satoshis a neighbour may owe before this
	// node stops relaying for it. Default 4 × Chunk.
	CreditLimit int64
	// QuoteTTL is how long a quoted price holds. Default 10 minutes.
	QuoteTTL time.Duration

	// Chain is the Bitcoin node channels are funded and closed on.
	// Required to charge or pay.
	Chain channel.Chain
	// Wallet funds the channels this node opens. Without one the node can
	// charge but not pay (an acceptor of channels only).
	Wallet Wallet
	// ChannelAmount is what this node puts into a channel it opens.
	// Default 1,000,000 sat.
	ChannelAmount btcutil.Amount
	// Channel sets the channels' terms and policy (Height and Store are
	// filled in by the engine).
	Channel channel.Config
	// MinConfirmations a funding needs before the channel carries
	// payments. Default 1.
	MinConfirmations uint32
	// PollInterval is how often the chain is asked about its height and
	// fundings, and how often unpaid neighbours are asked again. Default 1s.
	PollInterval time.Duration
	// Dir, if set, is where channel states and the peer index are kept.
	Dir string
}

// Wallet funds channels.
type Wallet interface {
	// Fund returns native segwit inputs worth amount plus the funding
	// fee, with a change output for the rest (nil for none).
	Fund(amount btcutil.Amount) ([]channel.FundingInput, *btcwire.TxOut, error)
}

// withDefaults returns c with its defaults filled in, or why it is
// invalid.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Chunk < 0, c.CreditLimit < 0, c.QuoteTTL < 0, c.ChannelAmount < 0, c.PollInterval < 0:
		return c, fmt.Errorf("%w: negative Chunk, CreditLimit, QuoteTTL, ChannelAmount or PollInterval", ErrConfig)
	}
	if c.Chunk == 0 {
		c.Chunk = 1000
	}
	if c.CreditLimit == 0 {
		c.CreditLimit = 4 * c.Chunk
	}
	if c.QuoteTTL == 0 {
		c.QuoteTTL = 10 * time.Minute
	}
	if c.ChannelAmount == 0 {
		c.ChannelAmount = 1_000_000
	}
	if c.MinConfirmations == 0 {
		c.MinConfirmations = 1
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if (c.Price > 0 || c.MaxPrice > 0) && c.Chain == nil {
		return c, fmt.Errorf("%w: Chain is required to charge or pay", ErrConfig)
	}
	return c, nil
}
