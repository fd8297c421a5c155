package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

func notFound(format string, args ...any) error {
	return imprint.Errorf(imprint.NotFound, format, args...)
}

// CreateThingType records a thing type. Returns Conflict if it exists.
func (db *DB) CreateThingType(ctx context.Context, t *imprint.ThingType, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO thing_types (name, description) VALUES ($1, $2) RETURNING created_at`,
			t.Name, t.Description).Scan(&t.CreatedAt)
		if imprint.ErrorKind(mapError(err)) == imprint.Conflict {
			return imprint.Errorf(imprint.Conflict, "thing type %s already exists", t.Name)
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingTypeCreated, "thing_type", t.Name, actor, nil)
	})
}

func scanThingType(row pgx.Row) (*imprint.ThingType, error) {
	var t imprint.ThingType
	var at *time.Time
	err := row.Scan(&t.Name, &t.Description, &t.Deprecated, &at, &t.CreatedAt)
	if at != nil {
		t.DeprecatedAt = *at
	}
	return &t, err
}

const thingTypeColumns = `name, description, deprecated, deprecated_at, created_at`

// ThingType returns a thing type. Returns NotFound.
func (db *DB) ThingType(ctx context.Context, name string) (*imprint.ThingType, error) {
	t, err := scanThingType(db.pool.QueryRow(ctx, `SELECT `+thingTypeColumns+` FROM thing_types WHERE name = $1`, name))
	if err == pgx.ErrNoRows {
		return nil, notFound("thing type %s not found", name)
	}
	return t, mapError(err)
}

// ThingTypes returns every thing type by name.
func (db *DB) ThingTypes(ctx context.Context) ([]*imprint.ThingType, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+thingTypeColumns+` FROM thing_types ORDER BY name`)
	if err != nil {
		return nil, mapError(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.ThingType, error) { return scanThingType(r) })
	return ts, mapError(err)
}

// DeprecateThingType deprecates (or restores) a type: a deprecated type takes
// no new things. Returns NotFound.
func (db *DB) DeprecateThingType(ctx context.Context, name string, deprecated bool, actor imprint.Actor) (*imprint.ThingType, error) {
	var t *imprint.ThingType
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		t, err = scanThingType(tx.QueryRow(ctx, `UPDATE thing_types SET deprecated = $2,
			deprecated_at = CASE WHEN $2 THEN now() END WHERE name = $1 RETURNING `+thingTypeColumns, name, deprecated))
		if err == pgx.ErrNoRows {
			return notFound("thing type %s not found", name)
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingTypeUpdated, "thing_type", name, actor, map[string]bool{"deprecated": deprecated})
	})
	return t, err
}

// DeleteThingType deletes a deprecated type no thing uses. Returns NotFound,
// and Conflict while it is not deprecated or still in use.
func (db *DB) DeleteThingType(ctx context.Context, name string, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var deprecated, used bool
		err := tx.QueryRow(ctx, `SELECT deprecated, EXISTS (SELECT 1 FROM things WHERE thing_type = $1)
			FROM thing_types WHERE name = $1 FOR UPDATE`, name).Scan(&deprecated, &used)
		switch {
		case err == pgx.ErrNoRows:
			return notFound("thing type %s not found", name)
		case err != nil:
			return err
		case !deprecated:
			return imprint.Errorf(imprint.Conflict, "thing type %s must be deprecated before it is deleted", name)
		case used:
			return imprint.Errorf(imprint.Conflict, "thing type %s is still used by things", name)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM thing_types WHERE name = $1`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingTypeDeleted, "thing_type", name, actor, nil)
	})
}

const thingColumns = `name, coalesce(thing_type, ''), attributes, version, created_at, updated_at`

