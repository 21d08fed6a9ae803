package route

import (
	"errors"
	"fmt"

	"github.com/foxtrotnet/foxtrot/session"
)

// Errors of the route package. Dial failures wrap one of ErrNoRoute,
// ErrRefused, or the context's error (context.DeadlineExceeded when the
// dial timed out, context.Canceled when it was cancelled).
var (
	// ErrNoRoute means there is no peer to send a connect request to.
	ErrNoRoute = errors.New("route: no route")
	// ErrRefused means the target was reached and refused (no listener on
	// the key any more, or its accept queue is full).
	ErrRefused = errors.New("route: connection refused")
	// ErrAddrInUse means a key is already listened on.
	ErrAddrInUse = errors.New("route: key already listened on")
	// ErrBadRequest means a connect request failed its checks.
	ErrBadRequest = errors.New("route: bad connect request")
	// ErrBadConfig means a Config value is out of range (a negative
	// duration, size or rate: zero means the default, below zero is a
	// mistake).
	ErrBadConfig = errors.New("route: bad config")
	// ErrBadAck means an ack or refusal failed its checks.
	ErrBadAck = errors.New("route: bad connect ack")
	// The connection errors are package session's: these are the same
	// values, so errors.Is works with either name.

	// ErrTampered means a record failed authentication: something on the
	// path altered, dropped or reordered data. The connection is over.
	ErrTampered = session.ErrTampered
	// ErrProtocol means the other end broke the end-to-end protocol.
	ErrProtocol = session.ErrProtocol
	// ErrPathBroken means the path under a connection failed.
	ErrPathBroken = session.ErrPathBroken
	// ErrReset means the other end closed the connection, so a write (or a
	// read that expected more) cannot succeed.
	ErrReset = session.ErrReset
	// ErrStalled is the cause recorded when a path went silent.
	ErrStalled = session.ErrStalled
	// ErrClosed wraps net.ErrClosed: the router, listener or connection is
	// closed.
	ErrClosed = session.ErrClosed
	// ErrTooExpensive means every path found costs more than the dial's
	// price limit (Billing.MaxPrice).
	ErrTooExpensive = errors.New("route: every path costs more than the price limit")
	// ErrBillingOff means a channel operation on a node without Billing.
	ErrBillingOff = errors.New("route: billing is off")
	// ErrBadMessage means a control message of the router's own
	// protocols (CircuitGone) did not parse.
	ErrBadMessage = errors.New("route: bad message")
	// ErrBadAdvert means an advert's body is malformed.
	ErrBadAdvert = errors.New("route: bad advert")
)

// Resumption ticket errors (see SPEC.md, "Resumption tickets"). A dial
// that meets any of them falls back to the full handshake; they all wrap
// ErrTicket.
var (
	// ErrTicket is what every ticket refusal wraps.
	ErrTicket = errors.New("route: resumption ticket refused")
	// ErrTicketUnknown means a ticket was not sealed by a key the target
	// still holds (forged, corrupted, or the target restarted or rotated
	// the key out).
	ErrTicketUnknown = fmt.Errorf("%w: unknown ticket", ErrTicket)
	// ErrTicketExpired means the ticket's lifetime is over.
	ErrTicketExpired = fmt.Errorf("%w: ticket expired", ErrTicket)
	// ErrTicketUsed means the ticket was presented before: tickets are
	// single use, so a replayed request gets nothing.
	ErrTicketUsed = fmt.Errorf("%w: ticket already used", ErrTicket)
	// ErrTicketWrongTarget means the ticket was issued for another address.
	ErrTicketWrongTarget = fmt.Errorf("%w: ticket is for another address", ErrTicket)
	// ErrTicketBusy means the target remembers as many used, unexpired
	// tickets as it may: it takes no more until some expire.
	ErrTicketBusy = fmt.Errorf("%w: too many tickets in use", ErrTicket)
)
