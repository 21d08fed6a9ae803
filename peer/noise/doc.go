// Package noise is the encryption of foxtrot's peer links: a Noise
// handshake over secp256k1 in the manner of Lightning's BOLT 8 (Noise_XK
// when the initiator knows the responder's key, Noise_XX when it does not),
// BOLT 8 message framing with key rotation, and Conn, a net.Conn secured by
// both. Frames are sealed with BOLT 8's ChaCha20-Poly1305 or, when both
// ends offer it ([Config.LinkCipher], [CipherSuite]), AES-256-GCM, agreed
// in the link's first exchange in a way an attacker cannot downgrade and
// an older peer does not notice.
//
// The handshake ([Handshake]) and the framing ([Cipher]) are pure state
// machines over byte slices with injectable randomness: they do no I/O,
// so they are tested against the BOLT 8 vectors and the golden vectors in
// testdata and fuzzed. [Client] and [Server] are the thin adapter that runs
// a handshake over a transport conn and returns a [Conn], the way
// tls.Client and tls.Server do.
//
// SPEC.md in this directory gives the wire format. Package peer builds its
// links on Conn; this package knows nothing of peers, muxers or messages.
package noise
