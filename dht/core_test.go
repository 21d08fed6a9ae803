package dht

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func testKey(t testing.TB, seed int64) *btcec.PrivateKey {
	var b [32]byte
	rand.New(rand.NewSource(seed)).Read(b[:])
	b[0] |= 1
	k, _ := btcec.PrivKeyFromBytes(b[:])
	return k
}

func randomID(rng *rand.Rand) ID {
	var id ID
	rng.Read(id[:])
	return id
}

func TestNodeIDIsSHA256OfCompressedKey(t *testing.T) {
	k := testKey(t, 1)
	require.Equal(t, ID(sha256.Sum256(k.PubKey().SerializeCompressed())), NodeID(k.PubKey()))
}

func TestDistanceIsXORAndCloserOrdersByIt(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for range 1000 {
		a, b, c := randomID(rng), randomID(rng), randomID(rng)
		da, db := Distance(c, a), Distance(c, b)
		want := slices.Compare(da[:], db[:]) < 0
		require.Equal(t, want, Closer(c, a, b))
		require.Equal(t, Distance(a, b), Distance(b, a))
		cpl := CommonPrefixLen(a, b)
		d := Distance(a, b)
		for i := 0; i < cpl; i++ {
			require.Zero(t, d[i/8]&(0x80>>(i%8)))
		}
		if cpl < 256 {
			require.NotZero(t, d[cpl/8]&(0x80>>(cpl%8)))
		}
	}
	require.Equal(t, 256, CommonPrefixLen(ID{1}, ID{1}))
}

func contactWithID(id ID) Contact { return Contact{ID: id} }

// TestTableClosestMatchesBruteForce compares the bucketed table with a flat
// list sorted by distance, for contacts that all fit (no eviction).
func TestTableClosestMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	self := randomID(rng)
	tab := NewTable(self)
	var all []Contact
	for range 5000 {
		c := contactWithID(randomID(rng))
		if added, _ := tab.Add(c); added {
			all = append(all, c)
		}
	}
	require.Equal(t, len(all), tab.Len())
	require.Greater(t, tab.Buckets(), 5, "the own-side bucket split")
	for range 50 {
		target := randomID(rng)
		want := slices.Clone(all)
		SortByDistance(target, want)
		got := tab.Closest(target, K)
		require.Equal(t, want[:K], got)
	}
}

func TestTableSplitsOnlyOnOwnSide(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	self := randomID(rng)
	tab := NewTable(self)
	// 2K contacts all in the far half: bucket 0 fills, never splits
	// further than once.
	far := 0
	for far < 2*K {
		id := randomID(rng)
		if CommonPrefixLen(self, id) != 0 {
			continue
		}
		far++
		tab.Add(contactWithID(id))
	}
	require.Equal(t, K, tab.Len(), "only K far contacts live")
	require.LessOrEqual(t, tab.Buckets(), 2)
}

func TestFullBucketAsksForLivenessCheckThenReplaces(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	self := randomID(rng)
	tab := NewTable(self)
	var far []ID
	for len(far) < K+2 {
		id := randomID(rng)
		if CommonPrefixLen(self, id) == 0 {
			far = append(far, id)
		}
	}
	now := time.Unix(1000, 0)
	for i, id := range far[:K] {
		added, check := tab.Add(Contact{ID: id, Seen: now.Add(time.Duration(i) * time.Second)})
		require.True(t, added)
		require.Nil(t, check)
	}
	added, check := tab.Add(Contact{ID: far[K]})
	require.False(t, added)
	require.NotNil(t, check)
	require.Equal(t, far[0], check.ID, "the least recently seen is checked")

	// It answers: it stays, moved to the back; the next check is far[1].
	tab.Seen(far[0], now.Add(time.Hour))
	_, check = tab.Add(Contact{ID: far[K+1]})
	require.Equal(t, far[1], check.ID)

	// far[1] fails: the newest spare (far[K+1]) takes its place.
	tab.Failed(far[1])
	_, ok := tab.Get(far[K+1])
	require.True(t, ok)
	_, ok = tab.Get(far[1])
	require.False(t, ok)
	require.Equal(t, K, tab.Len())
}

func TestTableNeverHoldsSelf(t *testing.T) {
	tab := NewTable(ID{7})
	added, _ := tab.Add(contactWithID(ID{7}))
	require.False(t, added)
	require.Zero(t, tab.Len())
}

func signed(t testing.TB, key *btcec.PrivateKey, salt []byte, seq uint64, exp time.Time, value string) *Record {
	r := &Record{Salt: salt, Seq: seq, Expires: exp, Value: []byte(value)}
	require.NoError(t, r.Sign(key))
	return r
}