func scanThing(row pgx.Row) (*imprint.Thing, error) {
	var t imprint.Thing
	var attrs []byte
	if err := row.Scan(&t.Name, &t.TypeName, &attrs, &t.Version, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	return &t, json.Unmarshal(attrs, &t.Attributes)
}

// checkType returns NotFound for an unknown type and Invalid for a deprecated one.
func checkType(ctx context.Context, tx pgx.Tx, name string) error {
	if name == "" {
		return nil
	}
	var deprecated bool
	err := tx.QueryRow(ctx, `SELECT deprecated FROM thing_types WHERE name = $1 FOR SHARE`, name).Scan(&deprecated)
	switch {
	case err == pgx.ErrNoRows:
		return notFound("thing type %s not found", name)
	case err != nil:
		return err
	case deprecated:
		return imprint.Errorf(imprint.Invalid, "thing type %s is deprecated and takes no new things", name)
	}
	return nil
}

// CreateThing records a thing, version 1. Returns Conflict if it exists,
// NotFound for an unknown type, Invalid for a deprecated one.
func (db *DB) CreateThing(ctx context.Context, t *imprint.Thing, actor imprint.Actor) error {
	return createThing(ctx, db.own(), t, actor)
}

// CreateThing is DB.CreateThing within the flow's transaction.
func (tx *Tx) CreateThing(ctx context.Context, t *imprint.Thing, actor imprint.Actor) error {
	return createThing(ctx, tx, t, actor)
}

func createThing(ctx context.Context, r runner, t *imprint.Thing, actor imprint.Actor) error {
	return r.run(ctx, func(tx pgx.Tx) error {
		if err := checkType(ctx, tx, t.TypeName); err != nil {
			return err
		}
		attrs, _ := json.Marshal(nonNil(t.Attributes))
		err := tx.QueryRow(ctx, `INSERT INTO things (name, thing_type, attributes) VALUES ($1, $2, $3)
			RETURNING version, created_at, updated_at`, t.Name, nullable(t.TypeName), attrs).Scan(&t.Version, &t.CreatedAt, &t.UpdatedAt)
		if imprint.ErrorKind(mapError(err)) == imprint.Conflict {
			return imprint.Errorf(imprint.Conflict, "thing %s already exists", t.Name)
		}
		if err != nil {
			return err
		}
		r.create("thing:" + t.Name)
		return insertEvent(ctx, tx, imprint.EventThingCreated, "thing", t.Name, actor, thingCreatedData(t.TypeName))
	})
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Thing returns a thing. Returns NotFound.
func (db *DB) Thing(ctx context.Context, name string) (*imprint.Thing, error) {
	t, err := scanThing(db.pool.QueryRow(ctx, `SELECT `+thingColumns+` FROM things WHERE name = $1`, name))
	if err == pgx.ErrNoRows {
		return nil, notFound("thing %s not found", name)
	}
	return t, mapError(err)
}

// Things returns a page of things matching f by name, and the name to
// continue after ("" on the last page).
func (db *DB) Things(ctx context.Context, f imprint.ThingFilter) ([]*imprint.Thing, string, error) {
	where := []string{`name > $1`}
	args := []any{f.After}
	add := func(clause string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(clause, len(args)))
	}
	if f.TypeName != "" {
		add("thing_type = $%d", f.TypeName)
	}
	if f.GroupName != "" {
		add("name IN (SELECT thing_name FROM thing_group_members WHERE group_name = $%d)", f.GroupName)
	}
	if f.AttributeName != "" && f.AttributeValue != "" {
		b, _ := json.Marshal(map[string]string{f.AttributeName: f.AttributeValue})
		add("attributes @> $%d::jsonb", string(b))
	} else if f.AttributeName != "" {
		add("attributes ? $%d", f.AttributeName)
	}
	if f.NamePrefix != "" {
		add("starts_with(name, $%d)", f.NamePrefix)
	}
	limit := imprint.PageLimit(f.Limit)
	rows, err := db.pool.Query(ctx, `SELECT `+thingColumns+` FROM things WHERE `+strings.Join(where, " AND ")+
		fmt.Sprintf(` ORDER BY name LIMIT %d`, limit+1), args...)
	if err != nil {
		return nil, "", mapError(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.Thing, error) { return scanThing(r) })
	if err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(ts) > limit {
		ts, next = ts[:limit], ts[limit-1].Name
	}
	return ts, next, nil
}

// UpdateThing changes a thing and returns it. Returns NotFound, Conflict
// when ExpectedVersion is stale, Invalid for attributes past the limits.
func (db *DB) UpdateThing(ctx context.Context, name string, u imprint.ThingUpdate, actor imprint.Actor) (*imprint.Thing, error) {
	return updateThing(ctx, db.own(), name, u, actor)
}

// UpdateThing is DB.UpdateThing within the flow's transaction.
func (tx *Tx) UpdateThing(ctx context.Context, name string, u imprint.ThingUpdate, actor imprint.Actor) (*imprint.Thing, error) {
	return updateThing(ctx, tx, name, u, actor)
}

func updateThing(ctx context.Context, r runner, name string, u imprint.ThingUpdate, actor imprint.Actor) (*imprint.Thing, error) {
	var out *imprint.Thing
	err := r.run(ctx, func(tx pgx.Tx) error {
		t, err := scanThing(tx.QueryRow(ctx, `SELECT `+thingColumns+` FROM things WHERE name = $1 FOR UPDATE`, name))
		if err == pgx.ErrNoRows {
			return notFound("thing %s not found", name)
		}
		if err != nil {
			return err
		}
		if u.ExpectedVersion != 0 && u.ExpectedVersion != t.Version {
			return imprint.Errorf(imprint.Conflict, "thing %s is at version %d, not %d", name, t.Version, u.ExpectedVersion)
		}
		if u.TypeName != nil {
			if err := checkType(ctx, tx, *u.TypeName); err != nil {
				return err
			}
			t.TypeName = *u.TypeName
		}
		if u.Attributes != nil {
			if !u.Merge {
				t.Attributes = map[string]string{}
			}
			for k, v := range u.Attributes {
				if v == "" && u.Merge {
					delete(t.Attributes, k)
				} else {
					t.Attributes[k] = v
				}
			}
			if err := imprint.ValidateAttributes(t.Attributes); err != nil {
				return err
			}
		}
		attrs, _ := json.Marshal(nonNil(t.Attributes))
		if err := tx.QueryRow(ctx, `UPDATE things SET thing_type = $2, attributes = $3, version = version + 1,
			updated_at = now() WHERE name = $1 RETURNING version, updated_at`, name, nullable(t.TypeName), attrs).
			Scan(&t.Version, &t.UpdatedAt); err != nil {
			return err
		}
		out = t
		if !r.createdHere("thing:" + name) {
			if err := authorizationChanged(ctx, r, tx); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, imprint.EventThingUpdated, "thing", name, actor, map[string]any{"version": t.Version})
	})
	return out, err
}

// DeleteThing deletes a thing. Returns NotFound, and Conflict when
// certificates are attached (unless detach) or the version is stale.
func (db *DB) DeleteThing(ctx context.Context, name string, detach bool, expectedVersion int64, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		var version int64
		var principals int
		err := tx.QueryRow(ctx, `SELECT version, (SELECT count(*) FROM thing_principals WHERE thing_name = $1)
			FROM things WHERE name = $1 FOR UPDATE`, name).Scan(&version, &principals)
		switch {
		case err == pgx.ErrNoRows:
			return notFound("thing %s not found", name)
		case err != nil:
			return err
		case expectedVersion != 0 && expectedVersion != version:
			return imprint.Errorf(imprint.Conflict, "thing %s is at version %d, not %d", name, version, expectedVersion)
		case principals > 0 && !detach:
			return imprint.Errorf(imprint.Conflict, "thing %s has %d certificates attached; detach them or delete with detachPrincipals=true", name, principals)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM thing_principals WHERE thing_name = $1`, name); err != nil {
			return err
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM things WHERE name = $1`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingDeleted, "thing", name, actor, map[string]int{"detachedPrincipals": principals})
	})
}

