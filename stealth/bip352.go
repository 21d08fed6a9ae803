package stealth

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/wire"
)

// KMax is BIP-352's limit on the recipients sharing one scan key in a
// transaction: a sender with more fails, a receiver stops looking there.
const KMax = 2323

// numsH is BIP-341's NUMS point H, as an x-only key: a taproot input whose
// script-path spend reveals it as the internal key is skipped.
var numsH = [32]byte{
	0x50, 0x92, 0x9b, 0x74, 0xc1, 0xa0, 0x49, 0x54, 0xb7, 0x8b, 0x4b, 0x60, 0x35, 0xe9, 0x7a, 0x5e,
	0x07, 0x8a, 0x5a, 0x0f, 0x28, 0xec, 0x96, 0xd5, 0x47, 0xbf, 0xee, 0x9a, 0xce, 0x80, 0x3a, 0xc0,
}

// An Input is a transaction input as silent payments see it: the outpoint
// it spends, its scriptSig and witness, and the scriptPubKey of the output
// it spends (which the transaction itself does not carry).
type Input struct {
	Outpoint  wire.OutPoint
	ScriptSig []byte
	Witness   wire.TxWitness
	// PrevOut is the scriptPubKey of the spent output.
	PrevOut []byte
	// Key is the private key that spends the input: senders only, and
	// only for eligible inputs (for P2TR, the tweaked output key).
	Key *btcec.PrivateKey
}

// InputPublicKey returns the public key an input contributes to the shared
// secret, following BIP-352's "Inputs For Shared Secret Derivation":
//   - P2TR: the output key from the scriptPubKey (even y), unless a
//     script-path spend reveals the NUMS point H as internal key;
//   - P2WPKH, P2SH-P2WPKH: the last witness item, a compressed key;
//   - P2PKH: the last 33 bytes of the scriptSig that are a compressed key
//     hashing to the scriptPubKey's hash, even in a malleated scriptSig.
//
// ok is false for any other input, and for uncompressed keys. taproot
// tells a sender to negate the private key if its point has odd y.
func InputPublicKey(in Input) (pub *btcec.PublicKey, taproot, ok bool) {
	spk := in.PrevOut
	switch {
	case isP2PKH(spk):
		want := spk[3:23]
		for i := len(in.ScriptSig); i >= 33; i-- {
			cand := in.ScriptSig[i-33 : i]
			if h := hash160(cand); !bytes.Equal(h[:], want) {
				continue
			}
			if pub, err := parseCompressed(cand); err == nil {
				return pub, false, true
			}
		}
	case isP2SH(spk):
		// P2SH-P2WPKH: the scriptSig is one push of the P2WPKH redeem
		// script, whose hash the scriptPubKey commits to.
		ss := in.ScriptSig
		if len(ss) == 23 && ss[0] == 0x16 && isP2WPKH(ss[1:]) {
			if h := hash160(ss[1:]); bytes.Equal(h[:], spk[2:22]) {
				if pub, ok := lastWitnessKey(in.Witness); ok {
					return pub, false, true
				}
			}
		}
	case isP2WPKH(spk):
		if pub, ok := lastWitnessKey(in.Witness); ok {
			return pub, false, true
		}
	case isP2TR(spk):
		stack := in.Witness
		if len(stack) == 0 {
			return nil, false, false
		}
		if len(stack) > 1 {
			if last := stack[len(stack)-1]; len(last) > 0 && last[0] == 0x50 {
				stack = stack[:len(stack)-1] // the annex
			}
		}
		if len(stack) > 1 {
			// Script path: <...> <leaf script> <control block>, the
			// control block being <control byte> <internal key> <path>.
			cb := stack[len(stack)-1]
			if len(cb) >= 33 && bytes.Equal(cb[1:33], numsH[:]) {
				return nil, false, false
			}
		}
		if pub, err := schnorr.ParsePubKey(spk[2:]); err == nil {
			return pub, true, true
		}
	}
	return nil, false, false
}

