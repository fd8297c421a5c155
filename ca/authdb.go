package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"github.com/smallstep/certificates/db"

	"github.com/imprint-iot/imprint"
)

// authDB is the embedded authority's database, answered from Imprint's store
// for one issuing CA. It deliberately does not implement smallstep's
// CertificateStorer: Issue's caller records each certificate together with its
// audit event in one transaction, in batches, which the per-certificate store
// hook could not do. Revocation is Imprint's own, for the same reason.
type authDB struct {
	store Store
	caID  string
}

var _ db.AuthDB = (*authDB)(nil)

// serialHex turns the decimal serial smallstep passes into our lowercase hex.
func serialHex(sn string) (string, error) {
	n, ok := new(big.Int).SetString(sn, 10)
	if !ok {
		return "", fmt.Errorf("malformed serial %q", sn)
	}
	return fmt.Sprintf("%x", n), nil
}

func (d *authDB) certificate(sn string) (*imprint.Certificate, error) {
	hexSN, err := serialHex(sn)
	if err != nil {
		return nil, err
	}
	return d.store.CertificateBySerial(context.Background(), d.caID, hexSN)
}

// IsRevoked reports whether the certificate with serial sn is revoked.
func (d *authDB) IsRevoked(sn string) (bool, error) {
	c, err := d.certificate(sn)
	if imprint.ErrorKind(err) == imprint.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return c.Status == imprint.CertificateRevoked, nil
}

// GetCertificate returns the certificate with serial sn.
func (d *authDB) GetCertificate(sn string) (*x509.Certificate, error) {
	c, err := d.certificate(sn)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(c.DER)
}

// Revoke is not used: Imprint revokes through its own store.
func (d *authDB) Revoke(*db.RevokedCertificateInfo) error { return db.ErrNotImplemented }

// UseToken refuses: Imprint authorises requests itself and passes no
// one-time tokens to the authority.
func (d *authDB) UseToken(string, string) (bool, error) {
	return false, errors.New("one-time tokens are not used")
}

// IsSSHRevoked reports false: Imprint issues no SSH certificates.
func (d *authDB) IsSSHRevoked(string) (bool, error) { return false, nil }

// RevokeSSH is not supported: Imprint issues no SSH certificates.
func (d *authDB) RevokeSSH(*db.RevokedCertificateInfo) error { return db.ErrNotImplemented }

// IsSSHHost reports false: Imprint issues no SSH certificates.
func (d *authDB) IsSSHHost(string) (bool, error) { return false, nil }

// GetSSHHostPrincipals returns none: Imprint issues no SSH certificates.
func (d *authDB) GetSSHHostPrincipals() ([]string, error) { return nil, nil }

// Shutdown does nothing; the store is closed by its owner.
func (d *authDB) Shutdown() error { return nil }
