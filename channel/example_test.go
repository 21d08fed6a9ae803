package channel_test

import (
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/wire"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/foxtrotnet/foxtrot/channel/simchain"
)

// Open a channel on the simulated chain, pay for three chunks of relayed
// bytes, and close it cooperatively.
func Example() {
	ctx := context.Background()
	chain := simchain.New(simchain.Config{})
	height := func() uint32 { h, _ := chain.Height(ctx); return h }
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	newKey := func(name string) *btcec.PrivateKey {
		h := sha256.Sum256([]byte(name))
		k, _ := btcec.PrivKeyFromBytes(h[:])
		return k
	}

	// Alice's wallet owns a matured coinbase output (P2WPKH).
	wallet := newKey("alice's wallet")
	chain.MineTo(1, channel.P2WPKH(wallet.PubKey()))
	coinbase := chain.Block(1)[0]
	chain.MineTo(100, simchain.AnyoneCanSpendScript())

	// Alice opens with 1,000,000 sat; Bob, her relay, brings nothing.
	alice, open, err := channel.Open(channel.Config{Height: height}, channel.Contribution{
		Key:    newKey("alice"),
		Amount: 1_000_000,
		Inputs: []channel.FundingInput{{
			OutPoint: wire.OutPoint{Hash: coinbase.TxHash(), Index: 0},
			PrevOut:  *coinbase.TxOut[0],
			Signer:   channel.KeySigner{Key: wallet},
		}},
		Change: wire.NewTxOut(coinbase.TxOut[0].Value-1_000_000-1_000, channel.P2WPKH(wallet.PubKey())),
	})
	must(err)
	bob, accept, err := channel.Accept(channel.Config{Height: height}, open, channel.Contribution{Key: newKey("bob")})
	must(err)
	r, err := alice.Receive(accept) // refund countersigned: Alice signs the funding
	must(err)
	r, err = bob.Receive(r.Reply) // Bob completes the funding
	must(err)
	_, err = alice.Receive(r.Reply)
	must(err)
	must(chain.Broadcast(ctx, r.Funding))
	chain.MineTo(1, simchain.AnyoneCanSpendScript())

	// One state per chunk of metered bytes.
	for range 3 {
		msg, err := alice.Pay(2_000)
		must(err)
		r, err := bob.Receive(msg)
		must(err)
		_, err = alice.Receive(r.Reply)
		must(err)
	}
	local, remote := bob.Balance()
	fmt.Println("version", bob.Version(), "bob has", int64(local), "alice has", int64(remote))

	// Close cooperatively: final at once, no lock time.
	msg, err := bob.Close(2_000)
	must(err)
	r, err = alice.Receive(msg)
	must(err)
	_, err = bob.Receive(r.Reply)
	must(err)
	must(chain.Broadcast(ctx, r.Close))
	chain.MineTo(1, simchain.AnyoneCanSpendScript())
	n, err := chain.Confirmations(ctx, r.Close.TxHash())
	must(err)
	fmt.Println("close confirmed:", n, "outputs:", len(r.Close.TxOut), "to bob:", r.Close.TxOut[1].Value)
	// Output:
	// version 3 bob has 6000 alice has 994000
	// close confirmed: 1 outputs: 2 to bob: 6000
}
