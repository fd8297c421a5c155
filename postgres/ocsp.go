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

// ocspSignerLockClass is the first key of the advisory locks under which one
// replica at a time decides a CA's delegated OCSP signer.
const ocspSignerLockClass = 0x4f435350 // "OCSP"

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// OCSPSigner returns the CA's delegated OCSP signer that is valid longest,
// if it is valid at least until the given time. Returns NotFound otherwise.
func (db *DB) OCSPSigner(ctx context.Context, caID string, validUntil time.Time) (*imprint.OCSPSigner, error) {
	return currentOCSPSigner(ctx, db.pool, caID, validUntil)
}

func currentOCSPSigner(ctx context.Context, q querier, caID string, validUntil time.Time) (*imprint.OCSPSigner, error) {
	s := imprint.OCSPSigner{CAID: caID}
	err := q.QueryRow(ctx, `SELECT id, der, key_uri, not_before, not_after FROM ocsp_signers
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

// OCSPSignerOrCreate returns the CA's delegated OCSP signer valid at least
// until validUntil, as OCSPSigner does, or, when there is none, records the
// one that create makes and returns it. Replicas decide under an advisory
// lock per CA: while one makes a signer the others wait, then return it, so
// a CA gets one signer per rotation however many ask at once. create runs
// only when no signer is current; if it fails, or its signer cannot be
// recorded, nothing is recorded and the error is returned.
func (db *DB) OCSPSignerOrCreate(ctx context.Context, caID string, validUntil time.Time,
	create func(context.Context) (*imprint.OCSPSigner, error)) (*imprint.OCSPSigner, error) {
	var out *imprint.OCSPSigner
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, ocspSignerLockClass, caID); err != nil {
			return fmt.Errorf("lock OCSP signer of %s: %w", caID, err)
		}
		// Read committed: this reads what the lock's last holder committed.
		s, err := currentOCSPSigner(ctx, tx, caID, validUntil)
		switch {
		case err == nil:
			out = s
			return nil
		case imprint.ErrorKind(err) != imprint.NotFound:
			return err
		}
		if s, err = create(ctx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO ocsp_signers (id, ca_id, der, key_uri, not_before, not_after)
			VALUES ($1, $2, $3, $4, $5, $6)`, s.ID, s.CAID, s.DER, s.KeyURI, s.NotBefore, s.NotAfter); err != nil {
			return fmt.Errorf("insert OCSP signer: %w", err)
		}
		out = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
