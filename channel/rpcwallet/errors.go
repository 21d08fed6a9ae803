package rpcwallet

import "errors"

var (
	// ErrConfig is an invalid Config or argument.
	ErrConfig = errors.New("rpcwallet: invalid config")
	// ErrInsufficientFunds means the spendable coins do not cover an
	// amount and its fee.
	ErrInsufficientFunds = errors.New("rpcwallet: insufficient funds")
)