func lastWitnessKey(w wire.TxWitness) (*btcec.PublicKey, bool) {
	if len(w) == 0 {
		return nil, false
	}
	pub, err := parseCompressed(w[len(w)-1])
	return pub, err == nil
}

// parseCompressed parses only a 33-byte compressed key.
func parseCompressed(b []byte) (*btcec.PublicKey, error) {
	if len(b) != 33 || (b[0] != 0x02 && b[0] != 0x03) {
		return nil, fmt.Errorf("%w: not a compressed key", ErrBadKey)
	}
	return btcec.ParsePubKey(b)
}

func isP2TR(s []byte) bool   { return len(s) == 34 && s[0] == 0x51 && s[1] == 0x20 }
func isP2WPKH(s []byte) bool { return len(s) == 22 && s[0] == 0x00 && s[1] == 0x14 }
func isP2SH(s []byte) bool   { return len(s) == 23 && s[0] == 0xa9 && s[1] == 0x14 && s[22] == 0x87 }
func isP2PKH(s []byte) bool {
	return len(s) == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 0x14 && s[23] == 0x88 && s[24] == 0xac
}

// witnessVersion returns the version of a witness program scriptPubKey.
func witnessVersion(s []byte) (int, bool) {
	if len(s) < 4 || len(s) > 42 || int(s[1]) != len(s)-2 {
		return 0, false
	}
	switch {
	case s[0] == 0x00:
		return 0, true
	case s[0] >= 0x51 && s[0] <= 0x60:
		return int(s[0] - 0x50), true
	}
	return 0, false
}

// checkWitnessVersions fails if any input spends a segwit version > 1.
func checkWitnessVersions(inputs []Input) error {
	for i, in := range inputs {
		if v, ok := witnessVersion(in.PrevOut); ok && v > 1 {
			return fmt.Errorf("%w: input %d spends witness version %d", ErrWitnessVersion, i, v)
		}
	}
	return nil
}

// inputHash is hash_BIP0352/Inputs(outpoint_L || ser_P(A)), outpoint_L
// being the smallest serialised outpoint of all the inputs.
func inputHash(inputs []Input, a *btcec.JacobianPoint) (btcec.ModNScalar, error) {
	var smallest, cur [36]byte
	for i, in := range inputs {
		copy(cur[:32], in.Outpoint.Hash[:])
		cur[32] = byte(in.Outpoint.Index)
		cur[33] = byte(in.Outpoint.Index >> 8)
		cur[34] = byte(in.Outpoint.Index >> 16)
		cur[35] = byte(in.Outpoint.Index >> 24)
		if i == 0 || bytes.Compare(cur[:], smallest[:]) < 0 {
			smallest = cur
		}
	}
	serA := serP(a)
	h, ok := tInputs.scalar(smallest[:], serA[:])
	if !ok {
		return h, fmt.Errorf("%w: input_hash", ErrInvalidScalar)
	}
	return h, nil
}

// CreateOutputs derives a sender's silent payment outputs: one taproot
// output key per recipient, in the recipients' order (encode each as a
// P2TR output with schnorr.SerializePubKey). Every input the transaction
// spends must be given, in any order; eligible ones must carry their Key.
//
// Recipients are grouped by scan key; within a group the k-th address
// gets P = B_m + hash_BIP0352/SharedSecret(ser_P(input_hash·a·B_scan) ||
// ser32(k))·G. It fails with ErrNoInputs, ErrInfinity (the keys sum to
// zero), ErrTooManyRecipients (a group larger than KMax),
// ErrWitnessVersion, ErrMissingKey or ErrInvalidScalar.
func CreateOutputs(inputs []Input, recipients []Address) ([]*btcec.PublicKey, error) {
	outs, _, err := createOutputs(inputs, recipients)
	return outs, err
}

