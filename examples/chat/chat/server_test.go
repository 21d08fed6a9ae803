package chat

import (
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The demo, as a story: three people join one after another, talk, one
// leaves; everyone sees the joins and the leave in the order they
// happened, and nobody is sent their own words back.
func TestThreeClientsChatAndSeeJoinsAndLeavesInOrder(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)

		alice := join(t, dial(t, 0), "alice")
		alice.expect(t, "*** welcome alice; nobody else is here")
		bob := join(t, dial(t, 1), "bob")
		bob.expect(t, "*** welcome bob; here: alice")
		alice.expect(t, "*** bob joined")
		carol := join(t, dial(t, 2), "carol")
		carol.expect(t, "*** welcome carol; here: alice, bob")
		alice.expect(t, "*** carol joined")
		bob.expect(t, "*** carol joined")

		alice.say(t, "hello, everyone")
		bob.expect(t, "alice: hello, everyone")
		carol.expect(t, "alice: hello, everyone")
		bob.say(t, "hi alice ☺")
		alice.expect(t, "bob: hi alice ☺")
		carol.expect(t, "bob: hi alice ☺")

		require.NoError(t, bob.quit(t), "bob leaves by ending his input")
		alice.expect(t, "*** bob left")
		carol.expect(t, "*** bob left")
		carol.say(t, "bye bob")
		alice.expect(t, "carol: bye bob")
		require.Empty(t, bob.lines, "bob saw nothing more after leaving")
	})
}

// Lines said at once by several people, and a join and a leave in the
// middle of them, reach every listener in one and the same order.
func TestEveryoneSeesTheSameOrder(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		var users []*user
		for i, name := range []string{"carol", "dave", "alice", "bob"} {
			u := join(t, dial(t, i), name)
			u.next(t) // welcome
			for _, v := range users {
				v.expect(t, "*** "+name+" joined")
			}
			users = append(users, u)
		}
		carol, dave, alice, bob := users[0], users[1], users[2], users[3]

		const n = 50
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, u := range []*user{alice, bob} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if _, err := fmt.Fprintf(u.in, "line %d\n", i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		erin := join(t, dial(t, 4), "erin")
		erin.next(t) // welcome
		require.NoError(t, erin.quit(t))
		wg.Wait()
		close(errs)
		require.NoError(t, <-errs)

		seen := func(u *user, count int) []string {
			var got []string
			for range count {
				got = append(got, u.next(t))
			}
			return got
		}
		all := 2*n + 2 // both talkers' lines, erin's join and leave
		carolSaw, daveSaw := seen(carol, all), seen(dave, all)
		require.Equal(t, carolSaw, daveSaw, "carol and dave saw the same order")
		require.Less(t, indexOf(carolSaw, "*** erin joined"), indexOf(carolSaw, "*** erin left"))
		for _, name := range []string{"alice", "bob"} {
			var mine []string
			for _, line := range carolSaw {
				if strings.HasPrefix(line, name+": ") {
					mine = append(mine, line)
				}
			}
			require.Len(t, mine, n)
			for i, line := range mine {
				require.Equal(t, fmt.Sprintf("%s: line %d", name, i), line, "each person's lines in the order said")
			}
		}
		without := func(name string) []string {
			var out []string
			for _, line := range carolSaw {
				if !strings.HasPrefix(line, name+": ") {
					out = append(out, line)
				}
			}
			return out
		}
		require.Equal(t, without("alice"), seen(alice, all-n), "alice saw the same order, less her own lines")
		require.Equal(t, without("bob"), seen(bob, all-n), "bob too")
	})
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}

// A name the protocol does not allow is answered with the reason, and the
// connection closed; the room does not hear of it.
func TestBadNamesAreRefusedWithTheReason(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		alice := join(t, dial(t, 0), "alice")
		alice.expect(t, "*** welcome alice; nobody else is here")

		for i, tc := range []struct{ name, reason string }{
			{"", "bad name: empty"},
			{"mallory: hi", "bad name: contains ':'"},
			{"*** bob", "bad name: starts with '*'"},
			{" bob", "bad name: starts or ends with a space"},
			{"bob\t", "bad name: contains the non-printing character U+0009"},
			{"\x1b[31mred", "bad name: contains the non-printing character U+001B"},
			{"rtl\u202eevil", "bad name: contains the non-printing character U+202E"},
			{"two\u2028lines", "bad name: contains the non-printing character U+2028"},
			{"\xffbob", "bad name: not valid UTF-8"},
			{repeat("é", MaxName+1), "bad name: longer than 32 characters"},
			{repeat("x", MaxLine+1), "bad name: " + tooLong},
			{"alice", "the name alice is taken"},
		} {
			r := dialRaw(dial(t, i+1))
			r.send(t, tc.name+"\n")
			r.expect(t, "*** refused: "+tc.reason)
			r.expectEnd(t)
		}
		r := dialRaw(dial(t, 0))
		r.send(t, repeat("é", MaxName)+"\r\n")
		r.expect(t, "*** welcome "+repeat("é", MaxName)+"; here: alice")
		alice.expect(t, "*** "+repeat("é", MaxName)+" joined")
	})
}

