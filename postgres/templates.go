package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

const templateColumns = `t.name, t.description, t.type, t.enabled, coalesce(t.hook_url, ''), coalesce(t.hook_secret, ''),
	coalesce(t.hook_timeout_ms, 0), t.default_version, t.created_at, t.updated_at, v.body`

func scanTemplate(row pgx.Row) (*imprint.ProvisioningTemplate, error) {
	var (
		t                 imprint.ProvisioningTemplate
		hookURL, hookSeal string
		timeout           int
	)
	err := row.Scan(&t.Name, &t.Description, &t.Type, &t.Enabled, &hookURL, &hookSeal, &timeout,
		&t.DefaultVersion, &t.CreatedAt, &t.UpdatedAt, &t.Body)
	if hookURL != "" {
		t.Hook = &imprint.PreProvisioningHook{URL: hookURL, SealedSecret: hookSeal, TimeoutMs: timeout}
	}
	return &t, err
}

func templateNotFound(name string) error {
	return imprint.Errorf(imprint.NotFound, "provisioning template %s not found", name)
}

// CreateTemplate records a template with its first version (1, the default)
// and its audit event. Returns Conflict if the name is taken.
func (db *DB) CreateTemplate(ctx context.Context, t *imprint.ProvisioningTemplate, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var url, secret, timeout any
		if t.Hook != nil {
			url, secret, timeout = t.Hook.URL, t.Hook.SealedSecret, t.Hook.TimeoutMs
		}
		err := tx.QueryRow(ctx, `INSERT INTO provisioning_templates (name, description, type, enabled, hook_url,
			hook_secret, hook_timeout_ms, default_version, next_version) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 2)
			RETURNING created_at, updated_at`, t.Name, t.Description, t.Type, t.Enabled, url, secret, timeout).
			Scan(&t.CreatedAt, &t.UpdatedAt)
		if err != nil {
			if imprint.ErrorKind(mapError(err)) == imprint.Conflict {
				return imprint.Errorf(imprint.Conflict, "a provisioning template named %s already exists", t.Name)
			}
			return fmt.Errorf("insert template: %w", err)
		}
		t.DefaultVersion = 1
		if _, err := tx.Exec(ctx, `INSERT INTO provisioning_template_versions (template_name, version_id, body)
			VALUES ($1, 1, $2)`, t.Name, t.Body); err != nil {
			return fmt.Errorf("insert template version: %w", err)
		}
		return insertEvent(ctx, tx, imprint.EventTemplateCreated, "provisioning_template", t.Name, actor,
			map[string]any{"type": t.Type, "enabled": t.Enabled})
	})
}

// Template returns a template with its default version's body. Returns NotFound.
func (db *DB) Template(ctx context.Context, name string) (*imprint.ProvisioningTemplate, error) {
	t, err := scanTemplate(db.pool.QueryRow(ctx, `SELECT `+templateColumns+` FROM provisioning_templates t
		JOIN provisioning_template_versions v ON v.template_name = t.name AND v.version_id = t.default_version
		WHERE t.name = $1`, name))
	if err == pgx.ErrNoRows {
		return nil, templateNotFound(name)
	}
	return t, mapError(err)
}

// Templates returns a page of templates by name after the given one, and
// the name to continue after ("" on the last page).
func (db *DB) Templates(ctx context.Context, after string, limit int) ([]*imprint.ProvisioningTemplate, string, error) {
	limit = imprint.PageLimit(limit)
	rows, err := db.pool.Query(ctx, `SELECT `+templateColumns+` FROM provisioning_templates t
		JOIN provisioning_template_versions v ON v.template_name = t.name AND v.version_id = t.default_version
		WHERE t.name > $1 ORDER BY t.name LIMIT $2`, after, limit+1)
	if err != nil {
		return nil, "", mapError(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*imprint.ProvisioningTemplate, error) { return scanTemplate(r) })
	if err != nil {
		return nil, "", mapError(err)
	}
	next := ""
	if len(ts) > limit {
		ts = ts[:limit]
		next = ts[limit-1].Name
	}
	return ts, next, nil
}

