package dht

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"

	"github.com/foxtrotnet/foxtrot/internal/codec"
)

// Record bounds.
const (
	// MaxSalt bounds a record's salt, as BEP 44 does.
	MaxSalt = 64
	// MaxValue bounds a record's value (BEP 44 allows 1000 bytes; a
	// listener record with a few relays and multiaddrs needs a little more).
	MaxValue = 1024
	// MaxRecordSize is the largest encoded record.
	MaxRecordSize = 1 + 32 + 1 + MaxSalt + 8 + 8 + 2 + MaxValue + 64
)

// recordLocator is the flag bit of a locator record.
const recordLocator = 0x01

// recordSigTag domain-separates record signatures.
const recordSigTag = "foxtrot/dht/record/v1"

// Record is a mutable item in the manner of BEP 44: a value signed by a
// key, with a sequence number that only grows, an optional salt (so one
// key can publish several records), and an expiry (which BEP 44 leaves to
// the storing node; here the publisher states it and storers bound it).
//
// Signatures are BIP-340 Schnorr over secp256k1 (btcec/v2/schnorr), so Key
// is the 32-byte x-only public key: one encoding per key, 64-byte
// signatures.
//
// A record is stored under its Target: SHA-256(Key || Salt), as BEP 44
// does, so only the key's holder can write there. A locator record
// (Locator true; the salt is exactly 32 bytes) is stored under Target =
// Salt instead: several keys may write under one locator (a store keeps at
// most MaxKeysPerTarget of them), each under its own seq. Listener records
// are locator records (blind.go): the dialler can compute the locator but
// not the blinded key that signs.
type Record struct {
	Locator bool
	Key     [32]byte
	Salt    []byte
	Seq     uint64
	// Expires is when storers drop the record (second resolution).
	Expires time.Time
	Value   []byte
	Sig     [64]byte
}

// Target returns where r is stored.
func (r *Record) Target() ID {
	if r.Locator {
		return ID(r.Salt)
	}
	h := sha256.New()
	h.Write(r.Key[:])
	h.Write(r.Salt)
	return ID(h.Sum(nil))
}

// appendSigned appends the signed part of r: all but the signature.
func (r *Record) appendSigned(b []byte) []byte {
	var flags byte
	if r.Locator {
		flags |= recordLocator
	}
	b = append(b, flags)
	b = append(b, r.Key[:]...)
	b = append(b, byte(len(r.Salt)))
	b = append(b, r.Salt...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires.Unix()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Value)))
	return append(b, r.Value...)
}

// sigHash is what the key signs.
func (r *Record) sigHash() [32]byte {
	return sha256.Sum256(r.appendSigned([]byte(recordSigTag)))
}

// Append appends r's encoding (SPEC.md, "Record").
func (r *Record) Append(b []byte) []byte {
	b = r.appendSigned(b)
	return append(b, r.Sig[:]...)
}

// Size returns the length of r's encoding.
func (r *Record) Size() int { return 1 + 32 + 1 + len(r.Salt) + 8 + 8 + 2 + len(r.Value) + 64 }

// check reports a field over its bound.
func (r *Record) check() error {
	switch {
	case len(r.Salt) > MaxSalt:
		return fmt.Errorf("%w: salt of %d bytes", ErrTooLarge, len(r.Salt))
	case len(r.Value) > MaxValue:
		return fmt.Errorf("%w: value of %d bytes", ErrTooLarge, len(r.Value))
	case r.Locator && len(r.Salt) != IDSize:
		return fmt.Errorf("%w: a locator record's salt is %d bytes, not %d", ErrMalformed, len(r.Salt), IDSize)
	case r.Expires.Unix() < 0:
		return fmt.Errorf("%w: expiry before 1970", ErrMalformed)
	}
	return nil
}

// Sign sets r.Key to key's x-only public key and signs r.
func (r *Record) Sign(key *btcec.PrivateKey) error {
	if err := r.check(); err != nil {
		return err
	}
	copy(r.Key[:], schnorr.SerializePubKey(key.PubKey()))
	h := r.sigHash()
	sig, err := schnorr.Sign(key, h[:])
	if err != nil {
		return err
	}
	copy(r.Sig[:], sig.Serialize())
	return nil
}

// Verify checks r's bounds and signature.
func (r *Record) Verify() error {
	if err := r.check(); err != nil {
		return err
	}
	pub, err := schnorr.ParsePubKey(r.Key[:])
	if err != nil {
		return fmt.Errorf("%w: key: %v", ErrBadSignature, err)
	}
	sig, err := schnorr.ParseSignature(r.Sig[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	h := r.sigHash()
	if !sig.Verify(h[:], pub) {
		return ErrBadSignature
	}
	return nil
}

// sameContent reports whether r and o carry the same signed content.
func (r *Record) sameContent(o *Record) bool {
	return r.Seq == o.Seq && r.Expires.Unix() == o.Expires.Unix() && bytes.Equal(r.Value, o.Value)
}

// DecodeRecord parses one encoded record, exactly; it checks bounds, not
// the signature (Verify does).
func DecodeRecord(b []byte) (*Record, error) {
	d := codec.NewReader(b, ErrMalformed)
	r := decodeRecord(d)
	if d.Err() == nil && d.Len() != 0 {
		d.Fail("record: %d trailing bytes", d.Len())
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeRecord reads one record from d; d's error reports problems.
func decodeRecord(d *codec.Reader) *Record {
	r := new(Record)
	flags := d.U8()
	if flags&^recordLocator != 0 {
		d.Fail("record: flags %#x", flags)
	}
	r.Locator = flags&recordLocator != 0
	d.Copy(r.Key[:])
	n := int(d.U8())
	if n > MaxSalt {
		d.Fail("record: salt of %d bytes", n)
	}
	if n > 0 {
		r.Salt = bytes.Clone(d.Take(n))
	}
	r.Seq = d.U64()
	exp := d.U64()
	if exp > 1<<62 {
		d.Fail("record: expiry %d", exp)
	}
	r.Expires = time.Unix(int64(exp), 0)
	n = int(d.U16())
	if n > MaxValue {
		d.Fail("record: value of %d bytes", n)
	}
	if n > 0 {
		r.Value = bytes.Clone(d.Take(n))
	}
	d.Copy(r.Sig[:])
	if d.Err() == nil && r.Locator && len(r.Salt) != IDSize {
		d.Fail("record: locator salt of %d bytes", len(r.Salt))
	}
	if d.Err() != nil {
		return nil
	}
	return r
}