const groupColumns = `name, coalesce(parent, ''), description, attributes, created_at`

func scanGroup(row pgx.Row) (*imprint.ThingGroup, error) {
	var g imprint.ThingGroup
	var attrs []byte
	if err := row.Scan(&g.Name, &g.Parent, &g.Description, &attrs, &g.CreatedAt); err != nil {
		return nil, err
	}
	return &g, json.Unmarshal(attrs, &g.Attributes)
}

// CreateThingGroup records a group under its parent. Returns Conflict if
// it exists, NotFound for an unknown parent, and Invalid when the group
// would be its own parent. (A group's parent never changes, so no longer
// cycle can form.)
func (db *DB) CreateThingGroup(ctx context.Context, g *imprint.ThingGroup, actor imprint.Actor) error {
	if g.Parent == g.Name {
		return imprint.Errorf(imprint.Invalid, "parentGroupName: thing group %s cannot be its own parent", g.Name)
	}
	return db.inTx(ctx, func(tx pgx.Tx) error {
		attrs, _ := json.Marshal(nonNil(g.Attributes))
		err := tx.QueryRow(ctx, `INSERT INTO thing_groups (name, parent, description, attributes) VALUES ($1, $2, $3, $4)
			RETURNING created_at`, g.Name, nullable(g.Parent), g.Description, attrs).Scan(&g.CreatedAt)
		switch imprint.ErrorKind(mapError(err)) {
		case imprint.Conflict:
			return imprint.Errorf(imprint.Conflict, "thing group %s already exists", g.Name)
		case imprint.NotFound:
			return notFound("parent thing group %s not found", g.Parent)
		}
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingGroupCreated, "thing_group", g.Name, actor, map[string]string{"parent": g.Parent})
	})
}

