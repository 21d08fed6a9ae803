package noise

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The cookie round trip, in WireGuard's manner, for a responder under
// load (see SPEC.md, "Cookies"). Instead of act two, such a responder
// answers act one with a cookie reply and spends no curve arithmetic until
// the initiator has echoed it:
//
//	responder → initiator: cookie reply = 0x80 || cookie (16) || tag (16)
//	    cookie = HMAC-SHA256(secret, source IP)[:16], secret rotating
//	    tag    = HMAC-SHA256(macKey, act one || 0x80 || cookie)[:16]
//	    macKey = SHA256("foxtrot cookie" || netTag), netTag zero without a network key
//	initiator → responder: echo = HMAC-SHA256(cookie, act one)[:16]
//
// and then the handshake goes on with act two as if nothing had happened.
// A responder not under load sends no cookie, and the exchange is BOLT 8's.
const (
	// CookieReplySize is the length of a cookie reply.
	CookieReplySize = 1 + cookieSize + cookieTagSize
	// CookieEchoSize is the length of an initiator's echo of a cookie.
	CookieEchoSize = cookieTagSize

	cookieVersion   = 0x80 // first byte of a cookie reply; acts use 0 and 1
	cookieSize      = 16
	cookieTagSize   = 16
	cookieLabel     = "foxtrot cookie"
	cookieLifetime  = 2 * time.Minute // a secret makes cookies this long, and checks them twice as long
	cookieMaxPerRun = 1               // cookie replies an initiator accepts in one handshake
)

// cookieMACKey is the key of a cookie reply's tag.
func cookieMACKey(netTag [32]byte) [32]byte {
	d := sha256.New()
	d.Write([]byte(cookieLabel))
	d.Write(netTag[:])
	var k [32]byte
	d.Sum(k[:0])
	return k
}

func hmac16(key, a, b, c []byte) [16]byte {
	m := hmac.New(sha256.New, key)
	m.Write(a)
	m.Write(b)
	m.Write(c)
	var out [16]byte
	copy(out[:], m.Sum(nil))
	return out
}

// CookieJar makes and checks a responder's cookies. Its secret rotates
// every two minutes; a cookie made under the current or the previous
// secret is good. Safe for concurrent use.
type CookieJar struct {
	macKey [32]byte
	now    func() time.Time

	mu      sync.Mutex
	secret  [2][32]byte // current, previous
	rotated time.Time
}

// NewCookieJar returns a CookieJar for a responder with networkKey (empty
// for none). now is its clock; nil means time.Now.
func NewCookieJar(networkKey []byte, now func() time.Time) *CookieJar {
	if now == nil {
		now = time.Now
	}
	tag, _ := noiseNetTag(networkKey)
	j := &CookieJar{macKey: cookieMACKey(tag), now: now}
	rand.Read(j.secret[0][:])
	rand.Read(j.secret[1][:])
	j.rotated = now()
	return j
}

// secrets returns the current and previous secrets, rotating first if
// the current one is older than cookieLifetime.
func (j *CookieJar) secrets() [2][32]byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	if now := j.now(); now.Sub(j.rotated) >= cookieLifetime {
		j.secret[1] = j.secret[0]
		rand.Read(j.secret[0][:])
		j.rotated = now
	}
	return j.secret
}

func cookieFor(secret [32]byte, source string) [16]byte {
	return hmac16(secret[:], []byte(source), nil, nil)
}

// Reply returns the cookie reply to act1 from source (the initiator's IP).
func (j *CookieJar) Reply(act1 []byte, source string) []byte {
	c := cookieFor(j.secrets()[0], source)
	out := make([]byte, 0, CookieReplySize)
	out = append(out, cookieVersion)
	out = append(out, c[:]...)
	tag := hmac16(j.macKey[:], act1, []byte{cookieVersion}, c[:])
	return append(out, tag[:]...)
}

// Check reports whether echo is the echo of a cookie this jar made for
// source (under its current or previous secret) over act1.
func (j *CookieJar) Check(act1 []byte, source string, echo []byte) bool {
	if len(echo) != CookieEchoSize {
		return false
	}
	for _, s := range j.secrets() {
		c := cookieFor(s, source)
		want := hmac16(c[:], act1, nil, nil)
		if hmac.Equal(want[:], echo) {
			return true
		}
	}
	return false
}

// OpenCookieReply checks a cookie reply to act1 under networkKey (empty
// for none) and returns the echo the initiator sends back. It fails with
// an error wrapping [ErrBadCookie] on a reply of the wrong size or
// version, or with a bad tag.
func OpenCookieReply(networkKey, act1, reply []byte) ([]byte, error) {
	tag, _ := noiseNetTag(networkKey)
	return openCookieReply(cookieMACKey(tag), act1, reply)
}

func openCookieReply(macKey [32]byte, act1, reply []byte) ([]byte, error) {
	if len(reply) != CookieReplySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadCookie, len(reply), CookieReplySize)
	}
	if reply[0] != cookieVersion {
		return nil, fmt.Errorf("%w: version %d", ErrBadCookie, reply[0])
	}
	c := reply[1 : 1+cookieSize]
	want := hmac16(macKey[:], act1, []byte{cookieVersion}, c)
	if !hmac.Equal(want[:], reply[1+cookieSize:]) {
		return nil, fmt.Errorf("%w: bad tag", ErrBadCookie)
	}
	echo := hmac16(c, act1, nil, nil)
	return echo[:], nil
}

// readActTwo reads act two for an initiator that sent act1, answering a
// cookie reply first if the responder under load sends one.
func readActTwo(conn net.Conn, hs *Handshake, act1 []byte) ([]byte, error) {
	act2 := make([]byte, max(hs.ActTwoSize(), CookieReplySize))
	for cookies := 0; ; cookies++ {
		if _, err := io.ReadFull(conn, act2[:1]); err != nil {
			return nil, err
		}
		if act2[0] != cookieVersion || cookies == cookieMaxPerRun {
			break
		}
		if _, err := io.ReadFull(conn, act2[1:CookieReplySize]); err != nil {
			return nil, fmt.Errorf("noise: reading cookie reply: %w", err)
		}
		echo, err := openCookieReply(cookieMACKey(hs.netTag), act1, act2[:CookieReplySize])
		if err != nil {
			return nil, err
		}
		if _, err := conn.Write(echo); err != nil {
			return nil, err
		}
	}
	act2 = act2[:hs.ActTwoSize()]
	if _, err := io.ReadFull(conn, act2[1:]); err != nil {
		return nil, fmt.Errorf("noise: reading act two: %w", err)
	}
	return act2, nil
}
