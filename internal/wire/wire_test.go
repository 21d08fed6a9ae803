package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func sampleMessages() []Message {
	req := &ConnectRequest{HopLimit: 7, Time: 1_700_000_000_000, MaxPrice: 42}
	for i := range req.Target {
		req.Target[i] = byte(i)
	}
	req.Ephemeral[0] = 2
	req.Nonce[3] = 9
	req.Sig[63] = 1
	ack := &ConnectAck{ID: req.ID(), Path: 3, Hops: []Hop{{Key: [33]byte{2, 1}, Price: 5, ValidUntil: 9, Sig: [64]byte{7}}, {Key: [33]byte{3}}}}
	ack.TargetKey[0], ack.Ephemeral[0] = 3, 2
	return []Message{
		&Ping{Nonce: 1},
		&Pong{Nonce: 1<<64 - 1},
		req,
		ack,
		&ConnectAck{Path: 1}, // no hops
		&ConnectRefuse{ID: req.ID(), Reason: RefuseBusy},
		&ChannelMessage{Payload: []byte{1, 2, 3}},
		&ChannelMessage{},
		&PaymentRequest{Owed: 1234},
	}
}

func TestEveryMessageRoundTrips(t *testing.T) {
	for _, m := range sampleMessages() {
		frame, err := Append(nil, m)
		require.NoError(t, err)
		require.Equal(t, uint32(len(frame)-4), binary.BigEndian.Uint32(frame))
		got, err := Decode(frame[4:])
		require.NoError(t, err, m.Type())
		require.Equal(t, m, got)
	}
}

