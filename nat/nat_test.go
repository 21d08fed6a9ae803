package nat_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot/addr"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/nat"
)

func id(b byte) addr.NodeID { return addr.NodeID{b} }

func TestCandidatesNeedPeersThatAgree(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := nat.NewTable(nat.TableConfig{Now: func() time.Time { return now }})
	pub := netip.MustParseAddrPort("198.51.100.1:20000")
	tb.Add(id(1), pub)
	require.Empty(t, tb.Candidates(), "one peer alone is not believed")
	tb.Add(id(1), pub) // the same peer again counts once
	require.Empty(t, tb.Candidates())
	tb.Add(id(2), pub)
	require.Equal(t, []netip.AddrPort{pub}, tb.Candidates())
	require.False(t, tb.Varies())

	// A liar names another address: it is no candidate.
	tb.Add(id(3), netip.MustParseAddrPort("192.0.2.66:1"))
	require.Equal(t, []netip.AddrPort{pub}, tb.Candidates())

	// Reports expire.
	now = now.Add(31 * time.Minute)
	require.Empty(t, tb.Candidates())
	require.Zero(t, tb.Reports())
}

func TestVariesMeansOnePortPerDestination(t *testing.T) {
	tb := nat.NewTable(nat.TableConfig{})
	tb.Add(id(1), netip.MustParseAddrPort("198.51.100.1:20000"))
	tb.Add(id(2), netip.MustParseAddrPort("198.51.100.1:20001"))
	require.True(t, tb.Varies())
	require.Empty(t, tb.Candidates())
	require.Len(t, tb.Reported(), 2)
}

func TestTableIsBoundedAndIgnoresUnusableAddresses(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := nat.NewTable(nat.TableConfig{MaxReporters: 3, Now: func() time.Time { return now }})
	tb.Add(id(9), netip.MustParseAddrPort("0.0.0.0:1"))
	tb.Add(id(9), netip.MustParseAddrPort("198.51.100.1:0"))
	tb.Add(id(9), netip.MustParseAddrPort("224.0.0.1:5"))
	require.Zero(t, tb.Reports())
	for i := range byte(10) {
		now = now.Add(time.Second)
		tb.Add(id(i), netip.MustParseAddrPort("198.51.100.1:20000"))
	}
	require.Equal(t, 3, tb.Reports())
}

func TestMessagesRoundTrip(t *testing.T) {
	o := &nat.Observed{Addr: netip.MustParseAddrPort("[2001:db8::1]:443")}
	m, err := nat.DecodeObserved(o.AppendBody(nil))
	require.NoError(t, err)
	require.Equal(t, o, m)

	p := &nat.Punch{Kind: nat.KindOffer, ID: addr.ConnID{1, 2}, Path: 7, Key: [33]byte{2, 9},
		Candidates: []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:20000"), netip.MustParseAddrPort("[2001:db8::2]:9")}}
	m, err = nat.DecodePunch(p.AppendBody(nil))
	require.NoError(t, err)
	require.Equal(t, p, m)
}

func TestDecodersRefuseMalformedBodies(t *testing.T) {
	good := (&nat.Punch{Kind: nat.KindAnswer, Key: [33]byte{3}}).AppendBody(nil)
	for name, b := range map[string][]byte{
		"empty":          nil,
		"short":          good[:20],
		"bad kind":       append([]byte{9}, good[1:]...),
		"bad key":        append(append(bytes.Clone(good[:25]), 5), good[26:]...),
		"too many":       append(bytes.Clone(good[:58]), nat.MaxCandidates+1),
		"missing addr":   append(bytes.Clone(good[:58]), 1),
		"trailing bytes": append(bytes.Clone(good), 0),
	} {
		_, err := nat.DecodePunch(b)
		require.ErrorIs(t, err, nat.ErrBadMessage, name)
	}
	for name, b := range map[string][]byte{
		"empty":    nil,
		"family":   {5, 1, 2, 3, 4, 0, 1},
		"short":    {4, 1, 2, 3},
		"trailing": {4, 1, 2, 3, 4, 0, 1, 0},
		"4in6":     append(append([]byte{6}, netip.MustParseAddr("::ffff:1.2.3.4").AsSlice()...), 0, 1),
	} {
		_, err := nat.DecodeObserved(b)
		require.ErrorIs(t, err, nat.ErrBadMessage, name)
	}
}

// FuzzDecode: any body either fails with ErrBadMessage or decodes to a
// message that encodes back to the same bytes.
func FuzzDecode(f *testing.F) {
	f.Add(byte(nat.TypeObserved), (&nat.Observed{Addr: netip.MustParseAddrPort("198.51.100.1:20000")}).AppendBody(nil))
	f.Add(byte(nat.TypePunch), (&nat.Punch{Kind: nat.KindOffer, Key: [33]byte{2},
		Candidates: []netip.AddrPort{netip.MustParseAddrPort("198.51.100.1:20000")}}).AppendBody(nil))
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		decode := nat.DecodeObserved
		if typ&1 == 1 {
			decode = nat.DecodePunch
		}
		m, err := decode(body)
		if err != nil {
			require.ErrorIs(t, err, nat.ErrBadMessage)
			return
		}
		var mm wire.Message = m
		require.Equal(t, body, mm.AppendBody(nil))
	})
}