func TestRecordSignsAndRoundTrips(t *testing.T) {
	k := testKey(t, 6)
	r := signed(t, k, []byte("salt"), 7, time.Unix(2e9, 0), "hello")
	require.NoError(t, r.Verify())
	b := r.Append(nil)
	require.Len(t, b, r.Size())
	got, err := DecodeRecord(b)
	require.NoError(t, err)
	require.NoError(t, got.Verify())
	require.Equal(t, b, got.Append(nil))
	h := sha256.New()
	h.Write(r.Key[:])
	h.Write([]byte("salt"))
	require.Equal(t, ID(h.Sum(nil)), r.Target(), "BEP 44's target: H(key || salt)")
}

func TestForgedRecordsAreRefused(t *testing.T) {
	k, other := testKey(t, 7), testKey(t, 8)
	exp := time.Unix(2e9, 0)
	for name, forge := range map[string]func(r *Record){
		"value":   func(r *Record) { r.Value[0] ^= 1 },
		"seq":     func(r *Record) { r.Seq++ },
		"salt":    func(r *Record) { r.Salt = []byte("other") },
		"expiry":  func(r *Record) { r.Expires = r.Expires.Add(time.Hour) },
		"locator": func(r *Record) { r.Locator = true; r.Salt = make([]byte, 32) },
		"key": func(r *Record) {
			o := signed(t, other, nil, 1, exp, "x")
			r.Key = o.Key
		},
		"sig": func(r *Record) { r.Sig[5] ^= 1 },
	} {
		r := signed(t, k, []byte("s"), 1, exp, "value")
		forge(r)
		err := r.Verify()
		require.ErrorIs(t, err, ErrBadSignature, name)
		require.Error(t, NewStore(StoreConfig{}).Put(r, ID{}, nil, time.Unix(1e9, 0)), name)
	}
}

