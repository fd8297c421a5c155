package ca

import (
	"crypto/x509"
	"fmt"

	"github.com/imprint-iot/imprint"
)

// Record returns what Imprint records of a device certificate it did not
// sign through Issue (a customer CA's, presented on a first connection or
// registered by an admin), as recorded under the CA with ID caID and the
// given status: its ID, serial, subject, first common name, names, key type
// and validity, DER included. Returns Invalid for a key type Imprint does
// not accept.
func Record(cert *x509.Certificate, caID string, status imprint.CertificateStatus) (imprint.Certificate, error) {
	kt, err := KeyTypeOf(cert.PublicKey)
	if err != nil {
		return imprint.Certificate{}, err
	}
	cn := ""
	for _, atv := range cert.Subject.Names {
		if isX520(atv.Type) && atv.Type[3] == cnArc {
			if s, ok := atv.Value.(string); ok {
				cn = s
				break
			}
		}
	}
	return imprint.Certificate{
		ID: certificateID(cert.Raw), Serial: fmt.Sprintf("%x", cert.SerialNumber), CAID: caID,
		Subject: CertificateSubject(cert), CommonName: cn, SANs: sanList(cert), KeyAlgorithm: kt,
		NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), Status: status, DER: cert.Raw,
	}, nil
}
