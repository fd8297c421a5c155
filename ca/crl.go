package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/imprint-iot/imprint"
)

var (
	oidAuthorityKeyID    = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidCRLNumber         = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidDeltaCRLIndicator = asn1.ObjectIdentifier{2, 5, 29, 27}
	oidFreshestCRL       = asn1.ObjectIdentifier{2, 5, 29, 46}
	oidReasonCode        = asn1.ObjectIdentifier{2, 5, 29, 21}
	oidECDSAWithSHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
)

// SignCRL signs a CRL of the issuing CA caID listing the entries next yields.
// The entries are encoded as they come, so a CRL of a million entries costs
// its DER size in memory, not a million structures. A full CRL points to its
// delta CRLs (freshest CRL, RFC 5280 5.2.6). Returns NotFound for an unknown CA.
func (a *Authority) SignCRL(caID string, t imprint.CRLTemplate, next imprint.CRLEntries) ([]byte, error) {
	a.mu.RLock()
	iss, ok := a.issuers[caID]
	a.mu.RUnlock()
	if !ok {
		return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", caID)
	}
	sigAlg, hash, err := signatureAlgorithm(iss.signer.Public())
	if err != nil {
		return nil, err
	}
	freshest := ""
	if t.DeltaBase == 0 {
		freshest = iss.urls.deltaCRL
	}
	// About 40 bytes an entry: one buffer, sized once, for a CRL of any size.
	b := cryptobyte.NewBuilder(make([]byte, 0, 1024+45*t.Entries))
	b.AddASN1(cbasn1.SEQUENCE, func(tbs *cryptobyte.Builder) {
		tbs.AddASN1Int64(1) // v2
		tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(sigAlg) })
		tbs.AddBytes(iss.cert.RawSubject)
		addTime(tbs, t.ThisUpdate)
		addTime(tbs, t.NextUpdate)
		err = addEntries(tbs, next)
		tbs.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(exts *cryptobyte.Builder) { addCRLExtensions(exts, iss, t, freshest) })
		})
	})
	if err != nil {
		return nil, err
	}
	tbs, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode CRL: %w", err)
	}
	sig, err := sign(iss.signer, hash, tbs)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	out := cryptobyte.NewBuilder(make([]byte, 0, len(tbs)+len(sig)+64))
	out.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(sigAlg) })
		b.AddASN1BitString(sig)
	})
	return out.Bytes()
}

func addEntries(tbs *cryptobyte.Builder, next imprint.CRLEntries) error {
	first, ok, err := next()
	if err != nil || !ok {
		return err // an empty list is omitted (RFC 5280 5.1.2.6)
	}
	var buf [21]byte
	tbs.AddASN1(cbasn1.SEQUENCE, func(list *cryptobyte.Builder) {
		for e := first; ok; e, ok, err = next() {
			serial, serr := decodeHexSerial(buf[:0], e.Serial)
			if serr != nil {
				err = serr
				return
			}
			list.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addSerial(b, serial)
				addTime(b, e.RevokedAt)
				if e.Reason != imprint.ReasonUnspecified { // RFC 5280 5.3.1: omit unspecified
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidReasonCode)
							b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
								b.AddASN1Enum(int64(e.Reason))
							})
						})
					})
				}
			})
		}
	})
	return err
}

func addCRLExtensions(exts *cryptobyte.Builder, iss *issuer, t imprint.CRLTemplate, freshest string) {
	addExtension(exts, oidAuthorityKeyID, false, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(iss.cert.SubjectKeyId) })
		})
	})
	addExtension(exts, oidCRLNumber, false, func(b *cryptobyte.Builder) { b.AddASN1Int64(t.Number) })
	if t.DeltaBase != 0 {
		addExtension(exts, oidDeltaCRLIndicator, true, func(b *cryptobyte.Builder) { b.AddASN1Int64(t.DeltaBase) })
	}
	if freshest != "" {
		// CRLDistributionPoints ::= SEQUENCE OF DistributionPoint, with one
		// fullName URI (RFC 5280 4.2.1.13).
		addExtension(exts, oidFreshestCRL, false, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
							b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddBytes([]byte(freshest))
							})
						})
					})
				})
			})
		})
	}
}

func addExtension(b *cryptobyte.Builder, oid asn1.ObjectIdentifier, critical bool, value func(*cryptobyte.Builder)) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

// addSerial adds a positive INTEGER from its big-endian magnitude.
func addSerial(b *cryptobyte.Builder, mag []byte) {
	for len(mag) > 1 && mag[0] == 0 {
		mag = mag[1:]
	}
	b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
		if len(mag) == 0 || mag[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(mag)
	})
}

// addTime adds UTCTime through 2049 and GeneralizedTime after (RFC 5280 5.1.2.4).
func addTime(b *cryptobyte.Builder, t time.Time) {
	t = t.UTC()
	if t.Year() < 2050 {
		b.AddASN1UTCTime(t)
	} else {
		b.AddASN1GeneralizedTime(t)
	}
}

// signatureAlgorithm returns the signature algorithm of CRLs and OCSP
// responses signed by a key: ECDSA with SHA-256 for P-256, SHA-384 for P-384.
func signatureAlgorithm(pub crypto.PublicKey) (asn1.ObjectIdentifier, crypto.Hash, error) {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve {
		case elliptic.P256():
			return oidECDSAWithSHA256, crypto.SHA256, nil
		case elliptic.P384():
			return oidECDSAWithSHA384, crypto.SHA384, nil
		}
	}
	return nil, 0, errors.New("CA keys are ECDSA P-256 or P-384")
}

func sign(signer crypto.Signer, hash crypto.Hash, data []byte) ([]byte, error) {
	h := hash.New()
	h.Write(data)
	return signer.Sign(rand.Reader, h.Sum(nil), hash)
}

// SerialBytes turns a lowercase hex serial, as stored, into the magnitude
// CRLEntry wants.
func SerialBytes(hexSerial string) ([]byte, error) {
	n, ok := new(big.Int).SetString(hexSerial, 16)
	if !ok || n.Sign() < 0 {
		return nil, fmt.Errorf("malformed serial %q", hexSerial)
	}
	return n.Bytes(), nil
}

// decodeHexSerial appends the bytes of a hex serial (of any length parity)
// to dst, without the allocations of big.Int: a CRL decodes a million.
func decodeHexSerial(dst []byte, s string) ([]byte, error) {
	if s == "" || len(s) > 2*cap(dst) {
		return nil, fmt.Errorf("malformed serial %q", s)
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	for i := 0; i < len(s); i += 2 {
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("malformed serial %q", s)
		}
		dst = append(dst, hi<<4|lo)
	}
	return dst, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
