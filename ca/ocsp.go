package ca

import (
	"crypto"
	"crypto/sha1" //nolint:gosec // RFC 6960 CertIDs and responder key hashes use SHA-1
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"hash"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/imprint-iot/imprint"
)

// OCSP response statuses (RFC 6960 4.2.1).
const (
	ocspSuccessful       = 0
	ocspMalformedRequest = 1
	ocspInternalError    = 2
	ocspTryLater         = 3
	ocspUnauthorized     = 6
)

var (
	oidOCSPBasic = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidSHA1      = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512    = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// MaxOCSPRequests is the most certificates one OCSP request may ask about.
const MaxOCSPRequests = 10

// ocspRequest is a parsed OCSPRequest (RFC 6960 4.1.1).
type ocspRequest struct {
	certs []ocspCertID
	nonce []byte // the nonce extension's value, echoed (RFC 8954); nil if none
}

// ocspCertID is one CertID, kept raw so the response echoes it exactly.
type ocspCertID struct {
	raw       []byte
	hashAlg   asn1.ObjectIdentifier
	nameHash  []byte
	keyHash   []byte
	serialHex string
}

var errMalformedOCSP = errors.New("malformed OCSP request")

// parseOCSPRequest parses an OCSPRequest; any fault is errMalformedOCSP.
func parseOCSPRequest(der []byte) (*ocspRequest, error) {
	input := cryptobyte.String(der)
	var req, tbs, list cryptobyte.String
	if !input.ReadASN1(&req, cbasn1.SEQUENCE) || !input.Empty() ||
		!req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, errMalformedOCSP
	}
	tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) // version
	tbs.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) // requestorName
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, errMalformedOCSP
	}
	out := &ocspRequest{}
	for !list.Empty() {
		var one cryptobyte.String
		if !list.ReadASN1(&one, cbasn1.SEQUENCE) || len(out.certs) == MaxOCSPRequests {
			return nil, errMalformedOCSP
		}
		id, err := parseCertID(&one)
		if err != nil {
			return nil, err
		}
		out.certs = append(out.certs, id)
	}
	if len(out.certs) == 0 {
		return nil, errMalformedOCSP
	}
	var exts cryptobyte.String
	var hasExts bool
	if !tbs.ReadOptionalASN1(&exts, &hasExts, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return nil, errMalformedOCSP
	}
	if hasExts {
		nonce, err := findNonce(exts)
		if err != nil {
			return nil, err
		}
		out.nonce = nonce
	}
	return out, nil
}

func parseCertID(one *cryptobyte.String) (ocspCertID, error) {
	var id ocspCertID
	var certID, alg cryptobyte.String
	if !one.ReadASN1Element(&certID, cbasn1.SEQUENCE) {
		return id, errMalformedOCSP
	}
	id.raw = certID
	var body cryptobyte.String
	var serial []byte
	if !certID.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&id.hashAlg) ||
		!body.ReadASN1Bytes(&id.nameHash, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Bytes(&id.keyHash, cbasn1.OCTET_STRING) ||
		!body.ReadASN1Bytes(&serial, cbasn1.INTEGER) || len(serial) == 0 || len(serial) > 21 || serial[0]&0x80 != 0 {
		return id, errMalformedOCSP
	}
	for len(serial) > 1 && serial[0] == 0 {
		serial = serial[1:]
	}
	id.serialHex = hexString(serial)
	return id, nil
}

func findNonce(exts cryptobyte.String) ([]byte, error) {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) {
		return nil, errMalformedOCSP
	}
	for !seq.Empty() {
		var ext cryptobyte.String
		var oid asn1.ObjectIdentifier
		var value []byte
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) {
			return nil, errMalformedOCSP
		}
		ext.SkipOptionalASN1(cbasn1.BOOLEAN)
		if !ext.ReadASN1Bytes(&value, cbasn1.OCTET_STRING) {
			return nil, errMalformedOCSP
		}
		if oid.Equal(oidOCSPNonce) {
			if len(value) > 34 { // RFC 8954: a nonce of at most 32 octets
				return nil, errMalformedOCSP
			}
			return value, nil
		}
	}
	return nil, nil
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	s := string(out)
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// issuerHashes are a CA's name and key hashes under each CertID hash
// algorithm, to tell whether a request is about one of its certificates.
type issuerHashes map[string][2][]byte