// UpdateTemplate changes a template and records the change. Returns
// NotFound, for the template or the default version named.
func (db *DB) UpdateTemplate(ctx context.Context, name string, u imprint.TemplateUpdate, actor imprint.Actor) (*imprint.ProvisioningTemplate, error) {
	o := db.own()
	err := o.run(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT true FROM provisioning_templates WHERE name = $1 FOR UPDATE`, name).Scan(&exists); err != nil {
			if err == pgx.ErrNoRows {
				return templateNotFound(name)
			}
			return err
		}
		changed := map[string]any{}
		if u.Description != nil {
			changed["description"] = *u.Description
			if _, err := tx.Exec(ctx, `UPDATE provisioning_templates SET description = $2 WHERE name = $1`, name, *u.Description); err != nil {
				return err
			}
		}
		if u.Enabled != nil {
			changed["enabled"] = *u.Enabled
			if _, err := tx.Exec(ctx, `UPDATE provisioning_templates SET enabled = $2 WHERE name = $1`, name, *u.Enabled); err != nil {
				return err
			}
		}
		if u.Hook != nil {
			var url, secret, timeout any
			if h := *u.Hook; h != nil {
				url, secret, timeout = h.URL, h.SealedSecret, h.TimeoutMs
				changed["preProvisioningHook"] = h.URL
			} else {
				changed["preProvisioningHook"] = nil
			}
			if _, err := tx.Exec(ctx, `UPDATE provisioning_templates SET hook_url = $2, hook_secret = $3,
				hook_timeout_ms = $4 WHERE name = $1`, name, url, secret, timeout); err != nil {
				return err
			}
		}
		if u.DefaultVersion != nil {
			changed["defaultVersionId"] = *u.DefaultVersion
			tag, err := tx.Exec(ctx, `UPDATE provisioning_templates SET default_version = $2 WHERE name = $1
				AND EXISTS (SELECT 1 FROM provisioning_template_versions WHERE template_name = $1 AND version_id = $2)`,
				name, *u.DefaultVersion)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return imprint.Errorf(imprint.NotFound, "provisioning template %s has no version %d", name, *u.DefaultVersion)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE provisioning_templates SET updated_at = now() WHERE name = $1`, name); err != nil {
			return err
		}
		if err := authorizationChanged(ctx, o, tx); err != nil { // first connections provision by it
			return err
		}
		return insertEvent(ctx, tx, imprint.EventTemplateUpdated, "provisioning_template", name, actor, changed)
	})
	if err != nil {
		return nil, err
	}
	return db.Template(ctx, name)
}

// DeleteTemplate deletes a template and its versions. Returns NotFound, and
// Conflict while a CA provisions with it.
func (db *DB) DeleteTemplate(ctx context.Context, name string, actor imprint.Actor) error {
	o := db.own()
	return o.run(ctx, func(tx pgx.Tx) error {
		// The row lock orders this against setCATemplate, which shares it.
		var found bool
		if err := tx.QueryRow(ctx, `SELECT true FROM provisioning_templates WHERE name = $1 FOR UPDATE`, name).Scan(&found); err != nil {
			if err == pgx.ErrNoRows {
				return templateNotFound(name)
			}
			return err
		}
		var ca string
		err := tx.QueryRow(ctx, `SELECT id FROM cas WHERE provisioning_template = $1 LIMIT 1`, name).Scan(&ca)
		if err == nil {
			return imprint.Errorf(imprint.Conflict, "CA %s provisions with template %s; point it elsewhere first", ca, name)
		}
		if err != pgx.ErrNoRows {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM provisioning_templates WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return templateNotFound(name)
		}
		if err := authorizationChanged(ctx, o, tx); err != nil { // a template of that name may come again
			return err
		}
		return insertEvent(ctx, tx, imprint.EventTemplateDeleted, "provisioning_template", name, actor, nil)
	})
}

