package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

func policyNotFound(name string) error {
	return imprint.Errorf(imprint.NotFound, "policy %s not found", name)
}

func policyVersionNotFound(name string, id int) error {
	return imprint.Errorf(imprint.NotFound, "policy %s has no version %d", name, id)
}

// lockPolicy locks a policy's row for the rest of tx (FOR UPDATE, or FOR
// SHARE if share) and returns its default version. Returns NotFound.
func lockPolicy(ctx context.Context, tx pgx.Tx, name string, share bool) (int, error) {
	lock := "FOR UPDATE"
	if share {
		lock = "FOR SHARE"
	}
	var def int
	err := tx.QueryRow(ctx, `SELECT default_version FROM policies WHERE name = $1 `+lock, name).Scan(&def)
	if err == pgx.ErrNoRows {
		return 0, policyNotFound(name)
	}
	if err != nil {
		return 0, fmt.Errorf("lock policy %s: %w", name, err)
	}
	return def, nil
}

// CreatePolicy records a policy with its document as version 1, the
// default, and its audit event. Returns Conflict if the name is taken.
func (db *DB) CreatePolicy(ctx context.Context, name, document string, actor imprint.Actor) (*imprint.PolicyRecord, error) {
	return createPolicy(ctx, db.own(), name, document, actor)
}