func newIssuerHashes(cert *x509.Certificate) (issuerHashes, error) {
	keyBits, err := publicKeyBits(cert)
	if err != nil {
		return nil, err
	}
	out := issuerHashes{}
	for _, h := range []struct {
		oid asn1.ObjectIdentifier
		new func() hash.Hash
	}{{oidSHA1, sha1.New}, {oidSHA256, sha256.New}, {oidSHA384, sha512.New384}, {oidSHA512, sha512.New}} {
		name, key := h.new(), h.new()
		name.Write(cert.RawSubject)
		key.Write(keyBits)
		out[h.oid.String()] = [2][]byte{name.Sum(nil), key.Sum(nil)}
	}
	return out, nil
}

func (h issuerHashes) matches(id ocspCertID) bool {
	want, ok := h[id.hashAlg.String()]
	return ok && string(want[0]) == string(id.nameHash) && string(want[1]) == string(id.keyHash)
}

// publicKeyBits returns the subjectPublicKey BIT STRING contents of cert.
func publicKeyBits(cert *x509.Certificate) ([]byte, error) {
	spki := cryptobyte.String(cert.RawSubjectPublicKeyInfo)
	var body cryptobyte.String
	var bits asn1.BitString
	if !spki.ReadASN1(&body, cbasn1.SEQUENCE) || !body.SkipASN1(cbasn1.SEQUENCE) || !body.ReadASN1BitString(&bits) {
		return nil, errors.New("malformed subject public key info")
	}
	return bits.Bytes, nil
}

// ocspStatus is what a responder says of one certificate.
type ocspStatus struct {
	known     bool
	revoked   bool
	revokedAt time.Time
	reason    imprint.RevocationReason
}

// ocspSigner signs responses: a delegated responder certificate, or the CA.
type ocspSigner struct {
	cert    *x509.Certificate // included in responses when delegated
	signer  crypto.Signer
	keyHash []byte // SHA-1 of the signer's public key: the ResponderID
	sigAlg  asn1.ObjectIdentifier
	hash    crypto.Hash
	chain   bool // include cert in the response
}

// encodeOCSPResponse builds and signs a successful response (RFC 6960 4.2.1).
func encodeOCSPResponse(s *ocspSigner, certs []ocspCertID, statuses []ocspStatus, nonce []byte,
	now, nextUpdate time.Time) ([]byte, error) {
	var tbs cryptobyte.Builder
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(s.keyHash)
		})
		b.AddASN1GeneralizedTime(now)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for i, id := range certs {
				addSingleResponse(b, id, statuses[i], now, nextUpdate)
			}
		})
		if nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidOCSPNonce)
						b.AddASN1OctetString(nonce)
					})
				})
			})
		}
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, err
	}
	sig, err := sign(s.signer, s.hash, tbsDER)
	if err != nil {
		return nil, err
	}
	var basic cryptobyte.Builder
	basic.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(s.sigAlg) })
		b.AddASN1BitString(sig)
		if s.chain {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(s.cert.Raw) })
			})
		}
	})
	basicDER, err := basic.Bytes()
	if err != nil {
		return nil, err
	}
	var resp cryptobyte.Builder
	resp.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(ocspSuccessful)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basicDER)
			})
		})
	})
	return resp.Bytes()
}

func addSingleResponse(b *cryptobyte.Builder, id ocspCertID, st ocspStatus, now, nextUpdate time.Time) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(id.raw)
		switch {
		case !st.known:
			b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
		case st.revoked:
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1GeneralizedTime(st.revokedAt.UTC().Truncate(time.Second))
				if st.reason != imprint.ReasonUnspecified {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						b.AddASN1Enum(int64(st.reason))
					})
				}
			})
		default:
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
		}
		b.AddASN1GeneralizedTime(now)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1GeneralizedTime(nextUpdate)
		})
	})
}

// ocspError is an unsuccessful OCSPResponse: just its status.
func ocspError(status int) []byte {
	return []byte{0x30, 0x03, 0x0a, 0x01, byte(status)}
}
