package channel

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/btcsuite/btcd/btcutil"
)

// FeeRate is a fee rate in satoshis per 1000 virtual bytes (sat/kvB), the
// unit btcd's mempool uses.
type FeeRate int64

// Fee returns the fee for a transaction of vsize virtual bytes, rounded up.
func (r FeeRate) Fee(vsize int64) btcutil.Amount {
	return btcutil.Amount((int64(r)*vsize + 999) / 1000)
}

// Limits that hold whatever the configuration says.
const (
	// MinRelayFeeRate is btcd's (and Bitcoin Core's) default minimum relay
	// fee rate; no state may pay less.
	MinRelayFeeRate FeeRate = 1000
	// MinDustLimit is the smallest dust limit accepted: 546 sat is the dust
	// threshold of a P2PKH output at the minimum relay fee, the largest of
	// the standard output types, so an output of at least this value is
	// never dust.
	MinDustLimit btcutil.Amount = 546
	// MaxHTLCLimit caps Params.MaxHTLCs, and so the size of a state.
	MaxHTLCLimit = 64
	// maxLockTime keeps lock times below txscript.LockTimeThreshold: they
	// are block heights, never timestamps.
	maxLockTime = 500_000_000 - 1
)

// Params are the terms of one channel. The opener proposes them (from its
// Config) in the Open message; the acceptor checks them against its own
// policy. Both sides compute every transaction from them, so they are
// identical on both sides.
type Params struct {
	// OpenHeight is the chain height when the channel was opened.
	OpenHeight uint32
	// Lifetime is how many blocks after OpenHeight the refund (version 0)
	// becomes final: the refund's nLockTime is OpenHeight+Lifetime.
	Lifetime uint32
	// LockStep is how many blocks earlier each new version's nLockTime
	// lies: version v has nLockTime OpenHeight+Lifetime-v*LockStep.
	LockStep uint32
	// FeeRate is the fee rate of the refund (version 0).
	FeeRate FeeRate
	// FeeRateStep is added to the fee rate for every version, so a newer
	// state always pays a higher fee rate and a higher absolute fee.
	FeeRateStep FeeRate
	// DustLimit is the smallest output value the channel creates, the
	// value of a spare output, and the reserve each side keeps.
	DustLimit btcutil.Amount
	// MaxHTLCs is the most HTLC outputs a state may carry.
	MaxHTLCs uint16
	// HTLCMargin is how many blocks an HTLC's CLTV expiry must lie after
	// the lock time of the state that adds it.
	HTLCMargin uint32
}

// RefundLockTime is the nLockTime of the refund, version 0.
func (p Params) RefundLockTime() uint32 { return p.OpenHeight + p.Lifetime }

// LockTime is the nLockTime of state version v. It decreases by LockStep
// per version, so a newer state becomes final, and can be mined, before
// any older one.
func (p Params) LockTime(v uint32) uint32 {
	return p.OpenHeight + p.Lifetime - v*p.LockStep
}

// MaxVersion is the highest version the channel can ever reach: the last
// whose lock time still lies after OpenHeight. The channel holds at most
// MaxVersion+1 states (the refund included), and fewer in practice: a state
// is only made while its lock time is in the future (see Channel.StatesLeft).
func (p Params) MaxVersion() uint32 {
	if p.LockStep == 0 || p.Lifetime == 0 {
		return 0
	}
	return (p.Lifetime - 1) / p.LockStep
}

// StateFeeRate is the nominal fee rate of version v.
func (p Params) StateFeeRate(v uint32) FeeRate {
	return p.FeeRate + FeeRate(v)*p.FeeRateStep
}

// Sequence is the nSequence of the funding input in version v: bit 31 set
// (BIP68 disabled, so it is no relative lock), not final (so nLockTime is
// enforced), signalling BIP125 replaceability, and growing with v.
func (p Params) Sequence(v uint32) uint32 { return 1<<31 | v }

func (p Params) validate() error {
	switch {
	case p.Lifetime == 0 || p.LockStep == 0:
		return fmt.Errorf("%w: lifetime %d and lock step %d must be positive", ErrParams, p.Lifetime, p.LockStep)
	case p.LockStep > p.Lifetime:
		return fmt.Errorf("%w: lock step %d exceeds lifetime %d", ErrParams, p.LockStep, p.Lifetime)
	case uint64(p.OpenHeight)+uint64(p.Lifetime)+uint64(p.HTLCMargin) > maxLockTime:
		return fmt.Errorf("%w: lock times must stay block heights", ErrParams)
	case p.FeeRate < MinRelayFeeRate:
		return fmt.Errorf("%w: fee rate %d below the relay minimum %d sat/kvB", ErrParams, p.FeeRate, MinRelayFeeRate)
	case p.FeeRateStep <= 0 || p.FeeRate > 1<<40 || p.FeeRateStep > 1<<30:
		return fmt.Errorf("%w: fee rate step %d out of range", ErrParams, p.FeeRateStep)
	case p.DustLimit < MinDustLimit || p.DustLimit > btcutil.SatoshiPerBitcoin:
		return fmt.Errorf("%w: dust limit %d out of range", ErrParams, p.DustLimit)
	case p.MaxHTLCs > MaxHTLCLimit:
		return fmt.Errorf("%w: %d HTLCs exceed the limit %d", ErrParams, p.MaxHTLCs, MaxHTLCLimit)
	case p.MaxVersion() >= 1<<31-2:
		return fmt.Errorf("%w: too many versions for nSequence", ErrParams)
	}
	// The rate step must dominate the rounding of fees to whole satoshis,
	// or two adjacent states could round to the same rate: see feeFor.
	if int64(p.FeeRateStep)*minStateVSize < 1000 {
		return fmt.Errorf("%w: fee rate step %d sat/kvB is below %d", ErrParams, p.FeeRateStep, (1000+minStateVSize-1)/minStateVSize)
	}
	return nil
}