// ThingGroup returns a group. Returns NotFound.
func (db *DB) ThingGroup(ctx context.Context, name string) (*imprint.ThingGroup, error) {
	g, err := scanGroup(db.pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM thing_groups WHERE name = $1`, name))
	if err == pgx.ErrNoRows {
		return nil, notFound("thing group %s not found", name)
	}
	return g, mapError(err)
}

// ThingGroups returns every group by name, or the groups of one thing.
func (db *DB) ThingGroups(ctx context.Context, thing string) ([]*imprint.ThingGroup, error) {
	q := `SELECT ` + groupColumns + ` FROM thing_groups ORDER BY name`
	args := []any{}
	if thing != "" {
		q = `SELECT ` + groupColumns + ` FROM thing_groups WHERE name IN
			(SELECT group_name FROM thing_group_members WHERE thing_name = $1) ORDER BY name`
		args = append(args, thing)
	}
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapError(err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.ThingGroup, error) { return scanGroup(r) })
	return gs, mapError(err)
}

// DeleteThingGroup deletes a group and its memberships. Returns NotFound,
// and Conflict while it has child groups or policies attached.
func (db *DB) DeleteThingGroup(ctx context.Context, name string, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		var children, policies int
		// A group made its own parent before that was refused is no child of its own.
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM thing_groups WHERE parent = $1 AND name <> $1),
			(SELECT count(*) FROM policy_attachments WHERE target_type = 'thinggroup' AND target_id = $1)
			FROM thing_groups WHERE name = $1 FOR UPDATE`, name).Scan(&children, &policies)
		switch {
		case err == pgx.ErrNoRows:
			return notFound("thing group %s not found", name)
		case err != nil:
			return err
		case children > 0:
			return imprint.Errorf(imprint.Conflict, "thing group %s has %d child groups; delete them first", name, children)
		case policies > 0:
			return imprint.Errorf(imprint.Conflict, "thing group %s has %d policies attached; detach them first", name, policies)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM thing_groups WHERE name = $1`, name); err != nil {
			return err
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingGroupDeleted, "thing_group", name, actor, nil)
	})
}

// AddThingToGroup makes a thing a member of a group; being one already is
// success. Returns NotFound, and Conflict past MaxGroupsPerThing.
func (db *DB) AddThingToGroup(ctx context.Context, group, thing string, actor imprint.Actor) error {
	return addThingToGroup(ctx, db.own(), group, thing, actor)
}

// AddThingToGroup is DB.AddThingToGroup within the flow's transaction.
func (tx *Tx) AddThingToGroup(ctx context.Context, group, thing string, actor imprint.Actor) error {
	return addThingToGroup(ctx, tx, group, thing, actor)
}

func addThingToGroup(ctx context.Context, r runner, group, thing string, actor imprint.Actor) error {
	return r.run(ctx, func(tx pgx.Tx) error {
		var groups int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM thing_group_members WHERE thing_name = $1)
			FROM things WHERE name = $1 FOR UPDATE`, thing).Scan(&groups)
		if err == pgx.ErrNoRows {
			return notFound("thing %s not found", thing)
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO thing_group_members (group_name, thing_name)
			SELECT name, $2 FROM thing_groups WHERE name = $1 ON CONFLICT DO NOTHING`, group, thing)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var exists bool
			tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM thing_groups WHERE name = $1)`, group).Scan(&exists)
			if !exists {
				return notFound("thing group %s not found", group)
			}
			return nil // already a member
		}
		if groups >= imprint.MaxGroupsPerThing {
			return imprint.Errorf(imprint.Conflict, "thing %s is in %d groups already, the most allowed", thing, groups)
		}
		if !r.createdHere("thing:" + thing) { // a thing created in this transaction was never decided
			if err := authorizationChanged(ctx, r, tx); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, imprint.EventThingGroupAdded, "thing_group", group, actor, map[string]string{"thingName": thing})
	})
}

