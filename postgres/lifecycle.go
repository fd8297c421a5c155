package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// lockCertificate reads a certificate for update. Returns NotFound.
func lockCertificate(ctx context.Context, tx pgx.Tx, id string) (*imprint.Certificate, error) {
	var c imprint.Certificate
	err := scanCertificate(tx.QueryRow(ctx, `SELECT `+certificateColumns+` FROM certificates
		WHERE id = $1 FOR UPDATE`, id), &c)
	if err != nil {
		if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
			return nil, imprint.Errorf(imprint.NotFound, "certificate %s not found", id)
		}
		return nil, fmt.Errorf("lock certificate %s: %w", id, err)
	}
	return &c, nil
}

// notifyRevocation marks the CA's CRL out of date and announces the change,
// both taking effect when tx commits. An external CA's CRL is not marked:
// Imprint does not hold its key and publishes none for it.
func notifyRevocation(ctx context.Context, tx pgx.Tx, caID, serial string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO crl_dirty (ca_id) SELECT id FROM cas WHERE id = $1 AND role <> 'external'
		ON CONFLICT (ca_id) DO UPDATE SET since = excluded.since`, caID); err != nil {
		return fmt.Errorf("mark CRL of %s: %w", caID, err)
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, imprint.ChannelRevocations, caID+" "+serial)
	return err
}

// SetCertificateStatus moves a certificate to ACTIVE or INACTIVE, with its
// audit event, and returns it as it now is. Returns NotFound, Invalid for a
// status a client may not set, and Conflict, naming the current status, for a
// transition the lifecycle does not allow. Setting the status it has is a
// no-op that succeeds.
func (db *DB) SetCertificateStatus(ctx context.Context, id string, to imprint.CertificateStatus, actor imprint.Actor) (*imprint.Certificate, error) {
	return setCertificateStatus(ctx, db.own(), id, to, actor)
}

// SetCertificateStatus is DB.SetCertificateStatus within the flow's transaction.
func (tx *Tx) SetCertificateStatus(ctx context.Context, id string, to imprint.CertificateStatus, actor imprint.Actor) (*imprint.Certificate, error) {
	return setCertificateStatus(ctx, tx, id, to, actor)
}

func setCertificateStatus(ctx context.Context, r runner, id string, to imprint.CertificateStatus, actor imprint.Actor) (*imprint.Certificate, error) {
	if to != imprint.CertificateActive && to != imprint.CertificateInactive {
		return nil, imprint.Errorf(imprint.Invalid, "status must be ACTIVE or INACTIVE (revoke with POST /v1/certificates/{id}/revoke)")
	}
	var out *imprint.Certificate
	err := r.run(ctx, func(tx pgx.Tx) error {
		c, err := lockCertificate(ctx, tx, id)
		if err != nil {
			return err
		}
		if c.Status == to {
			out = c
			return nil
		}
		if err := imprint.CheckTransition(id, c.Status, to); err != nil {
			return err
		}
		// A release from hold is dated for the delta CRL (RFC 5280 5.3.1 removeFromCRL).
		released := c.Status == imprint.CertificateInactive && to == imprint.CertificateActive
		if err := tx.QueryRow(ctx, `UPDATE certificates SET status = $2, status_changed_at = now(), updated_at = now(),
			released_from_hold_at = CASE WHEN $3 THEN now() ELSE released_from_hold_at END
			WHERE id = $1 RETURNING status_changed_at`, id, string(to), released).Scan(&c.StatusChangedAt); err != nil {
			return fmt.Errorf("update status: %w", err)
		}
		typ := imprint.EventCertificateActivated
		if to == imprint.CertificateInactive {
			typ = imprint.EventCertificateDeactivated
		}
		if err := insertEvent(ctx, tx, typ, "certificate", id, actor, statusEventData(c, to)); err != nil {
			return err
		}
		from := c.Status
		c.Status, c.UpdatedAt = to, c.StatusChangedAt
		out = c
		if from != imprint.CertificateInactive && to != imprint.CertificateInactive {
			// PENDING_ACTIVATION to ACTIVE: neither the CRL nor OCSP
			// changes (both say good of either), and no replica keeps a
			// pending certificate. Announcing it would make every
			// first connection wait for the notification lock at commit.
			return nil
		}
		return notifyRevocation(ctx, tx, c.CAID, c.Serial)
	})
	return out, err
}

// RevokeCertificate revokes a certificate for reason, recording who, when
// and why with its audit event. From the commit on, OCSP answers revoked.
// Returns NotFound, and Conflict if it is already revoked.
func (db *DB) RevokeCertificate(ctx context.Context, id string, reason imprint.RevocationReason, actor imprint.Actor) (*imprint.Certificate, error) {
	var out *imprint.Certificate
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		c, err := revokeInTx(ctx, tx, id, reason, actor, nil)
		out = c
		return err
	})
	return out, err
}

// RevokeThing revokes every certificate attached to the thing that is not
// revoked yet, for reason, in one transaction (each with its audit event,
// which names the thing), and returns them. A thing with none is no error.
// Returns NotFound for an unknown thing.
func (db *DB) RevokeThing(ctx context.Context, thing string, reason imprint.RevocationReason, actor imprint.Actor) ([]*imprint.Certificate, error) {
	var out []*imprint.Certificate
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		var found bool
		if err := tx.QueryRow(ctx, `SELECT true FROM things WHERE name = $1 FOR UPDATE`, thing).Scan(&found); err == pgx.ErrNoRows {
			return imprint.Errorf(imprint.NotFound, "thing %s not found", thing)
		} else if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT p.certificate_id FROM thing_principals p JOIN certificates c ON c.id = p.certificate_id
			WHERE p.thing_name = $1 AND c.status <> 'REVOKED' ORDER BY p.certificate_id`, thing)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range ids {
			c, err := revokeInTx(ctx, tx, id, reason, actor, map[string]string{"thing": thing})
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

func revokeInTx(ctx context.Context, tx pgx.Tx, id string, reason imprint.RevocationReason, actor imprint.Actor, extra map[string]string) (*imprint.Certificate, error) {
	c, err := lockCertificate(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if c.Status == imprint.CertificateRevoked {
		return nil, imprint.Errorf(imprint.Conflict, "certificate %s is already REVOKED (since %s, %s)",
			id, c.Revocation.At.UTC().Format(time.RFC3339), c.Revocation.Reason)
	}
	rev := imprint.Revocation{Reason: reason, By: actor.Name}
	err = tx.QueryRow(ctx, `
		UPDATE certificates SET status = 'REVOKED', revoked_at = now(), revocation_reason = $2,
			revoked_by = $3, status_changed_at = now(), updated_at = now(), revoke_after = NULL
		WHERE id = $1 RETURNING revoked_at`, id, int16(reason), actor.Name).Scan(&rev.At)
	if err != nil {
		return nil, fmt.Errorf("revoke %s: %w", id, err)
	}
	data := map[string]string{"from": string(c.Status), "reason": reason.String(), "serial": c.Serial, "caId": c.CAID}
	for k, v := range extra {
		data[k] = v
	}
	if err := insertEvent(ctx, tx, imprint.EventCertificateRevoked, "certificate", id, actor, data); err != nil {
		return nil, err
	}
	c.Status, c.Revocation, c.StatusChangedAt, c.UpdatedAt = imprint.CertificateRevoked, &rev, rev.At, rev.At
	return c, notifyRevocation(ctx, tx, c.CAID, c.Serial)
}

// RenewCertificate records renewal, a new certificate for the subject of
// old, and links the two. With no grace the old certificate is revoked as
// superseded in the same transaction; otherwise it is revoked once the grace
// has passed (see RevokeSuperseded). proof, what showed the requester may
// renew, goes into the certificate.renewed event. Returns NotFound, and
// Conflict if the old certificate is revoked or already renewed.
func (db *DB) RenewCertificate(ctx context.Context, oldID string, renewal imprint.Certificate, grace time.Duration,
	proof imprint.RenewalProof, actor imprint.Actor) (*imprint.Certificate, error) {
	var out *imprint.Certificate
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		old, err := lockCertificate(ctx, tx, oldID)
		if err != nil {
			return err
		}
		if old.Status == imprint.CertificateRevoked {
			return imprint.Errorf(imprint.Conflict, "certificate %s is REVOKED and cannot be renewed", oldID)
		}
		if old.SupersededBy != "" {
			return imprint.Errorf(imprint.Conflict, "certificate %s was already renewed as %s", oldID, old.SupersededBy)
		}
		renewal.RenewedFrom = oldID
		if err := insertCertificates(ctx, tx, []actedCert{{&renewal, actor}}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE certificates SET renewed_from = $2 WHERE id = $1`, renewal.ID, oldID); err != nil {
			return fmt.Errorf("link renewal: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE certificates SET superseded_by = $2, updated_at = now(),
			revoke_after = now() + make_interval(secs => $3) WHERE id = $1`, oldID, renewal.ID, grace.Seconds()); err != nil {
			return fmt.Errorf("link renewal: %w", err)
		}
		if err := insertEvent(ctx, tx, imprint.EventCertificateRenewed, "certificate", oldID, actor,
			map[string]string{"renewal": renewal.ID, "grace": grace.String(), "proof": string(proof)}); err != nil {
			return err
		}
		if grace <= 0 {
			if _, err := revokeInTx(ctx, tx, oldID, imprint.ReasonSuperseded, actor, map[string]string{"supersededBy": renewal.ID}); err != nil {
				return err
			}
		}
		out = &renewal
		return nil
	})
	return out, err
}

// RevokeSuperseded revokes, as superseded, renewed certificates whose grace
// has passed by now, at most limit of them, and returns how many.
func (db *DB) RevokeSuperseded(ctx context.Context, now time.Time, limit int) (int, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM certificates
		WHERE revoke_after <= $1 AND status <> 'REVOKED' ORDER BY revoke_after LIMIT $2`, now, limit)
	if err != nil {
		return 0, mapError(fmt.Errorf("select superseded: %w", err))
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, mapError(err)
	}
	n := 0
	for _, id := range ids {
		err := db.inTx(ctx, func(tx pgx.Tx) error {
			c, err := lockCertificate(ctx, tx, id)
			if err != nil || c.Status == imprint.CertificateRevoked {
				return err
			}
			_, err = revokeInTx(ctx, tx, id, imprint.ReasonSuperseded, imprint.SystemActor,
				map[string]string{"supersededBy": c.SupersededBy})
			return err
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