func TestReaderReadsConsecutiveFrames(t *testing.T) {
	var stream []byte
	msgs := sampleMessages()
	for _, m := range msgs {
		var err error
		stream, err = Append(stream, m)
		require.NoError(t, err)
	}
	r := NewReader(bytes.NewReader(stream))
	for _, want := range msgs {
		got, err := r.Read()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := r.Read()
	require.ErrorIs(t, err, io.EOF)
}

func TestTruncatedFrameIsUnexpectedEOF(t *testing.T) {
	frame, _ := Append(nil, &Ping{Nonce: 5})
	_, err := NewReader(bytes.NewReader(frame[:len(frame)-1])).Read()
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

func TestOversizeFrameIsRefusedBeforeReading(t *testing.T) {
	hdr := binary.BigEndian.AppendUint32(nil, MaxMessageSize+1)
	_, err := NewReader(bytes.NewReader(hdr)).Read()
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestShortAndLongBodiesAreMalformed(t *testing.T) {
	for _, m := range sampleMessages() {
		frame, _ := Append(nil, m)
		payload := frame[4:]
		_, err := Decode(payload[:len(payload)-1])
		require.ErrorIs(t, err, ErrMalformed, "short %s", m.Type())
		_, err = Decode(append(append([]byte{}, payload...), 0))
		require.ErrorIs(t, err, ErrMalformed, "long %s", m.Type())
	}
	_, err := Decode(nil)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestAckHopListIsBounded(t *testing.T) {
	ack := &ConnectAck{Hops: make([]Hop, MaxHops+1)}
	frame, err := Append(nil, ack)
	require.NoError(t, err)
	_, err = Decode(frame[4:])
	require.ErrorIs(t, err, ErrMalformed)
}

func TestUnknownTypesSayWhetherOptional(t *testing.T) {
	_, err := Decode([]byte{0x7f, 1, 2})
	var ute *UnknownTypeError
	require.True(t, errors.As(err, &ute))
	require.False(t, ute.Type.Optional())
	_, err = Decode([]byte{0xf1})
	require.True(t, errors.As(err, &ute))
	require.True(t, ute.Type.Optional())
}

func TestConnectionIDIgnoresHopLimitOnly(t *testing.T) {
	req := sampleMessages()[2].(*ConnectRequest)
	id := req.ID()
	sh := req.SigHash()
	req.HopLimit--
	require.Equal(t, id, req.ID(), "relays decrementing the hop limit keep the ID")
	require.Equal(t, sh, req.SigHash())
	req.MaxPrice++
	require.NotEqual(t, id, req.ID(), "the ID commits to every other field")
	require.NotEqual(t, sh, req.SigHash())
	req.MaxPrice--
	req.Sig[0] ^= 1
	require.NotEqual(t, id, req.ID(), "the ID commits to the signature too")
	require.Equal(t, sh, req.SigHash(), "the signature does not sign itself")
}

func TestStreamHeaderRoundTripsAndRejectsGarbage(t *testing.T) {
	h := StreamHeader{Kind: StreamCircuit, ID: [20]byte{9}, Path: 77}
	b := h.Append(nil)
	require.Len(t, b, StreamHeaderSize)
	got, err := ParseStreamHeader(b)
	require.NoError(t, err)
	require.Equal(t, h, got)
	bad := append([]byte{}, b...)
	bad[0] = 9
	_, err = ParseStreamHeader(bad)
	require.ErrorIs(t, err, ErrMalformed)
	bad = append([]byte{}, b...)
	bad[1] = 0
	_, err = ParseStreamHeader(bad)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseStreamHeader(b[:10])
	require.ErrorIs(t, err, ErrMalformed)
}

// FuzzDecode checks that no input panics and that whatever decodes has
// exactly one encoding: re-encoding gives back the input.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		frame, _ := Append(nil, m)
		f.Add(frame[4:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) { checkCanonical(t, payload, Decode) })
}

// checkCanonical: decode fails with an error of a known class, or what
// it decodes re-encodes to exactly the input.
func checkCanonical(t *testing.T, payload []byte, decode func([]byte) (Message, error)) {
	m, err := decode(payload)
	if err != nil {
		var ute *UnknownTypeError
		if !errors.Is(err, ErrMalformed) && !errors.As(err, &ute) {
			t.Fatalf("unexpected error class: %v", err)
		}
		return
	}
	frame, err := Append(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frame[4:], payload) {
		t.Fatalf("%s: not canonical:\n in %x\nout %x", m.Type(), payload, frame[4:])
	}
}

// FuzzReader feeds arbitrary streams to the frame reader.
func FuzzReader(f *testing.F) {
	var stream []byte
	for _, m := range sampleMessages() {
		stream, _ = Append(stream, m)
	}
	f.Add(stream)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for i := 0; i < 100; i++ {
			if _, err := r.Read(); err != nil {
				return
			}
		}
	})
}

func FuzzParseStreamHeader(f *testing.F) {
	f.Add(StreamHeader{Kind: StreamCircuit, Path: 1}.Append(nil))
	f.Add(StreamHeader{Kind: 0x42, ID: [20]byte{1}, Meta: []byte("topic")}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseStreamHeader(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if !bytes.Equal(h.Append(nil), b) {
			t.Fatalf("not canonical: %x", b)
		}
		if h.Size() != len(b) {
			t.Fatalf("Size %d, encoded %d", h.Size(), len(b))
		}
	})
}

// FuzzReadStreamHeader feeds arbitrary streams to the header reader: it
// must never read past a header, and must agree with ParseStreamHeader.
func FuzzReadStreamHeader(f *testing.F) {
	f.Add(StreamHeader{Kind: StreamCircuit, Path: 1}.Append(nil))
	f.Add(append(StreamHeader{Kind: 0x42, Meta: []byte{1, 2, 3}}.Append(nil), "data"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		h, err := ReadStreamHeader(r)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		used := len(b) - r.Len()
		if used != h.Size() {
			t.Fatalf("read %d bytes of a %d-byte header", used, h.Size())
		}
		p, err := ParseStreamHeader(b[:used])
		if err != nil {
			t.Fatalf("ParseStreamHeader refuses what ReadStreamHeader read: %v", err)
		}
		if !bytes.Equal(p.Append(nil), h.Append(nil)) {
			t.Fatalf("the two parsers disagree on %x", b[:used])
		}
	})
}

func TestTheCircuitStreamHeaderIsByteIdentical(t *testing.T) {
	// The layout every circuit has always used: version 1, kind 1, ID, path.
	want := "0101" + "0102030405060708090a0b0c0d0e0f1011121314" + "00000007"
	var id [20]byte
	for i := range id {
		id[i] = byte(i + 1)
	}
	got := StreamHeader{Kind: StreamCircuit, ID: id, Path: 7}.Append(nil)
	require.Equal(t, want, hex.EncodeToString(got))
	h, err := ReadStreamHeader(bytes.NewReader(got))
	require.NoError(t, err)
	require.Nil(t, h.Meta, "a version-1 header has no meta")
}

func TestStreamHeaderCarriesKindSpecificBytes(t *testing.T) {
	h := StreamHeader{Kind: 0x42, ID: [20]byte{9}, Path: 3, Meta: []byte("some/topic")}
	b := h.Append(nil)
	require.Len(t, b, h.Size())
	require.EqualValues(t, 2, b[0], "meta makes it version 2")
	got, err := ParseStreamHeader(b)
	require.NoError(t, err)
	require.Equal(t, h, got)

	// The reader takes the header and not a byte of what follows.
	r := bytes.NewReader(append(append([]byte{}, b...), "payload"...))
	got, err = ReadStreamHeader(r)
	require.NoError(t, err)
	require.Equal(t, h, got)
	rest, _ := io.ReadAll(r)
	require.Equal(t, "payload", string(rest))

	// Any kind but 0 parses: which kinds are served is the peer layer's say.
	_, err = ParseStreamHeader(StreamHeader{Kind: 0xfe}.Append(nil))
	require.NoError(t, err)

	big := StreamHeader{Kind: 0x42, Meta: make([]byte, MaxStreamMeta+1)}.Append(nil)
	_, err = ParseStreamHeader(big)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ReadStreamHeader(bytes.NewReader(big))
	require.ErrorIs(t, err, ErrMalformed)

	empty := append(StreamHeader{Kind: 0x42}.Append(nil), 0, 0) // version 2 with no meta
	empty[0] = 2
	_, err = ParseStreamHeader(empty)
	require.ErrorIs(t, err, ErrMalformed, "an empty meta would be a second encoding of version 1")
	_, err = ParseStreamHeader(b[:len(b)-1])
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ReadStreamHeader(bytes.NewReader(b[:len(b)-1]))
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
}

// note is a message type defined outside wire's switch, as a registered
// protocol's would be.
type note struct{ text string }

const typeNote Type = 0x42

func (*note) Type() Type                   { return typeNote }
func (n *note) AppendBody(b []byte) []byte { return append(b, n.text...) }

func decodeNote(body []byte) (Message, error) {
	if len(body) == 0 {
		return nil, errors.New("empty note")
	}
	return &note{text: string(body)}, nil
}

func noteExt(t Type) DecodeFunc {
	if t == typeNote {
		return decodeNote
	}
	return nil
}

func TestDecodeWithDecodesRegisteredTypes(t *testing.T) {
	require.False(t, Known(typeNote))
	require.True(t, Known(TypeConnectAck))
	frame, err := Append(nil, &note{text: "hi"})
	require.NoError(t, err)
	r := NewReader(bytes.NewReader(frame))
	payload, err := r.ReadFrame()
	require.NoError(t, err)
	m, err := DecodeWith(payload, noteExt)
	require.NoError(t, err)
	require.Equal(t, &note{text: "hi"}, m)

	_, err = Decode(payload)
	var ute *UnknownTypeError
	require.ErrorAs(t, err, &ute, "without the extension the type is unknown")

	_, err = DecodeWith([]byte{byte(typeNote)}, noteExt)
	require.ErrorIs(t, err, ErrMalformed, "the decoder's error is a malformed message")

	liar := func(Type) DecodeFunc {
		return func([]byte) (Message, error) { return &Ping{}, nil }
	}
	_, err = DecodeWith(payload, liar)
	require.ErrorIs(t, err, ErrMalformed, "a decoder must return its own type")
	nilDec := func(Type) DecodeFunc {
		return func([]byte) (Message, error) { return nil, nil }
	}
	_, err = DecodeWith(payload, nilDec)
	require.ErrorIs(t, err, ErrMalformed)

	for _, m := range sampleMessages() {
		frame, _ := Append(nil, m)
		got, err := DecodeWith(frame[4:], noteExt)
		require.NoError(t, err)
		require.Equal(t, m, got, "built-in types still decode")
	}
}

// FuzzDecodeWith is FuzzDecode with a registered type beside the built-in
// ones.
func FuzzDecodeWith(f *testing.F) {
	f.Add([]byte{byte(typeNote), 'h', 'i'})
	f.Add([]byte{byte(typeNote)})
	for _, m := range sampleMessages() {
		frame, _ := Append(nil, m)
		f.Add(frame[4:])
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkCanonical(t, payload, func(b []byte) (Message, error) { return DecodeWith(b, noteExt) })
	})
}