// createOutputs is CreateOutputs, also returning each recipient's shared
// secret for the tests.
func createOutputs(inputs []Input, recipients []Address) ([]*btcec.PublicKey, [][33]byte, error) {
	if err := checkWitnessVersions(inputs); err != nil {
		return nil, nil, err
	}
	for i, r := range recipients {
		if err := r.check(); err != nil {
			return nil, nil, fmt.Errorf("recipient %d: %w", i, err)
		}
	}
	a, err := inputKeySum(inputs)
	if err != nil {
		return nil, nil, err
	}
	var bigA btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&a, &bigA)
	bigA.ToAffine()
	h, err := inputHash(inputs, &bigA)
	if err != nil {
		return nil, nil, err
	}
	var ha btcec.ModNScalar
	ha.Mul2(&h, &a)

	// Group by scan key, in order of first appearance.
	type group struct {
		shared [33]byte
		k      uint32
		size   int
	}
	groups := make(map[[33]byte]*group)
	order := make([]*group, len(recipients))
	for i, r := range recipients {
		key := [33]byte(r.Scan.SerializeCompressed())
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
		}
		g.size++
		if g.size > KMax {
			return nil, nil, fmt.Errorf("%w: more than %d", ErrTooManyRecipients, KMax)
		}
		order[i] = g
	}
	for i, r := range recipients {
		g := order[i]
		if g.k == 0 && g.shared[0] == 0 {
			bs := jacobian(r.Scan)
			var s btcec.JacobianPoint
			scalarMult(&ha, &bs, &s)
			s.ToAffine()
			g.shared = serP(&s)
		}
	}
	outs := make([]*btcec.PublicKey, len(recipients))
	shared := make([][33]byte, len(recipients))
	for i, r := range recipients {
		g := order[i]
		t, ok := tSharedSecret.scalar(g.shared[:], ser32(g.k))
		if !ok {
			return nil, nil, fmt.Errorf("%w: t_%d", ErrInvalidScalar, g.k)
		}
		g.k++
		var tg, p btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&t, &tg)
		bm := jacobian(r.Spend)
		btcec.AddNonConst(&bm, &tg, &p)
		if isInfinity(&p) {
			return nil, nil, fmt.Errorf("%w: output is the point at infinity", ErrInvalidScalar)
		}
		p.ToAffine()
		outs[i] = pubKey(&p)
		shared[i] = g.shared
	}
	return outs, shared, nil
}

// inputKeySum is a = a_1 + ... + a_n over the eligible inputs' private
// keys, each taproot key negated if its point has odd y.
func inputKeySum(inputs []Input) (btcec.ModNScalar, error) {
	var a btcec.ModNScalar
	n := 0
	for i, in := range inputs {
		pub, taproot, ok := InputPublicKey(in)
		if !ok {
			continue
		}
		if in.Key == nil {
			return a, fmt.Errorf("%w: input %d", ErrMissingKey, i)
		}
		k := in.Key.Key
		own := in.Key.PubKey()
		if taproot {
			if !bytes.Equal(schnorr.SerializePubKey(own), schnorr.SerializePubKey(pub)) {
				return a, fmt.Errorf("%w: input %d: key does not match the output key", ErrMissingKey, i)
			}
			if own.SerializeCompressed()[0] == 0x03 {
				k.Negate()
			}
		} else if !own.IsEqual(pub) {
			return a, fmt.Errorf("%w: input %d: key does not match the revealed key", ErrMissingKey, i)
		}
		a.Add(&k)
		n++
	}
	if n == 0 {
		return a, ErrNoInputs
	}
	if a.IsZero() {
		return a, ErrInfinity
	}
	return a, nil
}

// inputPubKeySum is A = A_1 + ... + A_n over the eligible inputs' public
// keys, as a receiver sees them.
func inputPubKeySum(inputs []Input) (btcec.JacobianPoint, error) {
	var sum btcec.JacobianPoint
	n := 0
	for _, in := range inputs {
		pub, _, ok := InputPublicKey(in)
		if !ok {
			continue
		}
		p := jacobian(pub)
		if n == 0 {
			sum = p
		} else {
			var next btcec.JacobianPoint
			btcec.AddNonConst(&sum, &p, &next)
			sum = next
		}
		n++
	}
	if n == 0 {
		return sum, ErrNoInputs
	}
	if isInfinity(&sum) {
		return sum, ErrInfinity
	}
	sum.ToAffine()
	return sum, nil
}