// EnsurePolicy creates a policy as DB.CreatePolicy does, within the flow's
// transaction, unless a policy of that name exists: then it changes
// nothing, records nothing and reports created false. A policy another
// transaction is creating is waited for.
func (tx *Tx) EnsurePolicy(ctx context.Context, name, document string, actor imprint.Actor) (created bool, err error) {
	tag, err := tx.tx.Exec(ctx, `INSERT INTO policies (name, default_version, next_version) VALUES ($1, 1, 2)
		ON CONFLICT (name) DO NOTHING`, name)
	if err != nil {
		return false, mapError(fmt.Errorf("insert policy: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	return true, mapError(insertPolicyVersion1(ctx, tx.tx, name, document, actor))
}

func createPolicy(ctx context.Context, r runner, name, document string, actor imprint.Actor) (*imprint.PolicyRecord, error) {
	p := &imprint.PolicyRecord{Name: name, DefaultVersion: 1, Document: document}
	err := r.run(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO policies (name, default_version, next_version) VALUES ($1, 1, 2)
			RETURNING created_at, updated_at`, name).Scan(&p.CreatedAt, &p.UpdatedAt)
		if err != nil {
			if imprint.ErrorKind(mapError(err)) == imprint.Conflict {
				return imprint.Errorf(imprint.Conflict, "a policy named %s already exists", name)
			}
			return fmt.Errorf("insert policy: %w", err)
		}
		return insertPolicyVersion1(ctx, tx, name, document, actor)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// insertPolicyVersion1 records a new policy's first version and its
// creation's audit event.
func insertPolicyVersion1(ctx context.Context, tx pgx.Tx, name, document string, actor imprint.Actor) error {
	if _, err := tx.Exec(ctx, `INSERT INTO policy_versions (policy_name, version_id, document)
		VALUES ($1, 1, $2)`, name, document); err != nil {
		return fmt.Errorf("insert policy version: %w", err)
	}
	return insertEvent(ctx, tx, imprint.EventPolicyCreated, "policy", name, actor, policyCreatedData)
}

const policyColumns = `p.name, p.default_version, v.document, p.created_at, p.updated_at`

func scanPolicy(row pgx.Row) (*imprint.PolicyRecord, error) {
	var p imprint.PolicyRecord
	err := row.Scan(&p.Name, &p.DefaultVersion, &p.Document, &p.CreatedAt, &p.UpdatedAt)
	return &p, err
}

// Policy returns a policy with its default version's document. Returns
// NotFound.
func (db *DB) Policy(ctx context.Context, name string) (*imprint.PolicyRecord, error) {
	p, err := scanPolicy(db.pool.QueryRow(ctx, `SELECT `+policyColumns+` FROM policies p
		JOIN policy_versions v ON v.policy_name = p.name AND v.version_id = p.default_version
		WHERE p.name = $1`, name))
	if err == pgx.ErrNoRows {
		return nil, policyNotFound(name)
	}
	if err != nil {
		return nil, mapError(fmt.Errorf("select policy %s: %w", name, err))
	}
	return p, nil
}

// Policies returns a page of policies by name after the given one, with
// their default documents, and the name to continue after ("" on the last
// page).
func (db *DB) Policies(ctx context.Context, after string, limit int) ([]*imprint.PolicyRecord, string, error) {
	limit = imprint.PageLimit(limit)
	rows, err := db.pool.Query(ctx, `SELECT `+policyColumns+` FROM policies p
		JOIN policy_versions v ON v.policy_name = p.name AND v.version_id = p.default_version
		WHERE p.name > $1 ORDER BY p.name LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, "", mapError(err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.PolicyRecord, error) { return scanPolicy(r) })
	if err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(ps) > limit {
		ps = ps[:limit]
		next = ps[limit-1].Name
	}
	return ps, next, nil
}

// DeletePolicy deletes a policy and all its versions. Returns NotFound, and
// Conflict while it is attached to a certificate or a thing group.
func (db *DB) DeletePolicy(ctx context.Context, name string, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		// The row lock orders this against AttachPolicy, which shares it.
		if _, err := lockPolicy(ctx, tx, name, false); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM policy_attachments WHERE policy_name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return imprint.Errorf(imprint.Conflict, "policy %s is attached to %d targets; detach it first", name, n)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM policies WHERE name = $1`, name); err != nil {
			return fmt.Errorf("delete policy %s: %w", name, err)
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventPolicyDeleted, "policy", name, actor, nil)
	})
}

// CreatePolicyVersion adds a version of a policy's document, the default if
// asked, and returns it. Returns NotFound, and Conflict when the policy
// already has maxVersions versions.
func (db *DB) CreatePolicyVersion(ctx context.Context, name, document string, setDefault bool, maxVersions int, actor imprint.Actor) (*imprint.PolicyVersion, error) {
	v := &imprint.PolicyVersion{PolicyName: name, Document: document, IsDefault: setDefault}
	o := db.own()
	err := o.run(ctx, func(tx pgx.Tx) error {
		var count int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM policy_versions WHERE policy_name = $1), next_version
			FROM policies WHERE name = $1 FOR UPDATE`, name).Scan(&count, &v.VersionID)
		if err == pgx.ErrNoRows {
			return policyNotFound(name)
		}
		if err != nil {
			return err
		}
		if count >= maxVersions {
			return imprint.Errorf(imprint.Conflict, "policy %s has %d versions, the most allowed; delete one first", name, count)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO policy_versions (policy_name, version_id, document)
			VALUES ($1, $2, $3) RETURNING created_at`, name, v.VersionID, document).Scan(&v.CreatedAt); err != nil {
			return fmt.Errorf("insert policy version: %w", err)
		}
		set := ""
		if setDefault {
			set = ", default_version = next_version"
			if err := authorizationChanged(ctx, o, tx); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE policies SET next_version = next_version + 1, updated_at = now()`+set+
			` WHERE name = $1`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventPolicyVersionAdded, "policy", name, actor,
			map[string]any{"versionId": v.VersionID, "default": setDefault})
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// PolicyVersions returns a policy's versions, oldest first. Returns NotFound.
func (db *DB) PolicyVersions(ctx context.Context, name string) ([]imprint.PolicyVersion, error) {
	rows, err := db.pool.Query(ctx, `SELECT v.version_id, v.document, v.version_id = p.default_version, v.created_at
		FROM policies p JOIN policy_versions v ON v.policy_name = p.name
		WHERE p.name = $1 ORDER BY v.version_id`, name)
	if err != nil {
		return nil, mapError(err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.PolicyVersion, error) {
		v := imprint.PolicyVersion{PolicyName: name}
		return v, r.Scan(&v.VersionID, &v.Document, &v.IsDefault, &v.CreatedAt)
	})
	if err == nil && len(vs) == 0 {
		return nil, policyNotFound(name)
	}
	return vs, mapError(err)
}

// PolicyVersion returns one version of a policy. Returns NotFound.
func (db *DB) PolicyVersion(ctx context.Context, name string, id int) (*imprint.PolicyVersion, error) {
	v := imprint.PolicyVersion{PolicyName: name, VersionID: id}
	err := db.pool.QueryRow(ctx, `SELECT v.document, v.version_id = p.default_version, v.created_at
		FROM policies p JOIN policy_versions v ON v.policy_name = p.name
		WHERE p.name = $1 AND v.version_id = $2`, name, id).Scan(&v.Document, &v.IsDefault, &v.CreatedAt)
	if err == pgx.ErrNoRows {
		return nil, policyVersionNotFound(name, id)
	}
	if err != nil {
		return nil, mapError(err)
	}
	return &v, nil
}

// DeletePolicyVersion deletes a version that is not the default. Returns
// NotFound, and Conflict for the default version.
func (db *DB) DeletePolicyVersion(ctx context.Context, name string, id int, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		def, err := lockPolicy(ctx, tx, name, false)
		if err != nil {
			return err
		}
		if def == id {
			return imprint.Errorf(imprint.Conflict, "version %d is the default of policy %s; make another the default first", id, name)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM policy_versions WHERE policy_name = $1 AND version_id = $2`, name, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return policyVersionNotFound(name, id)
		}
		return insertEvent(ctx, tx, imprint.EventPolicyVersionGone, "policy", name, actor, map[string]any{"versionId": id})
	})
}

// SetDefaultPolicyVersion makes version id the policy's default, and returns
// the policy as it now is. Returns NotFound, for the policy or the version.
func (db *DB) SetDefaultPolicyVersion(ctx context.Context, name string, id int, actor imprint.Actor) (*imprint.PolicyRecord, error) {
	o := db.own()
	err := o.run(ctx, func(tx pgx.Tx) error {
		if _, err := lockPolicy(ctx, tx, name, false); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE policies SET default_version = $2, updated_at = now() WHERE name = $1
			AND EXISTS (SELECT 1 FROM policy_versions WHERE policy_name = $1 AND version_id = $2)`, name, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return policyVersionNotFound(name, id)
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventPolicyDefaultSet, "policy", name, actor, map[string]any{"versionId": id})
	})
	if err != nil {
		return nil, err
	}
	return db.Policy(ctx, name)
}

// lockTarget locks the row of a policy target for the rest of tx. Returns
// Invalid for an unknown type, and NotFound if there is no such target.
func lockTarget(ctx context.Context, tx pgx.Tx, targetType, targetID string) error {
	var q, what string
	switch targetType {
	case imprint.TargetCertificate:
		q, what = `SELECT true FROM certificates WHERE id = $1 FOR SHARE`, "certificate"
	case imprint.TargetThingGroup:
		q, what = `SELECT true FROM thing_groups WHERE name = $1 FOR SHARE`, "thing group"
	default:
		return imprint.Errorf(imprint.Invalid, "a policy target is a certificate or a thinggroup, not %q", targetType)
	}
	var found bool
	err := tx.QueryRow(ctx, q, targetID).Scan(&found)
	if err == pgx.ErrNoRows {
		return imprint.Errorf(imprint.NotFound, "%s %s not found", what, targetID)
	}
	return err
}

// AttachPolicy attaches a policy to a certificate (targetType
// imprint.TargetCertificate, targetID its ID) or a thing group
// (imprint.TargetThingGroup, its name). Attaching it again changes nothing
// and records nothing. Returns NotFound for the policy or the target, and
// Invalid for another target type.
func (db *DB) AttachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error {
	return attachPolicy(ctx, db.own(), name, targetType, targetID, actor)
}

// AttachPolicy is DB.AttachPolicy within the flow's transaction.
func (tx *Tx) AttachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error {
	return attachPolicy(ctx, tx, name, targetType, targetID, actor)
}

func attachPolicy(ctx context.Context, r runner, name, targetType, targetID string, actor imprint.Actor) error {
	return r.run(ctx, func(tx pgx.Tx) error {
		if _, err := lockPolicy(ctx, tx, name, true); err != nil {
			return err
		}
		if err := lockTarget(ctx, tx, targetType, targetID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO policy_attachments (policy_name, target_type, target_id)
			VALUES ($1, $2, $3) ON CONFLICT ON CONSTRAINT policy_attachments_pkey DO NOTHING`, name, targetType, targetID)
		if err != nil {
			return fmt.Errorf("insert policy attachment: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		// A certificate created in this transaction was never decided.
		if targetType != imprint.TargetCertificate || !r.createdHere("certificate:"+targetID) {
			if err := authorizationChanged(ctx, r, tx); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, imprint.EventPolicyAttached, "policy", name, actor, policyAttachedData(targetType, targetID))
	})
}

// DetachPolicy detaches a policy from a target. Returns NotFound if the
// policy is not attached to it.
func (db *DB) DetachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM policy_attachments WHERE policy_name = $1 AND target_type = $2
			AND target_id = $3`, name, targetType, targetID)
		if err != nil {
			return fmt.Errorf("delete policy attachment: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return imprint.Errorf(imprint.NotFound, "policy %s is not attached to %s %s", name, targetType, targetID)
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventPolicyDetached, "policy", name, actor,
			map[string]string{"targetType": targetType, "targetId": targetID})
	})
}

func scanTargets(rows pgx.Rows, err error) ([]imprint.PolicyTarget, error) {
	if err != nil {
		return nil, mapError(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.PolicyTarget, error) {
		var t imprint.PolicyTarget
		return t, r.Scan(&t.PolicyName, &t.Type, &t.ID, &t.CreatedAt)
	})
	return ts, mapError(err)
}

// PolicyTargets returns what a policy is attached to, by type and ID.
// Returns NotFound if there is no such policy.
func (db *DB) PolicyTargets(ctx context.Context, name string) ([]imprint.PolicyTarget, error) {
	ts, err := scanTargets(db.pool.Query(ctx, `SELECT p.name, a.target_type, a.target_id, a.created_at
		FROM policies p JOIN policy_attachments a ON a.policy_name = p.name
		WHERE p.name = $1 ORDER BY a.target_type, a.target_id`, name))
	if err == nil && len(ts) == 0 {
		if _, err := db.Policy(ctx, name); err != nil {
			return nil, err
		}
	}
	return ts, err
}

// TargetPolicies returns the policies attached directly to a certificate or
// a thing group, by name. Returns NotFound if there is no such target, and
// Invalid for another target type.
func (db *DB) TargetPolicies(ctx context.Context, targetType, targetID string) ([]imprint.PolicyTarget, error) {
	var ts []imprint.PolicyTarget
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockTarget(ctx, tx, targetType, targetID); err != nil {
			return err
		}
		var err error
		ts, err = scanTargets(tx.Query(ctx, `SELECT policy_name, target_type, target_id, created_at
			FROM policy_attachments WHERE target_type = $1 AND target_id = $2 ORDER BY policy_name`, targetType, targetID))
		return err
	})
	return ts, err
}

