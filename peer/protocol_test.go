package peer_test

// These tests use peer from outside, as the DHT or pub/sub will: a
// protocol of their own (a message type and a stream kind) registered
// with a Set, and nothing of peer's, wire's or route's dispatch edited.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/foxtrotnet/foxtrot/internal/codec"
	"github.com/foxtrotnet/foxtrot/internal/wire"
	"github.com/foxtrotnet/foxtrot/peer"
	"github.com/foxtrotnet/foxtrot/transport"
	"github.com/foxtrotnet/foxtrot/transport/mem"
)

// The stub protocol: "notes" on the control stream, and an echo stream
// that first sends back its header's meta, then every byte it reads.
const (
	typeNote   wire.Type = 0xc1 // optional: a peer without the protocol ignores notes
	streamEcho uint8     = 0x42
)

var errBadNote = errors.New("notes: bad note")

// note is the stub's message: a sequence number and some text.
type note struct {
	Seq  uint32
	Text string
}

func (*note) Type() wire.Type { return typeNote }

func (n *note) AppendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, n.Seq)
	b = append(b, byte(len(n.Text)))
	return append(b, n.Text...)
}

// decodeNote is strict: one encoding per note, nothing left over.
func decodeNote(body []byte) (wire.Message, error) {
	r := codec.NewReader(body, errBadNote)
	n := &note{Seq: r.U32()}
	n.Text = string(r.Take(int(r.U8())))
	if r.Err() == nil && r.Len() != 0 {
		r.Fail("%d trailing bytes", r.Len())
	}
	if r.Err() != nil {
		return nil, r.Err()
	}
	return n, nil
}

type received struct {
	from *peer.Link
	note *note
}

// notes is one node's instance of the stub protocol.
type notes struct {
	got   chan received
	ups   chan *peer.Link
	downs chan *peer.Link
}

func newNotes() *notes {
	return &notes{got: make(chan received, 16), ups: make(chan *peer.Link, 4), downs: make(chan *peer.Link, 4)}
}

func (n *notes) protocol() peer.Protocol {
	return peer.Protocol{
		Name: "notes",
		Messages: []peer.MessageType{{
			Type:   typeNote,
			Decode: decodeNote,
			Handle: func(l *peer.Link, m wire.Message) { n.got <- received{l, m.(*note)} },
		}},
		Streams: []peer.StreamKind{{
			Kind: streamEcho,
			Handle: func(l *peer.Link, s *peer.Stream, h wire.StreamHeader) {
				defer s.Close()
				if _, err := s.Write(h.Meta); err != nil {
					return
				}
				io.Copy(s, s)
			},
		}},
		LinkUp:   func(l *peer.Link) { n.ups <- l },
		LinkDown: func(l *peer.Link, err error) { n.downs <- l },
	}
}

// handler is a peer.Handler, as route's Router is: it takes what no
// protocol registered (built-in messages and circuit streams).
type handler struct {
	msgs    chan wire.Message
	streams chan *peer.Stream
}

func newHandler() *handler {
	return &handler{msgs: make(chan wire.Message, 16), streams: make(chan *peer.Stream, 16)}
}

func (h *handler) LinkUp(*peer.Link)                                              {}
func (h *handler) LinkDown(*peer.Link, error)                                     {}
func (h *handler) HandleMessage(_ *peer.Link, m wire.Message)                     { h.msgs <- m }
func (h *handler) HandleStream(_ *peer.Link, s *peer.Stream, _ wire.StreamHeader) { h.streams <- s }