func TestOversizedRecordsAreRefused(t *testing.T) {
	k := testKey(t, 9)
	r := &Record{Value: make([]byte, MaxValue+1), Expires: time.Unix(2e9, 0)}
	require.ErrorIs(t, r.Sign(k), ErrTooLarge)
	r = &Record{Salt: make([]byte, MaxSalt+1), Expires: time.Unix(2e9, 0)}
	require.ErrorIs(t, r.Sign(k), ErrTooLarge)
	// An encoding claiming a larger value is malformed.
	ok := signed(t, k, nil, 1, time.Unix(2e9, 0), "v")
	b := ok.Append(nil)
	binary.BigEndian.PutUint16(b[1+32+1+8+8:], MaxValue+1)
	_, err := DecodeRecord(b)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestStoreNewerSeqWinsStaleIsRefused(t *testing.T) {
	k := testKey(t, 10)
	s := NewStore(StoreConfig{})
	now := time.Unix(1e9, 0)
	exp := now.Add(time.Hour)
	r2 := signed(t, k, nil, 2, exp, "two")
	require.NoError(t, s.Put(r2, ID{1}, nil, now))
	require.ErrorIs(t, s.Put(signed(t, k, nil, 1, exp, "one"), ID{1}, nil, now), ErrStale)
	require.ErrorIs(t, s.Put(signed(t, k, nil, 2, exp, "other"), ID{1}, nil, now), ErrStale)
	require.NoError(t, s.Put(signed(t, k, nil, 2, exp, "two"), ID{1}, nil, now), "a refresh (replay) of the stored one")
	require.NoError(t, s.Put(signed(t, k, nil, 3, exp, "three"), ID{1}, nil, now))
	got := s.Get(r2.Target(), now)
	require.Len(t, got, 1)
	require.Equal(t, "three", string(got[0].Value))
	require.Equal(t, 1, s.Len())
	// A replay of an older record is refused as stale.
	require.ErrorIs(t, s.Put(r2, ID{1}, nil, now), ErrStale)
}

func TestStoreCompareAndSwap(t *testing.T) {
	k := testKey(t, 11)
	s := NewStore(StoreConfig{})
	now := time.Unix(1e9, 0)
	exp := now.Add(time.Hour)
	cas := func(v uint64) *uint64 { return &v }
	require.ErrorIs(t, s.Put(signed(t, k, nil, 1, exp, "a"), ID{}, cas(5), now), ErrCASMismatch)
	require.NoError(t, s.Put(signed(t, k, nil, 1, exp, "a"), ID{}, cas(0), now))
	require.ErrorIs(t, s.Put(signed(t, k, nil, 2, exp, "b"), ID{}, cas(0), now), ErrCASMismatch)
	require.NoError(t, s.Put(signed(t, k, nil, 2, exp, "b"), ID{}, cas(1), now))
}

func TestStoreExpiry(t *testing.T) {
	k := testKey(t, 12)
	s := NewStore(StoreConfig{MaxTTL: time.Hour})
	now := time.Unix(1e9, 0)
	require.ErrorIs(t, s.Put(signed(t, k, nil, 1, now, "past"), ID{}, nil, now), ErrExpired)
	require.ErrorIs(t, s.Put(signed(t, k, nil, 1, now.Add(2*time.Hour), "far"), ID{}, nil, now), ErrTooFarAhead)
	r := signed(t, k, nil, 1, now.Add(time.Minute), "soon")
	require.NoError(t, s.Put(r, ID{}, nil, now))
	require.Len(t, s.Get(r.Target(), now), 1)
	require.Empty(t, s.Get(r.Target(), now.Add(time.Minute)))
	// Once expired, a lower seq may start again.
	require.NoError(t, s.Put(signed(t, k, nil, 0, now.Add(2*time.Minute), "again"), ID{}, nil, now.Add(time.Minute)))
	s.Expire(now.Add(time.Hour))
	require.Zero(t, s.Len())
}

func TestStoreBounds(t *testing.T) {
	now := time.Unix(1e9, 0)
	exp := now.Add(time.Hour)
	s := NewStore(StoreConfig{MaxRecords: 5, MaxPerSource: 3})
	for i := range 3 {
		require.NoError(t, s.Put(signed(t, testKey(t, int64(100+i)), nil, 1, exp, "x"), ID{1}, nil, now))
	}
	require.ErrorIs(t, s.Put(signed(t, testKey(t, 200), nil, 1, exp, "x"), ID{1}, nil, now), ErrSourceFull)
	for i := range 2 {
		require.NoError(t, s.Put(signed(t, testKey(t, int64(300+i)), nil, 1, exp, "x"), ID{2}, nil, now))
	}
	require.ErrorIs(t, s.Put(signed(t, testKey(t, 400), nil, 1, exp, "x"), ID{3}, nil, now), ErrStoreFull)
	require.Equal(t, 5, s.Len())
	// Expired records make room.
	require.NoError(t, s.Put(signed(t, testKey(t, 400), nil, 1, exp.Add(time.Hour), "x"), ID{3}, nil, exp))
	require.Equal(t, 1, s.Len())

	// Locator targets hold at most MaxKeysPerTarget keys.
	s = NewStore(StoreConfig{MaxKeysPerTarget: 2})
	loc := make([]byte, 32)
	for i := range 2 {
		r := &Record{Locator: true, Salt: loc, Seq: 1, Expires: exp}
		require.NoError(t, r.Sign(testKey(t, int64(500+i))))
		require.NoError(t, s.Put(r, ID{byte(i)}, nil, now))
	}
	r := &Record{Locator: true, Salt: loc, Seq: 1, Expires: exp}
	require.NoError(t, r.Sign(testKey(t, 600)))
	require.ErrorIs(t, s.Put(r, ID{9}, nil, now), ErrTargetFull)
	require.Len(t, s.Get(ID(loc), now), 2)
}

func testContact(t testing.TB, seed int64) Contact {
	k := testKey(t, seed)
	return NewContact(k.PubKey(), []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/9000"), ma.StringCast("/ip6/::1/udp/7/quic-v1")})
}

func TestMessagesRoundTrip(t *testing.T) {
	k := testKey(t, 13)
	rec := signed(t, k, []byte("s"), 3, time.Unix(2e9, 0), "v")
	cas := uint64(2)
	for _, m := range []*Request{
		{ID: 1, Op: OpPing, From: testContact(t, 1)},
		{ID: 2, Op: OpFindNode, From: testContact(t, 2), Target: ID{9}},
		{ID: 3, Op: OpGet, From: testContact(t, 3), Target: ID{8}},
		{ID: 4, Op: OpPut, From: testContact(t, 4), Token: []byte("token"), CAS: &cas, Record: rec},
		{ID: 5, Op: OpPut, From: testContact(t, 5), Record: rec},
	} {
		b := m.AppendBody(nil)
		got, err := DecodeRequest(b)
		require.NoError(t, err)
		require.Equal(t, b, got.AppendBody(nil))
	}
	resp := &Response{ID: 9, Op: OpGet, From: testContact(t, 8), Token: []byte("tok"), Nodes: []Contact{testContact(t, 6), testContact(t, 7)}, Records: []*Record{rec, rec}}
	b := resp.AppendBody(nil)
	got, err := DecodeResponse(b)
	require.NoError(t, err)
	require.Equal(t, b, got.AppendBody(nil))
}

// TestLargestResponseFitsAFrame: K contacts of MaxAddrs longest addrs and
// MaxRecords largest records stay under wire.MaxMessageSize.
func TestLargestResponseFitsAFrame(t *testing.T) {
	contact := 33 + 1 + MaxAddrs*(2+MaxAddrLen)
	size := 1 + 8 + 1 + 1 + contact + 1 + MaxToken + 1 + K*contact + 1 + MaxRecords*MaxRecordSize
	require.Less(t, size, 64<<10)
}
