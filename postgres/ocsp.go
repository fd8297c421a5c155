package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// CertificateStanding returns the status of the certificate of a CA with the
// given lowercase hex serial: the one lookup OCSP makes. Returns NotFound.
func (db *DB) CertificateStanding(ctx context.Context, caID, serial string) (*imprint.Standing, error) {
	var (
		s         imprint.Standing
		status    string
		revokedAt *time.Time
		reason    *int16
		by        string
	)
	err := db.pool.QueryRow(ctx, `SELECT status, status_changed_at, revoked_at, revocation_reason, coalesce(revoked_by, '')
		FROM certificates WHERE ca_id = $1 AND serial = $2`, caID, serial).
		Scan(&status, &s.StatusChangedAt, &revokedAt, &reason, &by)
	if err != nil {
		if err == pgx.ErrNoRows {
			return nil, imprint.Errorf(imprint.NotFound, "no certificate with serial %s", serial)
		}
		return nil, mapError(fmt.Errorf("certificate standing: %w", err))
	}
	s.Status = imprint.CertificateStatus(status)
	if revokedAt != nil && reason != nil {
		s.Revocation = &imprint.Revocation{At: *revokedAt, Reason: imprint.RevocationReason(*reason), By: by}
	}
	return &s, nil
}

// OCSPSigner returns the CA's delegated OCSP signer that is valid longest,
// if it is valid at least until the given time. Returns NotFound otherwise.
func (db *DB) OCSPSigner(ctx context.Context, caID string, validUntil time.Time) (*imprint.OCSPSigner, error) {
	s := imprint.OCSPSigner{CAID: caID}
	err := db.pool.QueryRow(ctx, `SELECT id, der, key_uri, not_before, not_after FROM ocsp_signers
		WHERE ca_id = $1 AND not_after > $2 AND not_before <= now() ORDER BY not_after DESC LIMIT 1`, caID, validUntil).
		Scan(&s.ID, &s.DER, &s.KeyURI, &s.NotBefore, &s.NotAfter)
	if err != nil {
		if err == pgx.ErrNoRows {
			return nil, imprint.Errorf(imprint.NotFound, "no current OCSP signer for CA %s", caID)
		}
		return nil, mapError(fmt.Errorf("select OCSP signer: %w", err))
	}
	return &s, nil
}

// CreateOCSPSigner records a delegated OCSP signer.
func (db *DB) CreateOCSPSigner(ctx context.Context, s *imprint.OCSPSigner) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO ocsp_signers (id, ca_id, der, key_uri, not_before, not_after)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.ID, s.CAID, s.DER, s.KeyURI, s.NotBefore, s.NotAfter)
	return mapError(err)
}