func newSet(t *testing.T, tr transport.Transport, h peer.Handler) *peer.Set {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	require.NoError(t, err)
	cfg := peer.Config{Identity: key, Transports: transport.Set{tr}}
	if h != nil {
		cfg.Handler = h
	}
	s, err := peer.NewSet(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func listenOn(t *testing.T, s *peer.Set) ma.Multiaddr {
	t.Helper()
	full, err := s.Listen(ma.StringCast("/mem/0"))
	require.NoError(t, err)
	return full
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for one value, or fails the test after a generous bound
// (the event is expected; the bound only turns a hang into a failure).
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		panic("unreachable")
	}
}

// echoOver opens an echo stream on l and checks it: the meta comes back,
// then the data.
func echoOver(t *testing.T, l *peer.Link, meta, data []byte) {
	t.Helper()
	s, err := l.OpenStream(testCtx(t), wire.StreamHeader{Kind: streamEcho, Meta: meta})
	require.NoError(t, err)
	defer s.Close()
	go func() {
		s.Write(data)
		s.CloseWrite()
	}()
	got, err := io.ReadAll(s)
	require.NoError(t, err)
	require.Equal(t, append(append([]byte{}, meta...), data...), got)
}

func TestAStubProtocolPlugsInWithoutEditingPeer(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	ha, hb := newHandler(), newHandler()
	a, b := newSet(t, tr, ha), newSet(t, tr, hb)
	na, nb := newNotes(), newNotes()
	require.NoError(t, a.Register(na.protocol()))
	require.NoError(t, b.Register(nb.protocol()))

	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)
	require.Same(t, l, recv(t, nb.ups), "the protocol sees the link come up")
	la := recv(t, na.ups)
	require.Equal(t, b.Self(), la.ID())

	// Messages both ways, in order, to the protocol and not the Handler.
	for i := range 3 {
		require.NoError(t, l.Send(&note{Seq: uint32(i), Text: "hello"}))
	}
	for i := range 3 {
		r := recv(t, na.got)
		require.Same(t, la, r.from)
		require.Equal(t, &note{Seq: uint32(i), Text: "hello"}, r.note)
	}
	require.NoError(t, la.Send(&note{Seq: 9, Text: "back"}))
	require.Equal(t, &note{Seq: 9, Text: "back"}, recv(t, nb.got).note)

	// The Handler still gets the built-in messages and circuit streams.
	require.NoError(t, l.Send(&wire.ConnectRefuse{Reason: wire.RefuseBusy}))
	require.Equal(t, &wire.ConnectRefuse{Reason: wire.RefuseBusy}, recv(t, ha.msgs))
	cs, err := l.OpenStream(testCtx(t), wire.StreamHeader{Kind: wire.StreamCircuit, ID: [20]byte{7}, Path: 1})
	require.NoError(t, err)
	cs2 := recv(t, ha.streams)
	require.NoError(t, cs.Close())
	require.NoError(t, cs2.Close())

	// The protocol's own stream kind, with and without meta, both ways.
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	echoOver(t, l, []byte("some/topic"), data)
	echoOver(t, la, nil, []byte("short"))
	require.Zero(t, a.RefusedStreams()+b.RefusedStreams())
	require.Empty(t, ha.msgs, "nothing of the protocol reached the Handler")
	require.Empty(t, hb.msgs)

	require.NoError(t, l.Close())
	require.Same(t, l, recv(t, nb.downs), "and go down")
	require.Same(t, la, recv(t, na.downs))
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func TestAnUnknownStreamKindIsRefusedAndTheLinkStaysUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	ha := newHandler()
	a, b := newSet(t, tr, ha), newSet(t, tr, nil) // a knows no echo streams
	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)

	for _, meta := range [][]byte{nil, []byte("meta")} {
		s, err := l.OpenStream(testCtx(t), wire.StreamHeader{Kind: streamEcho, Meta: meta})
		require.NoError(t, err)
		n, err := s.Read(make([]byte, 1))
		require.Zero(t, n)
		require.ErrorIs(t, err, io.EOF, "the stream is closed before any byte")
		require.NoError(t, s.Close())
	}
	require.EqualValues(t, 2, a.RefusedStreams())
	require.NoError(t, l.Err(), "the link is up")

	// A circuit stream and control messages still work.
	cs, err := l.OpenStream(testCtx(t), wire.StreamHeader{Kind: wire.StreamCircuit, Path: 2})
	require.NoError(t, err)
	cs2 := recv(t, ha.streams)
	_, err = cs.Write([]byte("through"))
	require.NoError(t, err)
	buf := make([]byte, 7)
	_, err = io.ReadFull(cs2, buf)
	require.NoError(t, err)
	require.Equal(t, "through", string(buf))
	require.NoError(t, cs.Close())
	require.NoError(t, cs2.Close())
	require.NoError(t, l.Send(&wire.PaymentRequest{Owed: 5}))
	require.Equal(t, &wire.PaymentRequest{Owed: 5}, recv(t, ha.msgs))
	_, err = l.Ping(testCtx(t))
	require.NoError(t, err)

	// An optional message type a does not know is ignored; the next one
	// arrives.
	require.NoError(t, l.Send(&note{Seq: 1}))
	require.NoError(t, l.Send(&wire.PaymentRequest{Owed: 6}))
	require.Equal(t, &wire.PaymentRequest{Owed: 6}, recv(t, ha.msgs))
	require.NoError(t, l.Err())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// mandatory is a message type without the optional bit.