// RemoveThingFromGroup ends a membership. Returns NotFound if there is none.
func (db *DB) RemoveThingFromGroup(ctx context.Context, group, thing string, actor imprint.Actor) error {
	return removeThingFromGroup(ctx, db.own(), group, thing, actor)
}

func removeThingFromGroup(ctx context.Context, r runner, group, thing string, actor imprint.Actor) error {
	return r.run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2`, group, thing)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("thing %s is not in group %s", thing, group)
		}
		if err := authorizationChanged(ctx, r, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventThingGroupRemoved, "thing_group", group, actor, map[string]string{"thingName": thing})
	})
}

// AttachPrincipal attaches a certificate to a thing. An exclusive
// attachment (EXCLUSIVE_THING) makes the certificate the thing's alone.
// Attaching again is success. Returns NotFound, and Conflict when
// exclusivity forbids it.
func (db *DB) AttachPrincipal(ctx context.Context, thing, certificateID string, exclusive bool, actor imprint.Actor) error {
	return attachPrincipal(ctx, db.own(), thing, certificateID, exclusive, actor)
}

// AttachPrincipal is DB.AttachPrincipal within the flow's transaction.
func (tx *Tx) AttachPrincipal(ctx context.Context, thing, certificateID string, exclusive bool, actor imprint.Actor) error {
	return attachPrincipal(ctx, tx, thing, certificateID, exclusive, actor)
}

func attachPrincipal(ctx context.Context, r runner, thing, certificateID string, exclusive bool, actor imprint.Actor) error {
	return r.run(ctx, func(tx pgx.Tx) error {
		// Lock the certificate: attachments of one certificate are serialized.
		var found bool
		if err := tx.QueryRow(ctx, `SELECT true FROM certificates WHERE id = $1 FOR UPDATE`, certificateID).Scan(&found); err == pgx.ErrNoRows {
			return notFound("certificate %s not found", certificateID)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT true FROM things WHERE name = $1 FOR SHARE`, thing).Scan(&found); err == pgx.ErrNoRows {
			return notFound("thing %s not found", thing)
		} else if err != nil {
			return err
		}
		var others, exclusiveOthers int
		var already bool
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE thing_name <> $2), count(*) FILTER (WHERE thing_name <> $2 AND exclusive),
			coalesce(bool_or(thing_name = $2), false) FROM thing_principals WHERE certificate_id = $1`, certificateID, thing).
			Scan(&others, &exclusiveOthers, &already); err != nil && err != pgx.ErrNoRows {
			return err
		}
		switch {
		case exclusiveOthers > 0:
			return imprint.Errorf(imprint.Conflict, "certificate %s is attached exclusively to another thing", certificateID)
		case exclusive && others > 0:
			return imprint.Errorf(imprint.Conflict, "certificate %s is attached to %d other things; it cannot be exclusive", certificateID, others)
		case already:
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO thing_principals (thing_name, certificate_id, exclusive) VALUES ($1, $2, $3)`,
			thing, certificateID, exclusive); err != nil {
			return err
		}
		if !r.createdHere("certificate:" + certificateID) { // a certificate created in this transaction was never decided
			if err := authorizationChanged(ctx, r, tx); err != nil {
				return err
			}
		}
		return insertEvent(ctx, tx, imprint.EventPrincipalAttached, "thing", thing, actor, principalAttachedData(certificateID, exclusive))
	})
}

// DetachPrincipal detaches a certificate from a thing. Returns NotFound.
func (db *DB) DetachPrincipal(ctx context.Context, thing, certificateID string, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM thing_principals WHERE thing_name = $1 AND certificate_id = $2`, thing, certificateID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("certificate %s is not attached to thing %s", certificateID, thing)
		}
		if err := authorizationChanged(ctx, o, tx); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventPrincipalDetached, "thing", thing, actor, map[string]string{"certificateId": certificateID})
	})
}

// Principals lists the attachments of a thing, or of a certificate.
func (db *DB) Principals(ctx context.Context, thing, certificateID string) ([]imprint.Principal, error) {
	rows, err := db.pool.Query(ctx, `SELECT thing_name, certificate_id, exclusive FROM thing_principals
		WHERE ($1 = '' OR thing_name = $1) AND ($2 = '' OR certificate_id = $2) ORDER BY thing_name, certificate_id LIMIT 1000`,
		thing, certificateID)
	if err != nil {
		return nil, mapError(err)
	}
	ps, err := pgx.CollectRows(rows, pgx.RowToStructByPos[imprint.Principal])
	return ps, mapError(err)
}
