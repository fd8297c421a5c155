package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// RegistrationCode returns the installation's registration code. When there
// is none, it records candidate as the code, with its
// registration_code.created audit event, in one transaction, and returns it;
// of two concurrent first reads, both get the one that committed.
func (db *DB) RegistrationCode(ctx context.Context, candidate string, actor imprint.Actor) (string, error) {
	var code string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO registration_codes (code) VALUES ($1)
			ON CONFLICT (singleton) DO NOTHING RETURNING code`, candidate).Scan(&code)
		if err == pgx.ErrNoRows { // there is one already
			return tx.QueryRow(ctx, `SELECT code FROM registration_codes`).Scan(&code)
		}
		if err != nil {
			return fmt.Errorf("insert registration code: %w", err)
		}
		return insertEvent(ctx, tx, imprint.EventRegistrationCodeCreated, "registration_code", "current", actor, nil)
	})
	return code, err
}

// CurrentRegistrationCode returns the registration code, or "" if there is
// none.
func (db *DB) CurrentRegistrationCode(ctx context.Context) (string, error) {
	var code string
	err := db.pool.QueryRow(ctx, `SELECT code FROM registration_codes`).Scan(&code)
	if err == pgx.ErrNoRows {
		return "", nil
	}
	if err != nil {
		return "", mapError(fmt.Errorf("select registration code: %w", err))
	}
	return code, nil
}

// DeleteRegistrationCode deletes the registration code, with its
// registration_code.deleted audit event, in one transaction, so that the
// next read makes a new one. It reports whether there was one.
func (db *DB) DeleteRegistrationCode(ctx context.Context, actor imprint.Actor) (bool, error) {
	deleted := false
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM registration_codes`)
		if err != nil {
			return fmt.Errorf("delete registration code: %w", err)
		}
		if deleted = tag.RowsAffected() > 0; !deleted {
			return nil
		}
		return insertEvent(ctx, tx, imprint.EventRegistrationCodeDeleted, "registration_code", "current", actor, nil)
	})
	return deleted, err
}

// RegisterCA records a customer's CA (role external, no key URI), with its
// JITP template if it names one, and its ca.registered audit event saying
// how its key was proved (proof), in one transaction, and tells the other
// replicas (ChannelCAs). Returns Conflict if the CA (by ID) or its name is
// recorded already, NotFound for an unknown template and Invalid for one
// that is not JITP.
func (db *DB) RegisterCA(ctx context.Context, c *imprint.CA, proof string, actor imprint.Actor) error {
	if c.Role != imprint.CAExternal || c.KeyURI != "" {
		return fmt.Errorf("register CA %s: not an external CA", c.ID)
	}
	profile, err := json.Marshal(c.Profile)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cas WHERE id = $1)`, c.ID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return imprint.Errorf(imprint.Conflict, "CA %s is already registered", c.ID)
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO cas (id, name, role, status, subject, common_name, serial, key_algorithm, der,
			                 not_before, not_after, profile, auto_registration)
			VALUES ($1, $2, 'external', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			RETURNING created_at, updated_at`,
			c.ID, c.Name, string(c.Status), c.Subject, c.CommonName, c.Serial, string(c.KeyAlgorithm), c.DER,
			c.NotBefore, c.NotAfter, profile, c.AutoRegistration).Scan(&c.CreatedAt, &c.UpdatedAt)
		if err != nil {
			return fmt.Errorf("insert CA %s: %w", c.Name, err)
		}
		if err := insertEvent(ctx, tx, imprint.EventCARegistered, "ca", c.ID, actor, map[string]any{
			"name": c.Name, "role": string(c.Role), "subject": c.Subject, "status": string(c.Status),
			"autoRegistration": c.AutoRegistration, "proof": proof,
		}); err != nil {
			return err
		}
		if c.ProvisioningTemplate != "" {
			if err := setCATemplate(ctx, tx, c.ID, c.ProvisioningTemplate, actor); err != nil {
				return err
			}
		}
		return notifyCA(ctx, tx, c.ID)
	})
}

