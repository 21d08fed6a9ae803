package billing

import (
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
	"github.com/foxtrotnet/foxtrot/internal/wire"
)

func TestQuotesVerifyAndAlteredOnesDoNot(t *testing.T) {
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	now := time.Unix(1_700_000_000, 0)
	id := addr.ConnID{7}
	ack := &wire.ConnectAck{ID: id, Path: 2, Hops: []wire.Hop{
		Quote(key, id, 2, 0, now), // free: unsigned
		Quote(key, id, 2, 30, now.Add(time.Minute)),
	}}
	require.Zero(t, ack.Hops[0].Sig)
	require.NoError(t, CheckQuotes(ack, now))
	require.EqualValues(t, 30, PathPrice(ack.Hops))

	require.ErrorIs(t, CheckQuotes(ack, now.Add(2*time.Minute)), ErrBadQuote, "expired")
	for name, alter := range map[string]func(*wire.ConnectAck){
		"price":     func(a *wire.ConnectAck) { a.Hops[1].Price = 3 },
		"path":      func(a *wire.ConnectAck) { a.Path = 3 },
		"lifetime":  func(a *wire.ConnectAck) { a.Hops[1].ValidUntil++ },
		"signature": func(a *wire.ConnectAck) { a.Hops[1].Sig[5] ^= 1 },
		"key":       func(a *wire.ConnectAck) { a.Hops[1].Key[0] = 9 },
	} {
		bad := *ack
		bad.Hops = append([]wire.Hop(nil), ack.Hops...)
		alter(&bad)
		require.ErrorIs(t, CheckQuotes(&bad, now), ErrBadQuote, name)
	}
}

func TestAnEngineQuotesItsPriceForQuoteTTL(t *testing.T) {
	n := newNode(t, Config{Price: 30, QuoteTTL: time.Minute, Chain: simchain.New(simchain.Config{})})
	h := n.e.Quote(addr.ConnID{1}, 4)
	require.EqualValues(t, 30, h.Price)
	require.EqualValues(t, n.clock.Now().Add(time.Minute).Unix(), h.ValidUntil)
	require.Equal(t, n.e.key.PubKey().SerializeCompressed(), h.Key[:])
	require.NoError(t, CheckQuotes(&wire.ConnectAck{ID: addr.ConnID{1}, Path: 4, Hops: []wire.Hop{h}}, n.clock.Now()))
	require.ErrorIs(t, CheckQuotes(&wire.ConnectAck{ID: addr.ConnID{1}, Path: 5, Hops: []wire.Hop{h}}, n.clock.Now()), ErrBadQuote)
}

func TestPathPriceSaturatesInsteadOfWrapping(t *testing.T) {
	hops := []wire.Hop{{Price: math.MaxUint64 - 1}, {Price: 2}}
	require.EqualValues(t, uint64(math.MaxUint64), PathPrice(hops), "a wrapped sum would look free")
}

// FuzzCheckQuotes feeds CheckQuotes hop lists from the network: it must
// never panic, and a free hop list always passes.
func FuzzCheckQuotes(f *testing.F) {
	key, _ := btcec.NewPrivateKey()
	h := Quote(key, addr.ConnID{1}, 1, 5, time.Unix(1_800_000_000, 0))
	f.Add(h.Key[:], h.Price, h.ValidUntil, h.Sig[:])
	f.Add([]byte{2}, uint64(0), uint32(0), []byte{})
	f.Fuzz(func(t *testing.T, k []byte, price uint64, until uint32, sig []byte) {
		var hop wire.Hop
		copy(hop.Key[:], k)
		copy(hop.Sig[:], sig)
		hop.Price, hop.ValidUntil = price, until
		err := CheckQuotes(&wire.ConnectAck{ID: addr.ConnID{1}, Path: 1, Hops: []wire.Hop{hop}}, time.Unix(1_700_000_000, 0))
		if price == 0 {
			require.NoError(t, err)
		}
	})
}
