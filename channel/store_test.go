package channel_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/foxtrotnet/foxtrot/channel"
	"github.com/stretchr/testify/require"
)

func TestChannelSurvivesRestartWithoutLosingMoney(t *testing.T) {
	w := newWorld(t)
	storeA, err := channel.NewFileStore(t.TempDir())
	require.NoError(t, err)
	storeB, err := channel.NewFileStore(t.TempDir())
	require.NoError(t, err)
	cfgA, cfgB := w.cfg(), w.cfg()
	cfgA.Store, cfgB.Store = storeA, storeB
	a, b := w.open(cfgA, cfgB, w.contribution("a", 1_000_000), w.contribution("b", 500_000))
	_, hash := preimageOf("kept")
	for range 20 {
		update(t, a, b, channel.Pay{Amount: 1_000})
	}
	update(t, b, a, channel.AddHTLC{Amount: 7_000, Hash: hash, Expiry: b.MinHTLCExpiry()})

	// A proposes; B countersigns; both crash before A hears the ack.
	_, msg, err := a.Propose(channel.Pay{Amount: 2_500})
	require.NoError(t, err)
	res, err := b.Receive(msg)
	require.NoError(t, err)
	ack := res.Reply
	wantState, err := b.NewestState()
	require.NoError(t, err)
	id := a.ID()
	a, b = nil, nil

	ids, err := storeA.List()
	require.NoError(t, err)
	require.Equal(t, []channel.ID{id}, ids)
	a, err = channel.Load(cfgA, key("channel a"), id)
	require.NoError(t, err)
	b, err = channel.Load(cfgB, key("channel b"), id)
	require.NoError(t, err)

	// B restarted with the state it acknowledged; A with its proposal
	// pending, which it can resend.
	require.EqualValues(t, 22, b.Version())
	got, err := b.NewestState()
	require.NoError(t, err)
	require.Equal(t, wantState.WitnessHash(), got.WitnessHash())
	require.EqualValues(t, 21, a.Version())
	require.Equal(t, msg, a.PendingMessage())
	_, err = a.Receive(ack)
	require.NoError(t, err)
	require.EqualValues(t, 22, a.Version())
	la, lb := a.Balance()
	require.Equal(t, btcutil.Amount(1_000_000-20_000-2_500), la)
	require.Equal(t, btcutil.Amount(500_000+20_000+2_500-7_000), lb)
	require.Len(t, a.HTLCs(), 1)

	// And the channel carries on.
	update(t, b, a, channel.Pay{Amount: 1})
	s, err := a.NewestState()
	require.NoError(t, err)
	requireScriptValid(t, s, fundingPrevOut(a))

	// The wrong key cannot resume it.
	_, err = channel.Load(cfgA, key("channel b"), id)
	require.ErrorIs(t, err, channel.ErrConfig)
}

func TestFileStoreKeepsTheLastWholeSnapshotAcrossACrash(t *testing.T) {
	dir := t.TempDir()
	s, err := channel.NewFileStore(dir)
	require.NoError(t, err)
	id := channel.ID{1, 2, 3}
	require.NoError(t, s.Save(id, []byte("version one")))
	require.NoError(t, s.Save(id, []byte("version two")))

	// A save that crashed before its rename leaves a temporary file.
	torn := filepath.Join(dir, id.String()+"-123.tmp")
	require.NoError(t, os.WriteFile(torn, []byte("half a snap"), 0o600))

	s2, err := channel.NewFileStore(dir)
	require.NoError(t, err)
	got, err := s2.Load(id)
	require.NoError(t, err)
	require.Equal(t, []byte("version two"), got)
	ids, err := s2.List()
	require.NoError(t, err)
	require.Equal(t, []channel.ID{id}, ids)
	_, err = os.Stat(torn)
	require.True(t, os.IsNotExist(err), "List cleans up torn saves")

	// A flipped bit is detected, not loaded.
	path := filepath.Join(dir, id.String()+".chan")
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	raw[3] ^= 1
	require.NoError(t, os.WriteFile(path, raw, 0o600))
	_, err = s2.Load(id)
	require.ErrorIs(t, err, channel.ErrCorrupt)

	require.NoError(t, s2.Delete(id))
	_, err = s2.Load(id)
	require.ErrorIs(t, err, channel.ErrNotFound)
}

// failingStore fails every Save after the first `ok`.
type failingStore struct {
	channel.Store
	ok int
}

var errDiskFull = errors.New("disk full")

func (f *failingStore) Save(id channel.ID, b []byte) error {
	if f.ok == 0 {
		return errDiskFull
	}
	f.ok--
	return f.Store.Save(id, b)
}

func TestFailedSaveUndoesTheChangeAndSendsNothing(t *testing.T) {
	w := newWorld(t)
	sa, err := channel.NewFileStore(t.TempDir())
	require.NoError(t, err)
	sb, err := channel.NewFileStore(t.TempDir())
	require.NoError(t, err)
	fa, fb := &failingStore{Store: sa, ok: 1 << 30}, &failingStore{Store: sb, ok: 1 << 30}
	cfgA, cfgB := w.cfg(), w.cfg()
	cfgA.Store, cfgB.Store = fa, fb
	a, b := w.open(cfgA, cfgB, w.contribution("a", 1_000_000), w.contribution("b", 0))

	fa.ok = 0
	_, _, err = a.Propose(channel.Pay{Amount: 1000})
	require.ErrorIs(t, err, errDiskFull)
	require.Nil(t, a.PendingMessage(), "nothing pending, nothing to send")

	fa.ok = 1 << 30
	_, msg, err := a.Propose(channel.Pay{Amount: 1000})
	require.NoError(t, err)
	fb.ok = 0
	res, err := b.Receive(msg)
	require.ErrorIs(t, err, errDiskFull)
	require.Nil(t, res.Reply, "no acknowledgement without a durable state")
	require.EqualValues(t, 0, b.Version())

	fb.ok = 1 << 30
	deliver(t, b, a, msg)
	require.EqualValues(t, 1, a.Version())
	require.EqualValues(t, 1, b.Version())
}