// TxTweak returns input_hash·A for a transaction's inputs: what a receiver
// multiplies by b_scan to get the shared secret, and what BIP-352 index
// servers publish per transaction for light clients. It fails with
// ErrWitnessVersion, ErrNoInputs or ErrInfinity when the transaction is
// not to be scanned, and ErrInvalidScalar.
func TxTweak(inputs []Input) (*btcec.PublicKey, error) {
	if err := checkWitnessVersions(inputs); err != nil {
		return nil, err
	}
	sum, err := inputPubKeySum(inputs)
	if err != nil {
		return nil, err
	}
	h, err := inputHash(inputs, &sum)
	if err != nil {
		return nil, err
	}
	var t btcec.JacobianPoint
	scalarMult(&h, &sum, &t)
	t.ToAffine()
	return pubKey(&t), nil
}

// Found is an output a scan found.
type Found struct {
	// Output is the taproot output key, x-only.
	Output [32]byte
	// Tweak gives the output's private key: [Keys.PrivateKey](Tweak).
	Tweak Tweak
	// Label is the label the output was paid to, if Labeled (0: change).
	Label   uint32
	Labeled bool
}

// Scan looks for this address's outputs among a transaction's taproot
// output keys (x-only, spent and unspent), given all its inputs. A
// transaction that is not a silent payment gives nil and ErrNoInputs,
// ErrInfinity or ErrWitnessVersion: skip it.
func (s *Scanner) Scan(inputs []Input, outputs [][32]byte) ([]Found, error) {
	tweak, err := TxTweak(inputs)
	if err != nil {
		return nil, err
	}
	return s.ScanTweak(tweak, outputs)
}

// ScanTweak is Scan from a transaction's [TxTweak], as a light client
// gets it from an index server.
func (s *Scanner) ScanTweak(tweak *btcec.PublicKey, outputs [][32]byte) ([]Found, error) {
	if tweak == nil {
		return nil, fmt.Errorf("%w: no tweak", ErrBadKey)
	}
	shared := s.sharedSecret(tweak)
	remaining := make(map[[32]byte]int, len(outputs))
	for _, o := range outputs {
		remaining[o]++
	}
	var found []Found
	take := func(x [32]byte, t *btcec.ModNScalar, l *label) bool {
		if remaining[x] == 0 {
			return false
		}
		remaining[x]--
		f := Found{Output: x, Tweak: Tweak(t.Bytes())}
		if l != nil {
			f.Label, f.Labeled = l.m, true
		}
		found = append(found, f)
		return true
	}
	for k := uint32(0); k < KMax && len(found) < len(outputs); k++ {
		t, ok := tSharedSecret.scalar(shared[:], ser32(k))
		if !ok {
			return found, fmt.Errorf("%w: t_%d", ErrInvalidScalar, k)
		}
		var tg, p btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&t, &tg)
		btcec.AddNonConst(&s.spend, &tg, &p)
		if isInfinity(&p) {
			break
		}
		p.ToAffine()
		if take(xOnly(&p), &t, nil) {
			continue
		}
		// Labels: does output = ±(P_k + label·G)? Comparing x only
		// covers both signs, as BIP-352's "negate and check again" does.
		matched := false
		for i := range s.labels {
			l := &s.labels[i]
			var q btcec.JacobianPoint
			btcec.AddNonConst(&p, &l.point, &q)
			if isInfinity(&q) {
				continue
			}
			q.ToAffine()
			var lt btcec.ModNScalar
			lt.Add2(&t, &l.tweak)
			if take(xOnly(&q), &lt, l) {
				matched = true
				break
			}
		}
		if !matched {
			break
		}
	}
	return found, nil
}

// sharedSecret is ser_P(b_scan·tweak).
func (s *Scanner) sharedSecret(tweak *btcec.PublicKey) [33]byte {
	t := jacobian(tweak)
	var p btcec.JacobianPoint
	scalarMult(&s.scan, &t, &p)
	p.ToAffine()
	return serP(&p)
}
