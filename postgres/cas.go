package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

const caColumns = `id, name, role, coalesce(parent_id, ''), status, subject, common_name, serial,
	key_algorithm, coalesce(key_uri, ''), der, not_before, not_after, profile, coalesce(provisioning_template, ''),
	auto_registration, created_at, updated_at`

// CreateCA records a CA and its ca.created audit event in one transaction,
// and tells the other replicas (ChannelCAs). Returns Conflict if the name or
// ID is taken.
func (db *DB) CreateCA(ctx context.Context, ca *imprint.CA, actor imprint.Actor) error {
	profile, err := json.Marshal(ca.Profile)
	if err != nil {
		return fmt.Errorf("encode profile: %w", err)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO cas (id, name, role, parent_id, status, subject, common_name, serial,
			                 key_algorithm, key_uri, der, not_before, not_after, profile, auto_registration)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
			RETURNING created_at, updated_at`,
			ca.ID, ca.Name, string(ca.Role), nullable(ca.ParentID), string(ca.Status), ca.Subject,
			ca.CommonName, ca.Serial, string(ca.KeyAlgorithm), nullable(ca.KeyURI), ca.DER, ca.NotBefore,
			ca.NotAfter, profile, ca.AutoRegistration).Scan(&ca.CreatedAt, &ca.UpdatedAt)
		if err != nil {
			return fmt.Errorf("insert CA %s: %w", ca.Name, err)
		}
		if err := insertEvent(ctx, tx, imprint.EventCACreated, "ca", ca.ID, actor, map[string]string{
			"name": ca.Name, "role": string(ca.Role), "subject": ca.Subject,
		}); err != nil {
			return err
		}
		return notifyCA(ctx, tx, ca.ID)
	})
}

// CA returns the CA with the given ID. Returns NotFound if there is none.
func (db *DB) CA(ctx context.Context, id string) (*imprint.CA, error) {
	ca, err := scanCA(db.pool.QueryRow(ctx, `SELECT `+caColumns+` FROM cas WHERE id = $1`, id))
	if err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "CA %s not found", id)
		}
		return nil, mapError(fmt.Errorf("select CA %s: %w", id, err))
	}
	return ca, nil
}

// CAs returns every CA, roots first, then by creation time.
func (db *DB) CAs(ctx context.Context) ([]*imprint.CA, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+caColumns+` FROM cas
		ORDER BY role = 'root' DESC, created_at, id`)
	if err != nil {
		return nil, mapError(fmt.Errorf("select CAs: %w", err))
	}
	cas, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*imprint.CA, error) { return scanCA(row) })
	if err != nil {
		return nil, mapError(fmt.Errorf("select CAs: %w", err))
	}
	return cas, nil
}

func scanCA(row pgx.Row) (*imprint.CA, error) {
	var (
		ca                   imprint.CA
		role, status, keyAlg string
		profile              []byte
	)
	err := row.Scan(&ca.ID, &ca.Name, &role, &ca.ParentID, &status, &ca.Subject, &ca.CommonName,
		&ca.Serial, &keyAlg, &ca.KeyURI, &ca.DER, &ca.NotBefore, &ca.NotAfter, &profile,
		&ca.ProvisioningTemplate, &ca.AutoRegistration, &ca.CreatedAt, &ca.UpdatedAt)
	if err != nil {
		return nil, err
	}
	ca.Role, ca.Status, ca.KeyAlgorithm = imprint.CARole(role), imprint.CAStatus(status), imprint.KeyType(keyAlg)
	if err := json.Unmarshal(profile, &ca.Profile); err != nil {
		return nil, fmt.Errorf("decode profile of CA %s: %w", ca.ID, err)
	}
	return &ca, nil
}

// UpdateCA changes a CA's status, auto-registration and JITP template, as
// many as u names, with an audit event for each change, in one transaction,
// and tells the other replicas (ChannelCAs). It returns the CA as it is
// after the change. An INACTIVE CA issues nothing and its devices cannot
// connect. Returns NotFound for an unknown CA or template, and Invalid for
// another status or a template that is not JITP.
func (db *DB) UpdateCA(ctx context.Context, id string, u imprint.CAUpdate, actor imprint.Actor) (*imprint.CA, error) {
	if u.Status != nil && *u.Status != imprint.CAActive && *u.Status != imprint.CAInactive {
		return nil, imprint.Errorf(imprint.Invalid, "status must be ACTIVE or INACTIVE")
	}
	var out *imprint.CA
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCA(tx.QueryRow(ctx, `SELECT `+caColumns+` FROM cas WHERE id = $1 FOR UPDATE`, id))
		if err == pgx.ErrNoRows {
			return imprint.Errorf(imprint.NotFound, "CA %s not found", id)
		}
		if err != nil {
			return err
		}
		out = c
		changed := false
		if u.Status != nil && *u.Status != c.Status {
			typ := imprint.EventCAActivated
			if *u.Status == imprint.CAInactive {
				typ = imprint.EventCADeactivated
			}
			if _, err := tx.Exec(ctx, `UPDATE cas SET status = $2, status_changed_at = now(), updated_at = now()
				WHERE id = $1`, id, string(*u.Status)); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, typ, "ca", id, actor, map[string]string{"name": c.Name}); err != nil {
				return err
			}
			c.Status, changed = *u.Status, true
		}
		if u.AutoRegistration != nil && *u.AutoRegistration != c.AutoRegistration {
			if _, err := tx.Exec(ctx, `UPDATE cas SET auto_registration = $2, updated_at = now() WHERE id = $1`,
				id, *u.AutoRegistration); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, imprint.EventCAAutoRegistrationSet, "ca", id, actor,
				map[string]bool{"autoRegistration": *u.AutoRegistration}); err != nil {
				return err
			}
			c.AutoRegistration, changed = *u.AutoRegistration, true
		}
		if u.ProvisioningTemplate != nil && *u.ProvisioningTemplate != c.ProvisioningTemplate {
			if err := setCATemplate(ctx, tx, id, *u.ProvisioningTemplate, actor); err != nil {
				return err
			}
			c.ProvisioningTemplate, changed = *u.ProvisioningTemplate, true
		}
		if !changed {
			return nil
		}
		return notifyCA(ctx, tx, id)
	})
	return out, err
}

// notifyCA tells the other replicas that the CA changed.
func notifyCA(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, imprint.ChannelCAs, id)
	return err
}
