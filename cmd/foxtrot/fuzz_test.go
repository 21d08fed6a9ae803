package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzAdminRequest: any bytes decode to a request or errBadAdminRequest,
// and the server answers them with JSON, never a panic.
func FuzzAdminRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"status"}`, `{"cmd":"connect","arg":"/ip4/127.0.0.1/tcp/1"}`, `{"cmd":"disconnect","arg":"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH","token":"x"}`,
		`{"cmd":"status"}{"cmd":"peers"}`, `{"cmd":"nope"}`, `[]`, `{"cmd":1}`, `{"cmd":"status","extra":1}`, "", "\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := decodeAdminRequest(b)
		if err != nil {
			require.ErrorIs(t, err, errBadAdminRequest)
			return
		}
		require.True(t, adminCommands[req.Cmd])
	})
}

// FuzzSOCKSRequest: the greeting and request decoders take any bytes
// without panicking, read only what they parse, and return either a
// request with a valid host or an errBadSOCKS.
func FuzzSOCKSRequest(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0, 80})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22})
	f.Add([]byte{5, 2, 1, 2})
	f.Add([]byte{5, 1, 0, 5, 2, 0, 1, 1, 2, 3, 4, 0, 1})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 9})
	f.Add([]byte{4, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		ok, err := readGreeting(r)
		if err != nil {
			require.ErrorIs(t, err, errBadSOCKS)
			return
		}
		if !ok {
			return
		}
		req, err := readRequest(r)
		if err != nil {
			require.ErrorIs(t, err, errBadSOCKS)
			var re *errSOCKSReply
			if errors.As(err, &re) {
				require.NotEqual(t, byte(repSucceeded), re.code)
			}
			return
		}
		require.Equal(t, byte(cmdConnect), req.cmd)
		require.True(t, validHost(req.host), "host %q", req.host)
	})
}

// FuzzExitHeader: any bytes decode to a header (version 1 or 2) that
// re-encodes to the bytes read, or to errBadExitHeader.
func FuzzExitHeader(f *testing.F) {
	for _, h := range []exitHeader{{host: "example.com", port: 443}, {host: "127.0.0.1", port: 80}, {host: "::1", port: 22},
		{host: "a"}, {host: "example.com", port: 443, paid: true, maxPrice: 50}, {host: "a", paid: true, maxPrice: 1 << 31}} {
		b, err := appendExitHeader(nil, h)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{1, 0, 0, 80})
	f.Add([]byte{2, 1, 'a', 0, 80})
	f.Add([]byte{3, 1, 'a', 0, 80})
	f.Add([]byte{1, 3, 'a', ' ', 'b', 0, 80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := readExitHeader(r)
		if err != nil {
			require.ErrorIs(t, err, errBadExitHeader)
			return
		}
		again, err := appendExitHeader(nil, h)
		require.NoError(t, err)
		require.Equal(t, b[:len(b)-r.Len()], again)
	})
}
