package peer

import "github.com/foxtrotnet/foxtrot/peer/noise"

// CipherSuite names a link's frame AEAD, or which ones a node offers; see
// [noise.CipherSuite].
type CipherSuite = noise.CipherSuite

// Frame cipher settings; see [noise.CipherAuto],
// [noise.CipherChaCha20Poly1305] and [noise.CipherAES256GCM].
const (
	CipherAuto             = noise.CipherAuto
	CipherChaCha20Poly1305 = noise.CipherChaCha20Poly1305
	CipherAES256GCM        = noise.CipherAES256GCM
)

// CipherSuites returns the AEAD each direction of the link seals its
// frames with now: ChaCha20-Poly1305, or AES-256-GCM once both ends
// offered it and the switch crossed (within the link's first exchange).
func (l *Link) CipherSuites() (send, recv CipherSuite) { return l.sc.CipherSuites() }
