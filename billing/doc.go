// Package billing makes a foxtrot node charge for what it relays and pay
// for what it uses: signed per-MiB quotes in connect acks, a ledger per
// neighbour, payment requests, and payment channels (package channel)
// funded from a Wallet and settled on a Bitcoin Chain.
//
// # Money flow
//
// Prices are satoshis per MiB of connection data (both directions). Each
// relay quotes its price, signed (Quote, CheckQuotes), in the acks it
// passes back; the dialler refuses a path whose quotes add up to more
// than its limit. Money moves hop by hop: the dialler pays its first relay
// the whole path's rate, each relay pays the next the rate of the rest of
// the path, so each keeps its own price. Every node meters the bytes it
// relays per neighbour; once a neighbour owes Config.Chunk it is asked to
// pay (wire.PaymentRequest), and pays what its own metering says it owes
// (both sides count the same bytes: the records on the circuit stream)
// with a payment-channel update (wire.ChannelMessage). A neighbour that
// owes more than Config.CreditLimit is cut off: its circuits are closed
// and its requests refused until it pays.
//
// # Concurrency: off the data path
//
// An Engine runs one goroutine, its loop, which owns every account and
// channel. The data path only ever touches atomics:
//
//	relay splice ──Meter.Add──► per-neighbour atomic counters ─┐ nudge (non-blocking)
//	dialler's session ─────────►                               │ or tick
//	                                                           ▼
//	link readers ──HandleMessage──► bounded queue ──────────► loop ──► Link.Send
//	LinkUp/LinkDown, Channels... ──► (waits its turn) ───────►  │  channel calls, fsync
//	                                                            │
//	                  helper goroutines: Chain RPCs, Wallet ◄───┘ results come back as events
//
// Meter.Add does atomic adds only; when a neighbour's counter crosses the
// point where it must be asked to pay or cut off, Add nudges the loop with
// a non-blocking send. The loop folds the counters into the ledgers on
// every nudge, tick and event. A full queue drops the message (counted in
// Stats.Dropped) rather than block a link's reader. Chain calls (height,
// confirmations, broadcasts) and Wallet.Fund run on helper goroutines and
// report back to the loop; the loop uses the last height it learned, so a
// slow or hung Bitcoin node delays only confirmations, never relaying or
// another neighbour's payments. Channel states are saved (fsynced, with
// Config.Dir) on the loop, under no lock that the data path takes.
//
// The chain height a channel sees is the one learned on the last tick
// (every Config.PollInterval), so it can lag the chain by that much; the
// acceptor of a channel allows its opener's height to differ by
// channel.Config.MaxHeightSkew blocks. Until the first height is known no
// channel message is processed (they wait, up to a bound) and nothing is
// paid.
package billing
