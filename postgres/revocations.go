package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// RevocationChunk is how many certificates one transaction of a bulk
// revocation revokes: small enough that no lock is held for long.
const RevocationChunk = 5000

// jobLease is how long a replica may go without touching a running job before
// another one takes it over.
const jobLease = 30 * time.Second

const jobColumns = `id, coalesce(ca_id, ''), coalesce(certificate_ids, '{}'), coalesce(serials, '{}'),
	issued_after, issued_before, reason, status, matched, already_revoked, revoked, not_found,
	coalesce(error, ''), coalesce(actor_token, ''), actor_name, actor_role, created_at, updated_at, finished_at`

// selectorWhere returns the WHERE clause choosing a job's certificates and
// its arguments, which are $1, $2, … .
func selectorWhere(s imprint.RevocationSelector) (string, []any) {
	switch {
	case len(s.IDs) > 0:
		return `id = ANY($1)`, []any{s.IDs}
	case len(s.Serials) > 0:
		return `ca_id = $1 AND serial = ANY($2)`, []any{s.CAID, s.Serials}
	}
	var after, before *time.Time
	if !s.IssuedAfter.IsZero() {
		after = &s.IssuedAfter
	}
	if !s.IssuedBefore.IsZero() {
		before = &s.IssuedBefore
	}
	return `ca_id = $1 AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)`,
		[]any{s.CAID, after, before}
}

// CreateRevocationJob records a bulk revocation and counts what it selects.
// Returns NotFound for an unknown CA.
func (db *DB) CreateRevocationJob(ctx context.Context, sel imprint.RevocationSelector, reason imprint.RevocationReason, actor imprint.Actor) (*imprint.RevocationJob, error) {
	if err := sel.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 12)
	rand.Read(b)
	id := "rj_" + hex.EncodeToString(b)
	where, args := selectorWhere(sel)
	var job *imprint.RevocationJob
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if sel.CAID != "" {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cas WHERE id = $1)`, sel.CAID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return imprint.Errorf(imprint.NotFound, "CA %s not found", sel.CAID)
			}
		}
		var matched, revoked int64
		err := tx.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'REVOKED')
			FROM certificates WHERE `+where, args...).Scan(&matched, &revoked)
		if err != nil {
			return fmt.Errorf("count selected certificates: %w", err)
		}
		notFound := int64(len(sel.IDs)+len(sel.Serials)) - matched
		if notFound < 0 {
			notFound = 0
		}
		var after, before *time.Time
		if !sel.IssuedAfter.IsZero() {
			after = &sel.IssuedAfter
		}
		if !sel.IssuedBefore.IsZero() {
			before = &sel.IssuedBefore
		}
		job, err = scanJob(tx.QueryRow(ctx, `
			INSERT INTO revocation_jobs (id, ca_id, certificate_ids, serials, issued_after, issued_before, reason,
				matched, already_revoked, not_found, actor_token, actor_name, actor_role)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			RETURNING `+jobColumns, id, nullable(sel.CAID), nilIfEmpty(sel.IDs), nilIfEmpty(sel.Serials), after, before,
			int16(reason), matched, revoked, notFound, nullable(actor.TokenID), actor.Name, string(actor.Role)))
		return err
	})
	return job, err
}

