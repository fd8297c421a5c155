package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"

	"github.com/imprint-iot/imprint"
)

// MaxRenewalProof is the longest renewal proof accepted, in bytes: more than
// a signature by any key type a CA issues for.
const MaxRenewalProof = 1024

// RenewalMessage returns the bytes a renewal proof signs: the ASCII text
//
//	imprint-renewal-v1\n<certificate ID>\n<SHA-256 of the CSR's DER, hex>\n
//
// with the old certificate's ID and the digest in lowercase hexadecimal. It
// names both the certificate to replace and the request to replace it with,
// so a proof renews nothing else, and a certificate is renewed only once.
func RenewalMessage(certificateID string, csrDER []byte) []byte {
	sum := sha256.Sum256(csrDER)
	return fmt.Appendf(nil, "imprint-renewal-v1\n%s\n%s\n", certificateID, hex.EncodeToString(sum[:]))
}

// ProveRenewal reports what proves that the requester of a renewal of old by
// csr holds old's private key: ProofSignature if proof (which may be empty)
// is a signature of RenewalMessage(old.ID, csr.Raw) by that key, else
// ProofSameKey if csr is for that key, else "". A proof is an ASN.1 ECDSA
// signature of the message's SHA-256 for EC keys, an RSASSA-PKCS1-v1_5
// signature with SHA-256 (RFC 8017 8.2) for RSA keys, and a pure Ed25519
// signature of the message itself (RFC 8032) for Ed25519 keys: what
// `openssl dgst -sha256 -sign` and `openssl pkeyutl -sign -rawin` make.
// Returns Invalid if csr's signature does not verify, and Forbidden for a
// proof that does not verify.
func ProveRenewal(old *imprint.Certificate, csr *x509.CertificateRequest, proof []byte) (imprint.RenewalProof, error) {
	if err := csr.CheckSignature(); err != nil {
		return "", imprint.Errorf(imprint.Invalid, "csr signature does not verify")
	}
	cert, err := x509.ParseCertificate(old.DER)
	if err != nil {
		return "", fmt.Errorf("parse certificate %s: %w", old.ID, err)
	}
	if len(proof) > 0 {
		if err := checkProof(cert, RenewalMessage(old.ID, csr.Raw), proof); err != nil {
			return "", imprint.Errorf(imprint.Forbidden,
				"the proof is not a signature of the renewal message for certificate %s and this CSR by the certificate's key: %v", old.ID, err)
		}
		return imprint.ProofSignature, nil
	}
	if pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(csr.PublicKey) {
		return imprint.ProofSameKey, nil
	}
	return "", nil
}

func checkProof(cert *x509.Certificate, msg, sig []byte) error {
	var alg x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	case *rsa.PublicKey:
		alg = x509.SHA256WithRSA
	case ed25519.PublicKey:
		alg = x509.PureEd25519
	default:
		return fmt.Errorf("unsupported key type %T", cert.PublicKey)
	}
	return cert.CheckSignature(alg, msg, sig)
}