// CreateTemplateVersion adds a version of a template's body, the default if
// asked, and returns it. Returns NotFound, and Conflict when the template
// already has maxVersions versions.
func (db *DB) CreateTemplateVersion(ctx context.Context, name, body string, setDefault bool, maxVersions int, actor imprint.Actor) (*imprint.TemplateVersion, error) {
	v := &imprint.TemplateVersion{TemplateName: name, Body: body, IsDefault: setDefault}
	o := db.own()
	err := o.run(ctx, func(tx pgx.Tx) error {
		var count int
		err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM provisioning_template_versions WHERE template_name = $1), next_version
			FROM provisioning_templates WHERE name = $1 FOR UPDATE`, name).Scan(&count, &v.VersionID)
		if err == pgx.ErrNoRows {
			return templateNotFound(name)
		}
		if err != nil {
			return err
		}
		if count >= maxVersions {
			return imprint.Errorf(imprint.Conflict, "provisioning template %s has %d versions, the most allowed; delete one first", name, count)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO provisioning_template_versions (template_name, version_id, body)
			VALUES ($1, $2, $3) RETURNING created_at`, name, v.VersionID, body).Scan(&v.CreatedAt); err != nil {
			return err
		}
		set := ""
		if setDefault {
			set = ", default_version = next_version"
			if err := authorizationChanged(ctx, o, tx); err != nil { // first connections provision by the default
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE provisioning_templates SET next_version = next_version + 1, updated_at = now()`+set+
			` WHERE name = $1`, name); err != nil {
			return err
		}
		return insertEvent(ctx, tx, imprint.EventTemplateVersionCreated, "provisioning_template", name, actor,
			map[string]any{"versionId": v.VersionID, "default": setDefault})
	})
	return v, err
}

// TemplateVersions returns a template's versions, oldest first. Returns NotFound.
func (db *DB) TemplateVersions(ctx context.Context, name string) ([]imprint.TemplateVersion, error) {
	rows, err := db.pool.Query(ctx, `SELECT v.version_id, v.body, v.version_id = t.default_version, v.created_at
		FROM provisioning_templates t JOIN provisioning_template_versions v ON v.template_name = t.name
		WHERE t.name = $1 ORDER BY v.version_id`, name)
	if err != nil {
		return nil, mapError(err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (imprint.TemplateVersion, error) {
		v := imprint.TemplateVersion{TemplateName: name}
		return v, r.Scan(&v.VersionID, &v.Body, &v.IsDefault, &v.CreatedAt)
	})
	if err == nil && len(vs) == 0 {
		return nil, templateNotFound(name)
	}
	return vs, mapError(err)
}

// TemplateVersion returns one version. Returns NotFound.
func (db *DB) TemplateVersion(ctx context.Context, name string, id int) (*imprint.TemplateVersion, error) {
	v := imprint.TemplateVersion{TemplateName: name, VersionID: id}
	err := db.pool.QueryRow(ctx, `SELECT v.body, v.version_id = t.default_version, v.created_at
		FROM provisioning_templates t JOIN provisioning_template_versions v ON v.template_name = t.name
		WHERE t.name = $1 AND v.version_id = $2`, name, id).Scan(&v.Body, &v.IsDefault, &v.CreatedAt)
	if err == pgx.ErrNoRows {
		return nil, imprint.Errorf(imprint.NotFound, "provisioning template %s has no version %d", name, id)
	}
	return &v, mapError(err)
}

// DeleteTemplateVersion deletes a version that is not the default. Returns
// NotFound, and Conflict for the default version.
func (db *DB) DeleteTemplateVersion(ctx context.Context, name string, id int, actor imprint.Actor) error {
	return db.inTx(ctx, func(tx pgx.Tx) error {
		var def int
		err := tx.QueryRow(ctx, `SELECT default_version FROM provisioning_templates WHERE name = $1 FOR UPDATE`, name).Scan(&def)
		if err == pgx.ErrNoRows {
			return templateNotFound(name)
		}
		if err != nil {
			return err
		}
		if def == id {
			return imprint.Errorf(imprint.Conflict, "version %d is the default of template %s; make another the default first", id, name)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM provisioning_template_versions WHERE template_name = $1 AND version_id = $2`, name, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return imprint.Errorf(imprint.NotFound, "provisioning template %s has no version %d", name, id)
		}
		return insertEvent(ctx, tx, imprint.EventTemplateVersionDeleted, "provisioning_template", name, actor,
			map[string]any{"versionId": id})
	})
}

// setCATemplate points the CA, locked by the caller, at the JITP template
// it provisions devices with ("" for none), with its audit event. The
// template's row lock orders this against DeleteTemplate. Returns NotFound
// for an unknown template and Invalid for a template that is not JITP.
func setCATemplate(ctx context.Context, tx pgx.Tx, caID, name string, actor imprint.Actor) error {
	if name != "" {
		var typ imprint.TemplateType
		err := tx.QueryRow(ctx, `SELECT type FROM provisioning_templates WHERE name = $1 FOR SHARE`, name).Scan(&typ)
		if err == pgx.ErrNoRows {
			return templateNotFound(name)
		}
		if err != nil {
			return err
		}
		if typ != imprint.TemplateJITP {
			return imprint.Errorf(imprint.Invalid, "template %s is %s; a CA provisions with a JITP template", name, typ)
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE cas SET provisioning_template = $2, updated_at = now() WHERE id = $1`, caID, nullable(name)); err != nil {
		return err
	}
	return insertEvent(ctx, tx, imprint.EventCATemplateSet, "ca", caID, actor, map[string]string{"provisioningTemplate": name})
}
