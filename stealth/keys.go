package stealth

import (
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Keys are a stealth address's two private keys: the scan key b_scan,
// which finds payments and recognises connection requests, and the spend
// key b_spend, which spends them and answers the requests.
type Keys struct {
	scan, spend       *btcec.PrivateKey
	scanPub, spendPub *btcec.PublicKey
}

// GenerateKeys returns a fresh scan key and spend key from crypto/rand.
func GenerateKeys() (*Keys, error) {
	scan, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	spend, err := btcec.NewPrivateKey()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return NewKeys(scan, spend)
}

// NewKeys loads a scan key and a spend key (for example, those a wallet
// derives at m/352'/coin'/account'/1'/0 and .../0'/0). It fails with
// ErrBadKey if either is nil or zero.
func NewKeys(scan, spend *btcec.PrivateKey) (*Keys, error) {
	if scan == nil || spend == nil || scan.Key.IsZero() || spend.Key.IsZero() {
		return nil, fmt.Errorf("%w: scan and spend keys must be non-zero", ErrBadKey)
	}
	return &Keys{scan: scan, spend: spend, scanPub: scan.PubKey(), spendPub: spend.PubKey()}, nil
}

// ScanKey returns b_scan, the private key to give a node that should find
// payments or recognise requests for this address without being able to
// spend or answer them (see [NewScanner]).
func (k *Keys) ScanKey() *btcec.PrivateKey { return k.scan }

// SpendKey returns b_spend.
func (k *Keys) SpendKey() *btcec.PrivateKey { return k.spend }

// Address returns the mainnet address, sp1...
func (k *Keys) Address() Address {
	return Address{Scan: k.scanPub, Spend: k.spendPub}
}

// TestnetAddress returns the testnet (and signet) address, tsp1...
func (k *Keys) TestnetAddress() Address {
	a := k.Address()
	a.Testnet = true
	return a
}

// LabelAddress returns the mainnet address with label m:
// B_m = B_spend + hash_BIP0352/Label(ser256(b_scan) || ser32(m))·G.
// Label 0 is reserved for change: never hand it out.
func (k *Keys) LabelAddress(m uint32) (Address, error) {
	l, err := newLabel(&k.scan.Key, m)
	if err != nil {
		return Address{}, err
	}
	b := jacobian(k.spendPub)
	var bm btcec.JacobianPoint
	btcec.AddNonConst(&b, &l.point, &bm)
	if isInfinity(&bm) {
		return Address{}, fmt.Errorf("%w: labelled spend key is the point at infinity", ErrInvalidScalar)
	}
	bm.ToAffine()
	return Address{Scan: k.scanPub, Spend: pubKey(&bm)}, nil
}

// Scanner returns a scanner for these keys: it holds the scan key and the
// spend public key, never the spend private key. Labels it is given are
// recognised both in payments and in connection requests; payments are
// always also scanned for the change label, 0.
func (k *Keys) Scanner(labels ...uint32) (*Scanner, error) {
	return NewScanner(k.scan, k.spendPub, labels...)
}

// A Tweak is the scalar that turns the spend key into the private key of
// what a scan found: d = b_spend + Tweak (mod n). For a payment it is
// BIP-352's priv_key_tweak, t_k plus the label's tweak if any; for a
// connection request it is the one-time key's tweak, plus the label's.
type Tweak [32]byte

// PrivateKey returns b_spend + t: the key that spends an output
// [Scanner.Scan] found (sign BIP-341 key-path spends with it; BIP-340
// signing negates it as needed), or the one-time key that answers a
// request [Scanner.Match] recognised.
func (k *Keys) PrivateKey(t Tweak) (*btcec.PrivateKey, error) {
	var s btcec.ModNScalar
	if overflow := s.SetBytes((*[32]byte)(&t)); overflow != 0 {
		return nil, fmt.Errorf("%w: tweak is not below the group order", ErrInvalidScalar)
	}
	s.Add(&k.spend.Key)
	if s.IsZero() {
		return nil, fmt.Errorf("%w: tweaked key is zero", ErrInvalidScalar)
	}
	return btcec.PrivKeyFromScalar(&s), nil
}

// A label is a precomputed BIP-352 label: m, its tweak and tweak·G.
type label struct {
	m     uint32
	tweak btcec.ModNScalar
	point btcec.JacobianPoint // affine
}

func newLabel(scan *btcec.ModNScalar, m uint32) (label, error) {
	b := scan.Bytes()
	t, ok := tLabel.scalar(b[:], ser32(m))
	if !ok {
		return label{}, fmt.Errorf("%w: label %d", ErrInvalidScalar, m)
	}
	l := label{m: m, tweak: t}
	btcec.ScalarBaseMultNonConst(&t, &l.point)
	l.point.ToAffine()
	return l, nil
}

// A Scanner finds what is sent to a stealth address using the scan key
// alone: BIP-352 payments ([Scanner.Scan]) and connection requests
// ([Scanner.Match]). It holds b_scan and B_spend, never b_spend, so it
// cannot spend what it finds or answer a request: hand a Scanner (or the
// scan key) to a node that should filter for the owner and nothing more.
// A Scanner is immutable and safe for concurrent use.
type Scanner struct {
	scan     btcec.ModNScalar
	spend    btcec.JacobianPoint // B_spend, affine
	scanPub  *btcec.PublicKey
	spendPub *btcec.PublicKey
	// labels for payments: the change label first, then the others.
	labels []label
	// targets for connections: B_spend, then B_m for each label asked for.
	targets []target
}

// A target is a spend key a connection may be derived from: B_spend (no
// label) or a labelled B_m.
type target struct {
	point   btcec.JacobianPoint // affine
	tweak   btcec.ModNScalar    // the label's tweak, zero for B_spend
	label   uint32
	labeled bool
}

// NewScanner returns a scanner from the scan private key and the spend
// public key, for a node that holds nothing else of the address.
func NewScanner(scan *btcec.PrivateKey, spend *btcec.PublicKey, labels ...uint32) (*Scanner, error) {
	if scan == nil || scan.Key.IsZero() || spend == nil {
		return nil, fmt.Errorf("%w: a scanner needs the scan key and the spend public key", ErrBadKey)
	}
	s := &Scanner{scan: scan.Key, spend: jacobian(spend), scanPub: scan.PubKey(), spendPub: spend}
	s.targets = append(s.targets, target{point: s.spend})
	change, err := newLabel(&s.scan, 0)
	if err != nil {
		return nil, err
	}
	s.labels = append(s.labels, change)
	seen := make(map[uint32]bool, len(labels))
	for _, m := range labels {
		if seen[m] {
			continue
		}
		seen[m] = true
		l, err := newLabel(&s.scan, m)
		if err != nil {
			return nil, err
		}
		if m != 0 {
			s.labels = append(s.labels, l)
		}
		var bm btcec.JacobianPoint
		btcec.AddNonConst(&s.spend, &l.point, &bm)
		if isInfinity(&bm) {
			return nil, fmt.Errorf("%w: labelled spend key %d is the point at infinity", ErrInvalidScalar, m)
		}
		bm.ToAffine()
		s.targets = append(s.targets, target{point: bm, tweak: l.tweak, label: m, labeled: true})
	}
	return s, nil
}

// Address returns the unlabelled mainnet address the scanner scans for.
func (s *Scanner) Address() Address { return Address{Scan: s.scanPub, Spend: s.spendPub} }