// A message longer than MaxLine, or with control characters, is not
// relayed; its sender is told so and stays in the room.
func TestOverlongAndControlLinesAreNotSentAndTheSenderStays(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{}, l)
		bob := join(t, dial(t, 0), "bob")
		bob.next(t)
		alice := dialRaw(dial(t, 1))
		alice.send(t, "alice\n")
		alice.expect(t, "*** welcome alice; here: bob")
		bob.expect(t, "*** alice joined")

		alice.send(t, repeat("x", MaxLine+1)+"\n")
		alice.expect(t, "*** not sent: line too long (more than 4096 bytes)")
		alice.send(t, repeat("y", 1<<20)+"\r\n") // far over: skipped, not buffered
		alice.expect(t, "*** not sent: line too long (more than 4096 bytes)")
		alice.send(t, "clear\x1b[2J\n")
		alice.expect(t, "*** not sent: contains the control character U+001B")
		alice.send(t, "\xc3\x28\n")
		alice.expect(t, "*** not sent: not valid UTF-8")
		alice.send(t, repeat("z", MaxLine)+"\r\n") // the longest allowed, with \r\n
		alice.send(t, "\n\ntab\tis fine\n")        // empty lines are ignored
		bob.expect(t, "alice: "+repeat("z", MaxLine), "alice: tab\tis fine")
	})
}

// A client that never reads is dropped when its queue overflows; the
// others get every line meanwhile, without waiting for it, and are told.
func TestStalledClientIsDroppedWithoutDelayingTheOthers(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		serve(t, &Server{Rate: math.Inf(1)}, l) // alice may flood
		alice := join(t, dial(t, 0), "alice")
		alice.next(t)
		stalled := dialRaw(dial(t, 1))
		stalled.send(t, "stalled\n") // and never reads
		alice.expect(t, "*** stalled joined")
		bob := join(t, dial(t, 2), "bob")
		bob.next(t)
		alice.expect(t, "*** bob joined")

		// Alice talks in batches; each batch must reach bob within a few
		// seconds, however full the stalled client's buffers are, until
		// the server gives up on it. With the transports' buffers (a few
		// MiB for TCP and foxtrot) that takes some thousand lines.
		const batch, limit = 64, 1 << 14
		pad := repeat(".", 3000)
		dropped := false
		start := time.Now()
		var sent int
		for sent = 0; !dropped && sent < limit; {
			for range batch {
				alice.say(t, fmt.Sprintf("%d %s", sent, pad))
				sent++
			}
			deadline := time.After(5 * time.Second)
			for got := 0; got < batch; {
				select {
				case line := <-bob.lines:
					if line == "*** stalled dropped (not reading)" {
						dropped = true
						continue
					}
					require.Equal(t, fmt.Sprintf("alice: %d %s", sent-batch+got, pad), line)
					got++
				case <-deadline:
					t.Fatalf("bob waited more than 5s for a batch (at line %d)", sent)
				}
			}
		}
		require.True(t, dropped, "the stalled client was dropped after %d lines", sent)
		t.Logf("dropped after %d lines of 3 KB, %v", sent, time.Since(start).Round(time.Millisecond))
		alice.expect(t, "*** stalled dropped (not reading)")
		stalled.expectEnd(t)
	})
}

// Someone pasting a flood is slowed down to the server's rate; the
// others keep up with it and none of them is dropped.
func TestAFloodIsSlowedDownInsteadOfDroppingTheOthers(t *testing.T) {
	eachCarrier(t, func(t *testing.T, l net.Listener, dial func(*testing.T, int) net.Conn) {
		const rate, burst, lines = 200, 20, 220
		serve(t, &Server{QueueLen: 64, Rate: rate, Burst: burst}, l)
		bob := join(t, dial(t, 0), "bob")
		bob.next(t)
		carol := join(t, dial(t, 1), "carol")
		carol.next(t)
		bob.expect(t, "*** carol joined")
		alice := join(t, dial(t, 2), "alice")
		alice.next(t)
		bob.expect(t, "*** alice joined")
		carol.expect(t, "*** alice joined")

		start := time.Now()
		flood := make(chan error, 1)
		go func() {
			var err error
			for i := 0; i < lines && err == nil; i++ {
				_, err = fmt.Fprintf(alice.in, "%d %s\n", i, repeat("~", MaxLine-8))
			}
			flood <- err
		}()
		for i := range lines {
			want := fmt.Sprintf("alice: %d %s", i, repeat("~", MaxLine-8))
			bob.expect(t, want)
			carol.expect(t, want)
		}
		require.NoError(t, <-flood)
		took := time.Since(start)
		require.GreaterOrEqual(t, took, (lines-burst)*time.Second/rate*9/10, "the flood was slowed to the rate")
		t.Logf("%d lines of 4 KiB in %v", lines, took.Round(time.Millisecond))
		require.Empty(t, alice.lines, "nobody was dropped")
	})
}