func nilIfEmpty(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

// RevocationJob returns a bulk revocation. Returns NotFound.
func (db *DB) RevocationJob(ctx context.Context, id string) (*imprint.RevocationJob, error) {
	job, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = $1`, id))
	if imprint.ErrorKind(mapError(err)) == imprint.NotFound {
		return nil, imprint.Errorf(imprint.NotFound, "revocation job %s not found", id)
	}
	return job, mapError(err)
}

func scanJob(row pgx.Row) (*imprint.RevocationJob, error) {
	var (
		j                  imprint.RevocationJob
		after, before, fin *time.Time
		reason             int16
		role               string
	)
	err := row.Scan(&j.ID, &j.Selector.CAID, &j.Selector.IDs, &j.Selector.Serials, &after, &before, &reason,
		&j.Status, &j.Matched, &j.AlreadyRevoked, &j.Revoked, &j.NotFound, &j.Error, &j.Actor.TokenID,
		&j.Actor.Name, &role, &j.CreatedAt, &j.UpdatedAt, &fin)
	if err != nil {
		return nil, err
	}
	if after != nil {
		j.Selector.IssuedAfter = *after
	}
	if before != nil {
		j.Selector.IssuedBefore = *before
	}
	if fin != nil {
		j.FinishedAt = *fin
	}
	j.Reason, j.Actor.Role = imprint.RevocationReason(reason), imprint.Role(role)
	return &j, nil
}

// ClaimRevocationJob takes the lease of a running job for owner, if nobody
// else holds it. It reports whether owner now holds it.
func (db *DB) ClaimRevocationJob(ctx context.Context, id, owner string) (bool, error) {
	tag, err := db.pool.Exec(ctx, `UPDATE revocation_jobs SET owner = $2, heartbeat = now()
		WHERE id = $1 AND status = 'RUNNING'
		  AND (owner IS NULL OR owner = $2 OR heartbeat < now() - make_interval(secs => $3))`,
		id, owner, jobLease.Seconds())
	if err != nil {
		return false, mapError(fmt.Errorf("claim revocation job: %w", err))
	}
	return tag.RowsAffected() == 1, nil
}

// OrphanedRevocationJobs returns running jobs whose lease has lapsed: their
// replica died, and they are to be resumed.
func (db *DB) OrphanedRevocationJobs(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, `SELECT id FROM revocation_jobs WHERE status = 'RUNNING'
		AND (heartbeat IS NULL OR heartbeat < now() - make_interval(secs => $1)) ORDER BY created_at`, jobLease.Seconds())
	if err != nil {
		return nil, mapError(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, mapError(err)
}

// RevokeChunk revokes the next chunk of a job's certificates, in one
// transaction with their audit events and the job's progress, and returns
// the job. When no certificate is left, the job is marked SUCCEEDED.
func (db *DB) RevokeChunk(ctx context.Context, id, owner string) (*imprint.RevocationJob, error) {
	var job *imprint.RevocationJob
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		j, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM revocation_jobs WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if j.Status != imprint.JobRunning {
			job = j
			return nil
		}
		var cursorAt *time.Time
		var cursorID *string
		if err := tx.QueryRow(ctx, `SELECT cursor_created, cursor_id FROM revocation_jobs WHERE id = $1`, id).
			Scan(&cursorAt, &cursorID); err != nil {
			return err
		}
		selected, n, lastAt, lastID, cas, err := revokeNext(ctx, tx, j, cursorAt, cursorID)
		if err != nil {
			return err
		}
		for _, ca := range cas {
			if err := notifyRevocation(ctx, tx, ca, "*"); err != nil {
				return err
			}
		}
		status, finished := imprint.JobRunning, "NULL"
		if selected == 0 {
			status, finished = imprint.JobSucceeded, "now()"
		}
		job, err = scanJob(tx.QueryRow(ctx, `UPDATE revocation_jobs SET revoked = revoked + $2, status = $3,
			cursor_created = coalesce($4, cursor_created), cursor_id = coalesce($5, cursor_id),
			owner = $6, heartbeat = now(), updated_at = now(), finished_at = `+finished+`
			WHERE id = $1 RETURNING `+jobColumns, id, n, status, lastAt, lastID, owner))
		return err
	})
	return job, err
}

// revokeNext revokes the next RevocationChunk certificates of j after the
// cursor, oldest first. It returns how many it looked at (0 when the job is
// done), how many it revoked (the others were revoked already), the new
// cursor, and the CAs whose certificates it revoked.
func revokeNext(ctx context.Context, tx pgx.Tx, j *imprint.RevocationJob, cursorAt *time.Time, cursorID *string) (selected, revoked int64, lastAt *time.Time, lastID *string, cas []string, err error) {
	where, args := selectorWhere(j.Selector)
	base := len(args)
	args = append(args, cursorAt, cursorID, RevocationChunk, int16(j.Reason), j.Actor.Name,
		nullable(j.Actor.TokenID), string(j.Actor.Role), j.ID, j.Reason.String())
	p := func(i int) string { return fmt.Sprintf("$%d", base+i) }
	q := `
		WITH sel AS (
			SELECT id, created_at FROM certificates
			WHERE ` + where + `
			  AND (` + p(1) + `::timestamptz IS NULL OR (created_at, id) > (` + p(1) + `, ` + p(2) + `::text))
			ORDER BY created_at, id LIMIT ` + p(3) + ` FOR UPDATE
		), upd AS (
			UPDATE certificates c SET status = 'REVOKED', revoked_at = now(), revocation_reason = ` + p(4) + `,
				revoked_by = ` + p(5) + `, status_changed_at = now(), updated_at = now(), revoke_after = NULL
			FROM sel WHERE c.id = sel.id AND c.status <> 'REVOKED'
			RETURNING c.id, c.serial, c.ca_id
		), ev AS (
			INSERT INTO audit_events (type, resource_type, resource_id, actor_token, actor_name, actor_role, data)
			SELECT 'certificate.revoked', 'certificate', id, ` + p(6) + `, ` + p(5) + `, ` + p(7) + `,
				jsonb_build_object('reason', ` + p(9) + `::text, 'serial', serial, 'caId', ca_id, 'job', ` + p(8) + `::text)
			FROM upd
		), last AS (
			SELECT created_at, id FROM sel ORDER BY created_at DESC, id DESC LIMIT 1
		)
		SELECT (SELECT count(*) FROM sel), (SELECT count(*) FROM upd),
		       (SELECT created_at FROM last), (SELECT id FROM last),
		       (SELECT coalesce(array_agg(DISTINCT ca_id), '{}') FROM upd)`
	err = tx.QueryRow(ctx, q, args...).Scan(&selected, &revoked, &lastAt, &lastID, &cas)
	if err != nil {
		err = fmt.Errorf("revoke chunk: %w", err)
	}
	return selected, revoked, lastAt, lastID, cas, err
}

// RunRevocationJob takes the lease of a job for owner and works on it, chunk
// by chunk, until it is done or the deadline passes, and returns it as it is
// then. Returns Conflict if another replica holds the lease, and the job as it
// is if it is no longer running.
func (db *DB) RunRevocationJob(ctx context.Context, id, owner string, deadline time.Time) (*imprint.RevocationJob, error) {
	ok, err := db.ClaimRevocationJob(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	if !ok {
		job, err := db.RevocationJob(ctx, id)
		if err != nil || job.Status != imprint.JobRunning {
			return job, err
		}
		return nil, imprint.Errorf(imprint.Conflict, "revocation job %s is being worked on by another replica", id)
	}
	for {
		job, err := db.RevokeChunk(ctx, id, owner)
		if err != nil {
			db.failJob(id, err)
			return nil, err
		}
		if job.Status != imprint.JobRunning || time.Now().After(deadline) || ctx.Err() != nil {
			return job, nil
		}
	}
}

// failJob records why a job stopped; it is resumed later if the failure was
// passing (the database was away), and stays FAILED otherwise.
func (db *DB) failJob(id string, cause error) {
	if imprint.ErrorKind(cause) == imprint.Unavailable {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db.pool.Exec(ctx, `UPDATE revocation_jobs SET status = 'FAILED', error = $2, updated_at = now(),
		finished_at = now() WHERE id = $1 AND status = 'RUNNING'`, id, cause.Error())
}
