package codec

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

var errBad = errors.New("bad")

func TestFieldsReadInOrder(t *testing.T) {
	r := NewReader([]byte{1, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 9, 9}, errBad)
	require.EqualValues(t, 1, r.U8())
	require.EqualValues(t, 2, r.U16())
	require.EqualValues(t, 3, r.U32())
	require.EqualValues(t, 4, r.U64())
	var two [2]byte
	r.Copy(two[:])
	require.Equal(t, [2]byte{9, 9}, two)
	require.NoError(t, r.Err())
	require.Zero(t, r.Len())
}

func TestTheFirstFailureSticks(t *testing.T) {
	r := NewReader([]byte{1, 2, 3}, errBad)
	require.Zero(t, r.U32(), "short")
	require.ErrorIs(t, r.Err(), errBad)
	require.Zero(t, r.U8(), "nothing after a failure, though a byte is left")
	r.Fail("another %d", 1)
	require.Contains(t, r.Err().Error(), "truncated")
	require.Nil(t, NewReader(nil, nil).Take(-1))
}