// Config is one side's configuration: the terms it proposes when it opens a
// channel, the policy it applies when it accepts one, and its sources of
// height, randomness and durability. The zero value of every field but
// Height selects the documented default. A Config is not modified after it
// is handed to Open, Accept or Resume.
type Config struct {
	// Height reports the current chain height. Required: the channel
	// refuses to make a state whose lock time is not in the future.
	Height func() uint32
	// Rand is the source of the Open nonce. Default: crypto/rand.Reader.
	Rand io.Reader
	// Store, if set, receives a snapshot of the channel after every
	// change and before any message acknowledging it is returned; a
	// failed Save undoes the change. Default: none (tests).
	Store Store

	// Lifetime is proposed as Params.Lifetime. Default 4032 (four weeks).
	Lifetime uint32
	// LockStep is proposed as Params.LockStep. Default 2.
	LockStep uint32
	// FeeRate is proposed as Params.FeeRate. Default 2000 sat/kvB.
	FeeRate FeeRate
	// FeeRateStep is proposed as Params.FeeRateStep. Default 10 sat/kvB.
	FeeRateStep FeeRate
	// DustLimit is proposed as Params.DustLimit. Default MinDustLimit.
	DustLimit btcutil.Amount
	// MaxHTLCs is proposed as Params.MaxHTLCs. Default 8.
	MaxHTLCs uint16
	// HTLCMargin is proposed as Params.HTLCMargin. Default 144 (a day).
	HTLCMargin uint32

	// MaxLifetime is the longest Lifetime accepted from an opener (it is
	// how long a unilateral close may take). Default 8064 (eight weeks).
	MaxLifetime uint32
	// MaxFeeRate is the highest fee rate accepted for a state (at the
	// channel's last version) or a cooperative close. Default 200000 sat/kvB.
	MaxFeeRate FeeRate
	// MinHTLCMargin is the smallest HTLCMargin accepted. Default 6.
	MinHTLCMargin uint32
	// MaxHeightSkew is how far the opener's OpenHeight may differ from
	// our own height. Default 6.
	MaxHeightSkew uint32
}

func (c Config) withDefaults() (Config, error) {
	if c.Height == nil {
		return c, fmt.Errorf("%w: Height is required", ErrConfig)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Lifetime, 4032)
	def(&c.LockStep, 2)
	def(&c.HTLCMargin, 144)
	def(&c.MaxLifetime, 8064)
	def(&c.MinHTLCMargin, 6)
	def(&c.MaxHeightSkew, 6)
	if c.FeeRate == 0 {
		c.FeeRate = 2000
	}
	if c.FeeRateStep == 0 {
		c.FeeRateStep = 10
	}
	if c.DustLimit == 0 {
		c.DustLimit = MinDustLimit
	}
	if c.MaxHTLCs == 0 {
		c.MaxHTLCs = 8
	}
	if c.MaxFeeRate == 0 {
		c.MaxFeeRate = 200_000
	}
	if c.MaxFeeRate < MinRelayFeeRate {
		return c, fmt.Errorf("%w: MaxFeeRate %d below the relay minimum", ErrConfig, c.MaxFeeRate)
	}
	return c, nil
}

// params returns the terms an opener at height h proposes.
func (c Config) params(h uint32) Params {
	return Params{
		OpenHeight:  h,
		Lifetime:    c.Lifetime,
		LockStep:    c.LockStep,
		FeeRate:     c.FeeRate,
		FeeRateStep: c.FeeRateStep,
		DustLimit:   c.DustLimit,
		MaxHTLCs:    c.MaxHTLCs,
		HTLCMargin:  c.HTLCMargin,
	}
}

// checkPolicy reports whether an acceptor with this config takes p.
func (c Config) checkPolicy(p Params) error {
	if err := p.validate(); err != nil {
		return err
	}
	h := c.Height()
	skew := int64(p.OpenHeight) - int64(h)
	if skew < -int64(c.MaxHeightSkew) || skew > int64(c.MaxHeightSkew) {
		return fmt.Errorf("%w: open height %d, ours is %d", ErrParams, p.OpenHeight, h)
	}
	if p.Lifetime > c.MaxLifetime {
		return fmt.Errorf("%w: lifetime %d exceeds %d", ErrParams, p.Lifetime, c.MaxLifetime)
	}
	if p.HTLCMargin < c.MinHTLCMargin {
		return fmt.Errorf("%w: HTLC margin %d below %d", ErrParams, p.HTLCMargin, c.MinHTLCMargin)
	}
	if top := p.StateFeeRate(p.MaxVersion()); top > c.MaxFeeRate {
		return fmt.Errorf("%w: fee rate reaches %d sat/kvB at the last version, above %d", ErrParams, top, c.MaxFeeRate)
	}
	return nil
}

// PathExpiries returns the CLTV expiry to use on each channel of a payment
// path that shares one hash, given each channel's MinHTLCExpiry (ordered
// from the payer's channel to the payee's) and the margin delta each relay
// keeps between the HTLC it receives and the one it offers. Expiries
// decrease toward the payee by at least delta, and none is below its
// channel's minimum.
func PathExpiries(minExpiry []uint32, delta uint32) []uint32 {
	out := make([]uint32, len(minExpiry))
	for i := len(minExpiry) - 1; i >= 0; i-- {
		out[i] = minExpiry[i]
		if i+1 < len(out) && out[i+1]+delta > out[i] {
			out[i] = out[i+1] + delta
		}
	}
	return out
}

// minStateVSize is the nominal virtual size of the smallest state there
// can be: one P2WPKH payout, no other output. A test checks it.
const minStateVSize = 137
