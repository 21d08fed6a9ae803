package billing

import (
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

// This file is the pure cryptography of quotes: a relay's signed price
// for one path of one connection, carried in the ack's hop list. It does
// no I/O.

// Quote returns a relay's hop for path of connection id: its key and, when
// price is not 0, its price signed with key (BIP-340 over wire.QuoteHash),
// valid until validUntil. A free hop carries no signature.
func Quote(key *btcec.PrivateKey, id addr.ConnID, path uint32, price uint64, validUntil time.Time) wire.Hop {
	var h wire.Hop
	copy(h.Key[:], key.PubKey().SerializeCompressed())
	return quote(key, h, id, path, price, validUntil)
}

func quote(key *btcec.PrivateKey, h wire.Hop, id addr.ConnID, path uint32, price uint64, validUntil time.Time) wire.Hop {
	h.Price = price
	if price == 0 {
		return h
	}
	h.ValidUntil = uint32(min(max(validUntil.Unix(), 0), math.MaxUint32))
	hash := wire.QuoteHash(id, path, h.Key, price, h.ValidUntil)
	// FastSign skips btcec's check of its own signature: whoever receives
	// the quote verifies it.
	sig, err := schnorr.Sign(key, hash[:], schnorr.FastSign())
	if err != nil {
		// schnorr.Sign fails only for a zero key or a broken RNG.
		panic("billing: schnorr sign: " + err.Error())
	}
	copy(h.Sig[:], sig.Serialize())
	return h
}

// CheckQuotes verifies the signed prices in an ack: every relay that
// charges must have signed its price for this path, unexpired at now.
// Errors wrap ErrBadQuote.
func CheckQuotes(ack *wire.ConnectAck, now time.Time) error {
	for _, h := range ack.Hops {
		if h.Price == 0 {
			continue
		}
		key, err := btcec.ParsePubKey(h.Key[:])
		if err != nil {
			return fmt.Errorf("%w: relay key: %v", ErrBadQuote, err)
		}
		if int64(h.ValidUntil) < now.Unix() {
			return fmt.Errorf("%w: quote of %s expired", ErrBadQuote, h.Node().String())
		}
		sig, err := schnorr.ParseSignature(h.Sig[:])
		if err != nil {
			return fmt.Errorf("%w: quote of %s: %v", ErrBadQuote, h.Node().String(), err)
		}
		hash := wire.QuoteHash(ack.ID, ack.Path, h.Key, h.Price, h.ValidUntil)
		if !sig.Verify(hash[:], key) {
			return fmt.Errorf("%w: quote of %s: signature does not verify", ErrBadQuote, h.Node().String())
		}
	}
	return nil
}

// PathPrice is what the relays of an ack's hop list charge together, per
// MiB. A sum past the largest uint64 is the largest uint64: prices come
// from the network, and a wrapped sum would make a dear path look free.
func PathPrice(hops []wire.Hop) uint64 {
	var p uint64
	for _, h := range hops {
		if p+h.Price < p {
			return math.MaxUint64
		}
		p += h.Price
	}
	return p
}
