package channel_test

import (
	"testing"

	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	w := newWorld(t)
	a, b := w.pair("a", "b")
	update(t, a, b, channel.Pay{Amount: 1000})
	update(t, b, a, channel.Pay{Amount: 500})
	la, ra := a.Balance()
	t.Log(la, ra, a.Reserve(), a.Version())
	tx, err := a.NewestState()
	require.NoError(t, err)
	requireScriptValid(t, tx, fundingPrevOut(a))
}