// effectivePoliciesSQL selects the default versions of the policies attached
// to certificate $1 and, if the certificate is attached to thing $2, to the
// thing's groups and all their ancestors, each policy once. UNION (not
// UNION ALL) ends the walk up the groups even if parents were to loop.
// The attachments are read per target, through their index (the lateral
// subquery, kept apart by OFFSET 0): a join the planner may order freely
// read every attachment of every policy when it misjudged the policy
// tables, which are small and so never analyzed by autovacuum.
const effectivePoliciesSQL = `WITH RECURSIVE groups (name) AS (
		SELECT m.group_name FROM thing_group_members m
		JOIN thing_principals tp ON tp.thing_name = m.thing_name AND tp.certificate_id = $1::text
		WHERE m.thing_name = $2::text
		UNION
		SELECT g.parent FROM thing_groups g JOIN groups ON g.name = groups.name WHERE g.parent IS NOT NULL
	), targets (target_type, target_id) AS (
		SELECT 'certificate'::text, $1::text
		UNION ALL
		SELECT 'thinggroup'::text, name FROM groups
	)
	SELECT DISTINCT ON (p.name) p.name, v.version_id, v.document, v.created_at
	FROM targets t
	CROSS JOIN LATERAL (SELECT a.policy_name FROM policy_attachments a
		WHERE a.target_type = t.target_type AND a.target_id = t.target_id OFFSET 0) a
	JOIN policies p ON p.name = a.policy_name
	JOIN policy_versions v ON v.policy_name = p.name AND v.version_id = p.default_version
	ORDER BY p.name`

