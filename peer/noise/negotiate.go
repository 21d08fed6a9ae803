package noise

// Frame cipher negotiation on a Conn (peer/noise/SPEC.md, "Frame cipher
// negotiation"). Every link starts on ChaCha20-Poly1305. A side that
// offers AES-256-GCM makes its very first frame an empty one (the offer,
// sent with its first data);
// no other frame is ever empty, so a wave-1 peer, whose reader skips empty
// frames, never notices. Once a side has offered and has read the peer's
// offer, its next Write first sends one more empty frame under
// ChaCha20-Poly1305 (the marker) and seals everything after it with
// AES-256-GCM; the peer's reader, having offered too, upgrades its receive
// cipher right after the marker. The offer and the marker are frames
// under keys only the two handshake parties hold, each at a fixed nonce,
// so an attacker can neither forge nor drop nor reorder one without
// failing authentication: the choice cannot be downgraded.
//
//	each direction:  [offer] frames... [marker] AES frames...
//	                 ^ first frame     ^ after this side read the peer's offer

// noteFrameLocked records a frame of n plaintext bytes just opened by
// the receive cipher: the peer's first frame tells whether it offered;
// after both offered, the next empty frame is the peer's marker.
func (c *Conn) noteFrameLocked(n int) error {
	if !c.firstSeen {
		c.firstSeen = true
		if n == 0 {
			c.peerOffered.Store(true)
		}
		return nil
	}
	if n == 0 && c.offered && c.peerOffered.Load() && !c.recvSwitch.Load() {
		if err := c.recv.Upgrade(); err != nil {
			return err
		}
		c.recvSwitch.Store(true)
	}
	return nil
}

// negotiateLocked appends to out what is due before this side's data:
// the offer, before the first data frame if this side offers; the marker
// (upgrading the send cipher) once the peer's offer has been read. It runs
// from Write, never from Read, so reading never waits on the writer, and
// a side that never writes sends nothing (so it never leaves unread bytes
// at its peer, which would make closing a TCP socket reset it).
func (c *Conn) negotiateLocked(out []byte) ([]byte, error) {
	if !c.offered || c.sendSwitch.Load() {
		return out, nil
	}
	if !c.offerSent {
		out = c.send.SealFrame(out, nil)
		c.offerSent = true
	}
	if !c.peerOffered.Load() {
		return out, nil
	}
	out = c.send.SealFrame(out, nil)
	if err := c.send.Upgrade(); err != nil {
		return out, err
	}
	c.sendSwitch.Store(true)
	return out, nil
}

// CipherSuites returns the AEAD each direction of the link uses now:
// CipherChaCha20Poly1305 until it switched to CipherAES256GCM. A direction
// switches at its first write (send) or read (recv) after both sides'
// offers crossed.
func (c *Conn) CipherSuites() (send, recv CipherSuite) {
	send, recv = CipherChaCha20Poly1305, CipherChaCha20Poly1305
	if c.sendSwitch.Load() {
		send = CipherAES256GCM
	}
	if c.recvSwitch.Load() {
		recv = CipherAES256GCM
	}
	return send, recv
}
