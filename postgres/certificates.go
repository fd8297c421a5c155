package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// CreateCertificates records newly issued certificates, an audit event for
// each, and, when idem is not nil, the response of the request that issued
// them, all in one transaction. Concurrent calls are grouped into shared
// transactions (group commit); a call returns once its rows are committed.
// Returns Conflict if a certificate or serial is already recorded and
// Unavailable if the database cannot be reached.
func (db *DB) CreateCertificates(ctx context.Context, certs []imprint.Certificate, actor imprint.Actor, idem *imprint.IdempotentResponse) error {
	if len(certs) == 0 && idem == nil {
		return nil
	}
	return db.writer.write(ctx, &writeUnit{certs: certs, actor: actor, idem: idem})
}

const certificateColumns = `id, serial, ca_id, subject, common_name, sans, key_algorithm,
	not_before, not_after, status, created_at, updated_at, status_changed_at, revoked_at,
	revocation_reason, coalesce(revoked_by, ''), coalesce(renewed_from, ''), coalesce(superseded_by, ''), provisioned_at`

// Certificate returns the certificate with the given ID, DER included.
// Returns NotFound if there is none.
func (db *DB) Certificate(ctx context.Context, id string) (*imprint.Certificate, error) {
	row := db.pool.QueryRow(ctx, `SELECT `+certificateColumns+`, der FROM certificates WHERE id = $1`, id)
	var c imprint.Certificate
	if err := scanCertificate(row, &c, &c.DER); err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "certificate %s not found", id)
		}
		return nil, mapError(fmt.Errorf("select certificate %s: %w", id, err))
	}
	return &c, nil
}

// Certificates returns a page of certificates matching f, oldest first,
// without their DER, and the cursor of the next page ("" on the last page).
// Returns Invalid for a malformed cursor.
func (db *DB) Certificates(ctx context.Context, f imprint.CertificateFilter) ([]imprint.Certificate, string, error) {
	var (
		where []string
		args  []any
	)
	add := func(clause string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(clause, len(args)))
	}
	if f.CAID != "" {
		add("ca_id = $%d", f.CAID)
	}
	if f.Status != "" {
		add("status = $%d", string(f.Status))
	}
	if f.CommonName != "" {
		add("common_name = $%d", f.CommonName)
	}
	if !f.CreatedAfter.IsZero() {
		add("created_at > $%d", f.CreatedAfter)
	}
	if !f.CreatedBefore.IsZero() {
		add("created_at < $%d", f.CreatedBefore)
	}
	if f.After != "" {
		at, id, err := decodeCertificateCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		args = append(args, at, id)
		where = append(where, fmt.Sprintf("(created_at, id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	limit := imprint.PageLimit(f.Limit)
	q := `SELECT ` + certificateColumns + ` FROM certificates`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += fmt.Sprintf(` ORDER BY created_at, id LIMIT %d`, limit+1)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, "", mapError(fmt.Errorf("list certificates: %w", err))
	}
	defer rows.Close()
	var out []imprint.Certificate
	for rows.Next() {
		var c imprint.Certificate
		if err := scanCertificate(rows, &c); err != nil {
			return nil, "", mapError(fmt.Errorf("scan certificate: %w", err))
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", mapError(fmt.Errorf("list certificates: %w", err))
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = imprint.EncodeCursor("certificates", strconv.FormatInt(last.CreatedAt.UnixMicro(), 10), last.ID)
	}
	return out, next, nil
}

func scanCertificate(row pgx.Row, c *imprint.Certificate, extra ...any) error {
	var (
		keyAlg, status, revokedBy string
		revokedAt, provisionedAt  *time.Time
		reason                    *int16
	)
	dest := []any{&c.ID, &c.Serial, &c.CAID, &c.Subject, &c.CommonName, &c.SANs, &keyAlg,
		&c.NotBefore, &c.NotAfter, &status, &c.CreatedAt, &c.UpdatedAt, &c.StatusChangedAt, &revokedAt,
		&reason, &revokedBy, &c.RenewedFrom, &c.SupersededBy, &provisionedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	c.KeyAlgorithm = imprint.KeyType(keyAlg)
	c.Status = imprint.CertificateStatus(status)
	if revokedAt != nil && reason != nil {
		c.Revocation = &imprint.Revocation{At: *revokedAt, Reason: imprint.RevocationReason(*reason), By: revokedBy}
	}
	if provisionedAt != nil {
		c.ProvisionedAt = *provisionedAt
	}
	return nil
}

// isHexID reports whether id is a certificate or CA ID: 64 lowercase hex
// digits.
func isHexID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// decodeCertificateCursor reads the (created_at, id) keyset position of a
// cursor that Certificates made. Returns Invalid naming the cursor.
func decodeCertificateCursor(s string) (time.Time, string, error) {
	parts, err := imprint.DecodeCursor("certificates", s, 2)
	if err != nil {
		return time.Time{}, "", err
	}
	us, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || !isHexID(parts[1]) {
		return time.Time{}, "", imprint.Errorf(imprint.Invalid, "cursor is malformed: pass the nextCursor of the previous page of this listing")
	}
	return time.UnixMicro(us).UTC(), parts[1], nil
}

// CertificateBySerial returns the certificate of the given CA with the given
// lowercase hex serial, DER included. Returns NotFound if there is none.
func (db *DB) CertificateBySerial(ctx context.Context, caID, serial string) (*imprint.Certificate, error) {
	row := db.pool.QueryRow(ctx, `SELECT `+certificateColumns+`, der FROM certificates
		WHERE ca_id = $1 AND serial = $2`, caID, serial)
	var c imprint.Certificate
	if err := scanCertificate(row, &c, &c.DER); err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "certificate with serial %s not found", serial)
		}
		return nil, mapError(fmt.Errorf("select certificate by serial: %w", err))
	}
	return &c, nil
}