// EffectivePolicies returns the default versions of the policies that apply
// to a connection with certificate certificateID speaking for thing
// thingName ("" for none): those attached to the certificate, and, if the
// certificate is attached to the thing, those attached to the thing's groups
// and their ancestor groups; each once, by name. Returns NotFound if there
// is no such certificate.
func (db *DB) EffectivePolicies(ctx context.Context, certificateID, thingName string) ([]imprint.PolicyVersion, error) {
	rows, err := db.pool.Query(ctx, effectivePoliciesSQL, certificateID, thingName)
	if err != nil {
		return nil, mapError(fmt.Errorf("select effective policies: %w", err))
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.PolicyVersion, error) {
		v := imprint.PolicyVersion{IsDefault: true}
		return v, r.Scan(&v.PolicyName, &v.VersionID, &v.Document, &v.CreatedAt)
	})
	if err != nil {
		return nil, mapError(fmt.Errorf("select effective policies: %w", err))
	}
	if len(vs) == 0 {
		// Only now is it worth telling no policies from no certificate.
		var found bool
		err := db.pool.QueryRow(ctx, `SELECT true FROM certificates WHERE id = $1`, certificateID).Scan(&found)
		if err == pgx.ErrNoRows {
			return nil, imprint.Errorf(imprint.NotFound, "certificate %s not found", certificateID)
		}
		if err != nil {
			return nil, mapError(err)
		}
	}
	return vs, nil
}

