package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// The store as a first connection's provisioning flow sees it: the steps of
// one transaction (see DB.InTx).

// LockCertificate reads a certificate and locks it until the transaction
// ends: concurrent first connections of one certificate are provisioned one
// after the other, and the later ones find it provisioned. Returns NotFound.
func (tx *Tx) LockCertificate(ctx context.Context, id string) (*imprint.Certificate, error) {
	c, err := lockCertificate(ctx, tx.tx, id)
	return c, mapError(err)
}

// LockFirstConnection serializes the first connections of one certificate
// that is not recorded yet, so that one registers it and the others find it
// registered: a transaction-scoped advisory lock on the certificate ID.
func (tx *Tx) LockFirstConnection(ctx context.Context, id string) error {
	_, err := tx.tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('first-connection:' || $1, 0))`, id)
	return mapError(err)
}

// RecordCertificate records a certificate Imprint did not issue (or issued
// and is now registering), DER included, with a certificate.registered audit
// event holding data. Returns Conflict if it is recorded already.
func (tx *Tx) RecordCertificate(ctx context.Context, c *imprint.Certificate, actor imprint.Actor, data any) error {
	return tx.run(ctx, func(t pgx.Tx) error {
		err := t.QueryRow(ctx, `
			INSERT INTO certificates (id, serial, ca_id, subject, common_name, sans, key_algorithm,
			                          not_before, not_after, status, der)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			RETURNING created_at, updated_at, status_changed_at`,
			c.ID, c.Serial, c.CAID, c.Subject, c.CommonName, nonNilStrings(c.SANs), string(c.KeyAlgorithm),
			c.NotBefore, c.NotAfter, string(c.Status), c.DER).Scan(&c.CreatedAt, &c.UpdatedAt, &c.StatusChangedAt)
		if err != nil {
			return fmt.Errorf("insert certificate %s: %w", c.ID, err)
		}
		tx.create("certificate:" + c.ID)
		return insertEvent(ctx, t, imprint.EventCertificateRegistered, "certificate", c.ID, actor, data)
	})
}

// MarkProvisioned records that template provisioned the certificate, with
// its certificate.provisioned audit event holding data.
func (tx *Tx) MarkProvisioned(ctx context.Context, id, template string, actor imprint.Actor, data any) error {
	return tx.run(ctx, func(t pgx.Tx) error {
		tag, err := t.Exec(ctx, `UPDATE certificates SET provisioned_at = now(), provisioned_with = $2, updated_at = now()
			WHERE id = $1`, id, template)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return imprint.Errorf(imprint.NotFound, "certificate %s not found", id)
		}
		return insertEvent(ctx, t, imprint.EventCertificateProvisioned, "certificate", id, actor, data)
	})
}

// LockThing reads a thing and locks it until the transaction ends. Returns
// NotFound.
func (tx *Tx) LockThing(ctx context.Context, name string) (*imprint.Thing, error) {
	t, err := scanThing(tx.tx.QueryRow(ctx, `SELECT `+thingColumns+` FROM things WHERE name = $1 FOR UPDATE`, name))
	if err == pgx.ErrNoRows {
		return nil, notFound("thing %s not found", name)
	}
	return t, mapError(err)
}

// ThingGroupNames returns the names of the groups the thing is in, in order.
func (tx *Tx) ThingGroupNames(ctx context.Context, thing string) ([]string, error) {
	rows, err := tx.tx.Query(ctx, `SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name`, thing)
	if err != nil {
		return nil, mapError(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return names, mapError(err)
}

// RemoveThingFromGroup is DB.RemoveThingFromGroup within the flow's
// transaction, as one step.
func (tx *Tx) RemoveThingFromGroup(ctx context.Context, group, thing string, actor imprint.Actor) error {
	return removeThingFromGroup(ctx, tx, group, thing, actor)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