type mandatory struct{}

func (mandatory) Type() wire.Type            { return 0x41 }
func (mandatory) AppendBody(b []byte) []byte { return b }

func TestAnUnknownMandatoryMessageClosesTheLink(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a, b := newSet(t, tr, newHandler()), newSet(t, tr, nil)
	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)
	require.NoError(t, l.Send(mandatory{}))
	recv(t, l.Done()) // a dropped the link: b sees it go down
	require.Error(t, l.Err())
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

func TestAProtocolsDecoderErrorIsAProtocolViolation(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a, b := newSet(t, tr, nil), newSet(t, tr, nil)
	na := newNotes()
	require.NoError(t, a.Register(na.protocol()))
	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)
	la := recv(t, na.ups)
	require.NoError(t, l.Send(badNote{}))
	recv(t, la.Done())
	require.ErrorIs(t, la.Err(), wire.ErrMalformed)
	require.ErrorIs(t, la.Err(), errBadNote, "the decoder's own error is kept")
	require.Same(t, la, recv(t, na.downs))
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// badNote claims more text than it carries.
type badNote struct{}

func (badNote) Type() wire.Type            { return typeNote }
func (badNote) AppendBody(b []byte) []byte { return append(b, 0, 0, 0, 1, 200, 'x') }

func TestAProtocolRegisteredWhileALinkIsUpGetsItsTraffic(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a, b := newSet(t, tr, nil), newSet(t, tr, nil)
	nb := newNotes()
	require.NoError(t, b.Register(nb.protocol()))
	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)
	_, err = l.Ping(testCtx(t)) // a answers once it has registered the link
	require.NoError(t, err)
	la := a.Link(b.Self())
	require.NotNil(t, la)

	na := newNotes()
	require.NoError(t, a.Register(na.protocol()))
	require.NoError(t, l.Send(&note{Seq: 1, Text: "late"}))
	require.Equal(t, &note{Seq: 1, Text: "late"}, recv(t, na.got).note)
	echoOver(t, l, []byte("m"), []byte("late stream"))

	// Its observers saw no LinkUp for this link, so they get no LinkDown.
	require.NoError(t, l.Close())
	recv(t, nb.downs)
	recv(t, la.Done())
	require.NoError(t, a.Close())
	require.Empty(t, na.ups)
	require.Empty(t, na.downs)
	require.NoError(t, b.Close())
}

