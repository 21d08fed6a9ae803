package transport

import (
	"fmt"
	"strconv"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/foxtrotnet/foxtrot/addr"
)

// Multiaddr protocol codes, from the multicodec private-use range.
const (
	// P_FOXTROT is /foxtrot/<address or 66-hex public key>.
	P_FOXTROT = 0x3f0001
	// P_MEM is /mem/<uint64>, the in-process transport.
	P_MEM = 0x3f0002
)

// AddrVersion is the version byte of a foxtrot address's Base58Check
// encoding: 0x00, as a Bitcoin mainnet P2PKH address, so addresses read like
// one and a wallet can produce them.
const AddrVersion = addr.Version

func init() {
	for _, p := range []ma.Protocol{
		{
			Name:       "foxtrot",
			Code:       P_FOXTROT,
			VCode:      ma.CodeToVarint(P_FOXTROT),
			Size:       ma.LengthPrefixedVarSize,
			Transcoder: ma.NewTranscoderFromFunctions(identStB, identBtS, identValid),
		},
		{
			Name:       "mem",
			Code:       P_MEM,
			VCode:      ma.CodeToVarint(P_MEM),
			Size:       ma.LengthPrefixedVarSize,
			Transcoder: ma.NewTranscoderFromFunctions(memStB, memBtS, memValid),
		},
	} {
		if err := ma.AddProtocol(p); err != nil {
			panic(err) // a code or name clash is a programming error
		}
	}
}

func identStB(s string) ([]byte, error) {
	if err := ValidateIdentity(s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func identBtS(b []byte) (string, error) {
	s := string(b)
	return s, ValidateIdentity(s)
}

func identValid(b []byte) error { return ValidateIdentity(string(b)) }

// ValidateIdentity checks that s is a foxtrot address (Base58Check, version
// AddrVersion, 20-byte payload) or the 66 hex characters of a compressed
// public key on the curve: whatever addr.ParseNodeID accepts. Errors wrap
// ErrBadIdentity and addr's error saying what is wrong.
func ValidateIdentity(s string) error {
	if _, _, err := addr.ParseNodeID(s); err != nil {
		return fmt.Errorf("%w: %w", ErrBadIdentity, err)
	}
	return nil
}

func memStB(s string) ([]byte, error) {
	if _, err := strconv.ParseUint(s, 10, 64); err != nil {
		return nil, fmt.Errorf("transport: bad /mem value %q", s)
	}
	return []byte(s), nil
}

func memBtS(b []byte) (string, error) {
	_, err := memStB(string(b))
	return string(b), err
}

func memValid(b []byte) error { _, err := memStB(string(b)); return err }

// SplitIdentity splits a trailing /foxtrot/<id> off addr. It returns the
// transport part, the id ("" when there is none).
func SplitIdentity(addr ma.Multiaddr) (ma.Multiaddr, string) {
	rest, last := ma.SplitLast(addr)
	if last == nil || last.Code() != P_FOXTROT {
		return addr, ""
	}
	return rest, last.Value()
}

// WithIdentity appends /foxtrot/<id> to addr.
func WithIdentity(addr ma.Multiaddr, id string) (ma.Multiaddr, error) {
	c, err := ma.NewComponent("foxtrot", id)
	if err != nil {
		return nil, err
	}
	return addr.Encapsulate(c), nil
}

// IsPublicKeyHex reports whether a valid id is the 66-hex public key form
// (an address is at most 35 characters).
func IsPublicKeyHex(id string) bool { return len(id) == 66 }
