package main

import (
	"errors"
	"flag"
)

var (
	// errUsage means the flags were wrong; the flag package already said how.
	errUsage = errors.New("foxtrot: usage")
	// errBadStealthFile means a stealth key file is not in the format
	// keys.go describes.
	errBadStealthFile = errors.New("foxtrot: bad stealth key file")
	// errBadConfig means the config file or a flag has a bad value.
	errBadConfig = errors.New("foxtrot: bad config")
	// errBadAdminRequest means an admin request is not one JSON object
	// naming a known command.
	errBadAdminRequest = errors.New("foxtrot: bad admin request")
	// errAdminToken means a TCP admin request had the wrong token.
	errAdminToken = errors.New("foxtrot: wrong admin token")
	// errBadSOCKS means a SOCKS client sent something RFC 1928 does not allow.
	errBadSOCKS = errors.New("foxtrot: bad SOCKS request")
	// errBadExitHeader means an exit connection's header is malformed.
	errBadExitHeader = errors.New("foxtrot: bad exit header")
	// errExitRefused means the exit refused a target, with a SOCKS reply code.
	errExitRefused = errors.New("foxtrot: exit refused the target")
)

// usageErr is what a subcommand returns when its flags did not parse:
// flag.ErrHelp for -h (exit 0), errUsage otherwise (exit 1).
func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}