// RegisterCertificates records device certificates signed elsewhere, with a
// certificate.registered audit event for each (the fields of the one a
// first connection writes, as AWS IoT's JITR notification has them, and the
// serial and common name), in one transaction. A
// certificate recorded already (by ID, or by its CA and serial) is left out
// and its place in the answer holds a Conflict saying which; the others are
// recorded. The answer has one error (or nil) per certificate, in order.
// Returns Unavailable if the database cannot be reached.
func (db *DB) RegisterCertificates(ctx context.Context, certs []imprint.Certificate, actor imprint.Actor) ([]error, error) {
	if len(certs) == 0 {
		return nil, nil
	}
	n := len(certs)
	var (
		ids, serials, caIDs, subjects, cns, sans, keyAlgs, statuses = make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		notBefore, notAfter = make([]time.Time, n), make([]time.Time, n)
		ders                = make([][]byte, n)
	)
	for i, c := range certs {
		ids[i], serials[i], caIDs[i], subjects[i], cns[i] = c.ID, c.Serial, c.CAID, c.Subject, c.CommonName
		sans[i], keyAlgs[i], statuses[i], ders[i] = textArrayLiteral(c.SANs), string(c.KeyAlgorithm), string(c.Status), c.DER
		notBefore[i], notAfter[i] = c.NotBefore, c.NotAfter
	}
	inserted := make(map[string]bool, n)
	known := map[string]bool{}
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			WITH c AS (
				INSERT INTO certificates (id, serial, ca_id, subject, common_name, sans, key_algorithm,
				                          not_before, not_after, status, der)
				SELECT id, serial, ca_id, subject, cn, sans::text[], alg, nb, na, status, der
				FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
				            $8::timestamptz[], $9::timestamptz[], $10::text[], $11::bytea[])
				     AS v(id, serial, ca_id, subject, cn, sans, alg, nb, na, status, der)
				ON CONFLICT DO NOTHING
				RETURNING id, serial, ca_id, common_name, status, created_at
			), e AS (
				INSERT INTO audit_events (type, resource_type, resource_id, actor_token, actor_name, actor_role, data, created_at)
				SELECT $12, 'certificate', id, $13, $14, $15,
				       jsonb_build_object('certificateId', id, 'caCertificateId', ca_id,
				           'timestamp', (extract(epoch FROM created_at) * 1000)::bigint, 'certificateStatus', status,
				           'certificateRegistrationTimestamp', ((extract(epoch FROM created_at) * 1000)::bigint)::text,
				           'serial', serial, 'commonName', common_name),
				       created_at
				FROM c
			)
			SELECT id FROM c`,
			ids, serials, caIDs, subjects, cns, sans, keyAlgs, notBefore, notAfter, statuses, ders,
			imprint.EventCertificateRegistered, nullable(actor.TokenID), actor.Name, string(actor.Role))
		if err != nil {
			return fmt.Errorf("insert %d registered certificates: %w", n, err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("insert %d registered certificates: %w", n, err)
		}
		for _, id := range got {
			inserted[id] = true
		}
		if len(got) == n {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT id FROM certificates WHERE id = ANY($1::text[])`, ids)
		if err != nil {
			return fmt.Errorf("select certificates: %w", err)
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("select certificates: %w", err)
		}
		for _, id := range have {
			known[id] = !inserted[id]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	errs := make([]error, n)
	seen := make(map[string]bool, n)
	for i, c := range certs {
		first := !seen[c.ID]
		seen[c.ID] = true
		switch {
		case inserted[c.ID] && first:
		case inserted[c.ID] || known[c.ID]:
			errs[i] = imprint.Errorf(imprint.Conflict, "certificate %s is already registered", c.ID)
		default:
			errs[i] = imprint.Errorf(imprint.Conflict, "CA %s has a certificate with serial %s already", c.CAID, c.Serial)
		}
	}
	return errs, nil
}