func TestRegistrationRefusesTakenCodesAndMissingParts(t *testing.T) {
	tr := mem.NewNetwork(mem.Options{}).Transport()
	withHandler, bare := newSet(t, tr, newHandler()), newSet(t, tr, nil)
	require.NoError(t, withHandler.Register(newNotes().protocol()))

	err := withHandler.Register(newNotes().protocol())
	require.ErrorIs(t, err, peer.ErrTaken, "a second protocol with the same codes")
	require.Contains(t, err.Error(), "notes")

	dec := func([]byte) (wire.Message, error) { return nil, errBadNote }
	handle := func(*peer.Link, wire.Message) {}
	serve := func(*peer.Link, *peer.Stream, wire.StreamHeader) {}
	msg := func(t wire.Type) peer.Protocol {
		return peer.Protocol{Name: "x", Messages: []peer.MessageType{{Type: t, Decode: dec, Handle: handle}}}
	}
	kind := func(k uint8) peer.Protocol {
		return peer.Protocol{Name: "x", Streams: []peer.StreamKind{{Kind: k, Handle: serve}}}
	}
	for _, s := range []*peer.Set{withHandler, bare} {
		require.ErrorIs(t, s.Register(msg(wire.TypePing)), peer.ErrTaken, "pings are the link's")
		require.ErrorIs(t, s.Register(msg(wire.TypePong)), peer.ErrTaken)
	}
	require.ErrorIs(t, withHandler.Register(msg(wire.TypeConnectRequest)), peer.ErrTaken, "the Handler's")
	require.ErrorIs(t, withHandler.Register(kind(wire.StreamCircuit)), peer.ErrTaken, "the Handler's")
	require.NoError(t, bare.Register(msg(wire.TypeConnectRequest)), "no Handler: a protocol may take them")
	require.NoError(t, bare.Register(kind(wire.StreamCircuit)))

	// A failed registration registers nothing.
	twice := peer.Protocol{Name: "twice", Messages: []peer.MessageType{
		{Type: 0xd0, Decode: dec, Handle: handle},
		{Type: 0xd0, Decode: dec, Handle: handle},
	}}
	require.ErrorIs(t, bare.Register(twice), peer.ErrTaken)
	require.NoError(t, bare.Register(msg(0xd0)), "0xd0 stayed free")

	require.ErrorIs(t, bare.Register(peer.Protocol{}), peer.ErrBadProtocol, "no name")
	require.ErrorIs(t, bare.Register(peer.Protocol{Name: "x", Messages: []peer.MessageType{{Type: 0xd1, Handle: handle}}}), peer.ErrBadProtocol)
	require.ErrorIs(t, bare.Register(peer.Protocol{Name: "x", Messages: []peer.MessageType{{Type: 0xd1, Decode: dec}}}), peer.ErrBadProtocol)
	require.ErrorIs(t, bare.Register(kind(0)), peer.ErrBadProtocol, "kind 0 is never valid")
	require.ErrorIs(t, bare.Register(peer.Protocol{Name: "x", Streams: []peer.StreamKind{{Kind: 9}}}), peer.ErrBadProtocol)
}

func TestAnOversizeStreamMetaIsRefusedBeforeSending(t *testing.T) {
	defer goleak.VerifyNone(t)
	tr := mem.NewNetwork(mem.Options{}).Transport()
	a, b := newSet(t, tr, nil), newSet(t, tr, nil)
	l, err := b.Connect(testCtx(t), listenOn(t, a))
	require.NoError(t, err)
	_, err = l.OpenStream(testCtx(t), wire.StreamHeader{Kind: streamEcho, Meta: make([]byte, wire.MaxStreamMeta+1)})
	require.ErrorIs(t, err, peer.ErrBadHeader)
	require.Equal(t, 1, l.NumStreams(), "only the control stream")
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
}

// FuzzDecodeNote: the stub's decoder never panics, and what it accepts
// has one encoding.
func FuzzDecodeNote(f *testing.F) {
	f.Add((&note{Seq: 1, Text: "hi"}).AppendBody(nil))
	f.Add([]byte{0, 0, 0, 1, 200, 'x'})
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeNote(body)
		if err != nil {
			if !errors.Is(err, errBadNote) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if out := m.AppendBody(nil); !bytes.Equal(out, body) {
			t.Fatalf("not canonical: in %x out %x", body, out)
		}
	})
}