// AuthorizationThing returns the thing a connection with certificate
// certificateID speaks for, as a policy reads it, and whether the
// certificate is attached to it. With thingName "", it is the one thing the
// certificate is attached to, or nil if it is attached to none or to
// several. Returns NotFound if a thing is named and does not exist.
func (db *DB) AuthorizationThing(ctx context.Context, certificateID, thingName string) (*imprint.Thing, bool, error) {
	var (
		t        imprint.Thing
		typeName *string
		attached bool
	)
	var err error
	if thingName != "" {
		err = db.pool.QueryRow(ctx, `SELECT t.name, t.thing_type, t.attributes, EXISTS (SELECT 1 FROM thing_principals
			WHERE thing_name = t.name AND certificate_id = $2) FROM things t WHERE t.name = $1`, thingName, certificateID).
			Scan(&t.Name, &typeName, &t.Attributes, &attached)
		if err == pgx.ErrNoRows {
			return nil, false, imprint.Errorf(imprint.NotFound, "thing %s not found", thingName)
		}
	} else {
		err = db.pool.QueryRow(ctx, `SELECT t.name, t.thing_type, t.attributes, true FROM things t
			JOIN thing_principals tp ON tp.thing_name = t.name WHERE tp.certificate_id = $1
			AND (SELECT count(*) FROM thing_principals WHERE certificate_id = $1) = 1`, certificateID).
			Scan(&t.Name, &typeName, &t.Attributes, &attached)
		if err == pgx.ErrNoRows {
			return nil, false, nil
		}
	}
	if err != nil {
		return nil, false, mapError(fmt.Errorf("select thing of certificate %s: %w", certificateID, err))
	}
	if typeName != nil {
		t.TypeName = *typeName
	}
	return &t, attached, nil
}
