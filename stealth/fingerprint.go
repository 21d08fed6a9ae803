package stealth

import "github.com/btcsuite/btcd/btcec/v2"

// FingerprintSize is the length of a scan key's fingerprint.
const FingerprintSize = 8

// tagAdvert tags the scan-key fingerprint that adverts and advertised
// requests carry (SPEC.md, "Stealth targets").
const tagAdvert = "foxtrot/stealth/Advert"

var tAdvert = newTag(tagAdvert)

// A Fingerprint is the short name of a scan key that a listener may
// advertise to its peers, and that requests toward an advertiser carry:
// the first 8 bytes of hash_foxtrot/stealth/Advert(ser_P(B_scan)). It is
// the same for every label of one address. Publishing it tells relays
// which address family a request is for (not which connection, nor who
// dials): the privacy a listener gives up for cheaper setup.
type Fingerprint [FingerprintSize]byte

// ScanFingerprint returns the fingerprint of a scan public key.
func ScanFingerprint(scan *btcec.PublicKey) Fingerprint {
	var f Fingerprint
	h := tAdvert.sum(scan.SerializeCompressed())
	copy(f[:], h[:])
	return f
}

// Fingerprint returns the fingerprint of the address's scan key, or the
// zero Fingerprint for an address without one.
func (a Address) Fingerprint() Fingerprint {
	if a.Scan == nil {
		return Fingerprint{}
	}
	return ScanFingerprint(a.Scan)
}

// Network returns "foxtrot": an Address is the net.Addr of a stealth
// listener.
func (a Address) Network() string { return "foxtrot" }
