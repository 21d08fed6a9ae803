package foxtrot_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/foxtrotnet/foxtrot"
	"github.com/foxtrotnet/foxtrot/foxtrottest"
	"github.com/foxtrotnet/foxtrot/route"
)

// The dialler's own first link dying while the dialler lives is what a
// dialler's process exiting looks like to the relays (see GoneTimeout):
// the listener waits only GoneTimeout for a resume, which a live dialler
// makes well within it, losing nothing.
func TestTransferSurvivesTheDiallersFirstLinkBeingCut(t *testing.T) {
	fn := twoPaths(t, nil)
	var struck []int
	_, last := transfer(t, fn, 64<<20, nil, func(c *foxtrot.Conn) {
		struck = fn.Indices(c.Path())
		fn.Cut(alice, struck[0])
	})
	require.NotEqual(t, struck, last, "the connection moved")
	require.NotContains(t, last, struck[0], "off the cut link")
}

// A listener whose dialler's node vanished from a direct link (and cannot
// come back: the link stays cut, and there is no other) learns it within
// GoneTimeout, not FailoverTimeout plus the resume grace.
func TestAListenerLearnsSoonThatADirectDiallerVanished(t *testing.T) {
	const gone = time.Second
	fn := foxtrottest.New(t, 2, foxtrottest.Line, foxtrottest.Options{Logs: true,
		Config: func(_ int, c *foxtrot.Config) { c.GoneTimeout = gone; c.StallTimeout = time.Minute }})
	key, err := foxtrot.GenerateKey()
	require.NoError(t, err)
	l, err := fn.Nodes[1].Listen(key)
	require.NoError(t, err)
	defer l.Close()
	c := foxtrottest.Dial(t, fn.Nodes[0], l.Addr())
	defer c.Close()
	_, err = c.Write([]byte("hi"))
	require.NoError(t, err)
	s, err := l.Accept()
	require.NoError(t, err)
	defer s.Close()
	_, err = io.ReadFull(s, make([]byte, 2))
	require.NoError(t, err)

	start := time.Now()
	fn.Cut(0, 1)
	_, err = s.Read(make([]byte, 1))
	took := time.Since(start)
	t.Logf("the listener's Read failed %v after the link was cut: %v", took.Round(time.Millisecond), err)
	require.ErrorIs(t, err, route.ErrPathBroken)
	require.Less(t, took, gone+5*time.Second, "well under FailoverTimeout (20s) + 5s")
}
