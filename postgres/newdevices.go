package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/imprint-iot/imprint"
)

// Group commit of first connections. Devices connecting for the first time
// under a template whose plan is simple (imprint.NewDevice) hand their
// provisioning to a few writer goroutines; each takes whatever is queued and
// writes it in one statement, one round trip: it checks that what each
// device creates is new and what it refers to exists, and writes those that
// pass: certificates, things, principals, policies, attachments and audit
// events, each as one multi-row insert. A device waits for its group's
// commit before it is let in. Anything the statement does not write goes
// back to the caller, which provisions the device alone in the general
// transaction.

const (
	maxDeviceGroup = 64
	deviceWriters  = 2
)

// errAlone is a device's outcome when its group did not apply it.
var errAlone = errors.New("provision alone")

type deviceUnit struct {
	d    *imprint.NewDevice
	done chan error
}

func (u *deviceUnit) rows() int            { return 1 }
func (u *deviceUnit) finished() chan error { return u.done }

// ProvisionNewDevice records the provisioning of a certificate unknown to
// Imprint on its first connection together with other devices' (one
// statement for a group), and reports whether it did. It did not, and
// reports false without an error, when the certificate or the thing is
// recorded already, the thing's type or a policy to attach without a
// document is missing (or the type deprecated), the certificate's status is
// not ACTIVE, another device of the group has the same certificate or
// thing, or the group's statement failed: the caller then provisions the
// device alone, in the transaction that decides those cases. When it did,
// the certificate's CreatedAt, UpdatedAt, StatusChangedAt and ProvisionedAt
// are set. Returns Unavailable when ctx ends first (the device may then be
// recorded) or the store is closed.
func (db *DB) ProvisionNewDevice(ctx context.Context, d *imprint.NewDevice) (bool, error) {
	err := db.devices.submit(ctx, &deviceUnit{d: d, done: make(chan error, 1)})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, errAlone):
		return false, nil
	}
	return false, err
}

// commitDevices writes what it can of group and answers every unit.
func (db *DB) commitDevices(group []*deviceUnit) {
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	candidates := distinctDevices(group)
	var applied []*deviceUnit
	if len(candidates) > 0 {
		var err error
		if applied, err = insertDevices(ctx, db.pool, candidates, time.Now().Truncate(time.Microsecond)); err != nil {
			db.log.Debug("a group of first connections goes one by one", "devices", len(candidates), "err", err)
		}
	}
	for _, u := range group {
		if slices.Contains(applied, u) {
			u.done <- nil
		} else {
			u.done <- errAlone
		}
	}
}

// distinctDevices returns the units of group one statement may write: an
// ACTIVE certificate, and no certificate or thing another unit before it
// has too.
func distinctDevices(group []*deviceUnit) []*deviceUnit {
	seen := map[string]bool{}
	var out []*deviceUnit
	for _, u := range group {
		d := u.d
		c, t := "c "+d.Certificate.ID, ""
		if d.Thing != nil {
			t = "t " + d.Thing.Name
		}
		if d.Certificate.Status != imprint.CertificateActive || seen[c] || t != "" && seen[t] {
			continue
		}
		seen[c], seen[t] = true, true
		out = append(out, u)
	}
	return out
}

// deviceRows are the columns of one group's statement; dev numbers a
// device from 1, in the order of the group.
type deviceRows struct {
	ids, serials, caIDs, subjects, cns, sans, algs, statuses, templates []string
	notBefore, notAfter                                               []time.Time
	ders                                                              [][]byte
	thingNames, thingTypes, thingAttrs                                []string // "" for none
	// the policies a device creates from a document (once a device)
	policyNames, policyDocs []string
	policyDevs             []int
	// the attachments of each device; docless: attached without a
	// document, the policy must exist before
	attachNames []string
	attachDevs  []int
	attachBare  []bool
	// audit events, in order; ifCreated names the policy whose creation
	// the event records (written only if this device created it)
	evTypes, evResTypes, evResIDs, evNames, evRoles, evData []string
	evTokens, evIfCreated                                   []*string
	evDevs                                                  []int
}

func (r *deviceRows) event(dev int, typ, resType, resID string, actor imprint.Actor, data any, ifCreated string) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", typ, err)
	}
	var token, created *string
	if actor.TokenID != "" {
		token = &actor.TokenID
	}
	if ifCreated != "" {
		created = &ifCreated
	}
	r.evTypes, r.evResTypes, r.evResIDs = append(r.evTypes, typ), append(r.evResTypes, resType), append(r.evResIDs, resID)
	r.evTokens, r.evNames, r.evRoles = append(r.evTokens, token), append(r.evNames, actor.Name), append(r.evRoles, string(actor.Role))
	r.evData, r.evIfCreated, r.evDevs = append(r.evData, string(raw)), append(r.evIfCreated, created), append(r.evDevs, dev)
	return nil
}

// add puts device dev's rows and events, in the order the general
// transaction writes them.
func (r *deviceRows) add(dev int, d *imprint.NewDevice) error {
	c := d.Certificate
	r.ids, r.serials, r.caIDs = append(r.ids, c.ID), append(r.serials, c.Serial), append(r.caIDs, c.CAID)
	r.subjects, r.cns, r.sans = append(r.subjects, c.Subject), append(r.cns, c.CommonName), append(r.sans, textArrayLiteral(c.SANs))
	r.algs, r.statuses, r.templates = append(r.algs, string(c.KeyAlgorithm)), append(r.statuses, string(c.Status)), append(r.templates, d.Template)
	r.notBefore, r.notAfter, r.ders = append(r.notBefore, c.NotBefore), append(r.notAfter, c.NotAfter), append(r.ders, c.DER)
	if err := r.event(dev, imprint.EventCertificateRegistered, "certificate", c.ID, d.Actor, d.Registered, ""); err != nil {
		return err
	}
	name, typ, attrs := "", "", ""
	if t := d.Thing; t != nil {
		raw, err := json.Marshal(nonNil(t.Attributes))
		if err != nil {
			return err
		}
		name, typ, attrs = t.Name, t.TypeName, string(raw)
		if err := r.event(dev, imprint.EventThingCreated, "thing", t.Name, d.Actor, thingCreatedData(t.TypeName), ""); err != nil {
			return err
		}
		if err := r.event(dev, imprint.EventPrincipalAttached, "thing", t.Name, d.Actor, principalAttachedData(c.ID, false), ""); err != nil {
			return err
		}
	}
	r.thingNames, r.thingTypes, r.thingAttrs = append(r.thingNames, name), append(r.thingTypes, typ), append(r.thingAttrs, attrs)
	var created, attached []string
	for _, p := range d.Policies {
		if p.Document != "" && !slices.Contains(created, p.Name) {
			created = append(created, p.Name)
			r.policyNames, r.policyDocs, r.policyDevs = append(r.policyNames, p.Name), append(r.policyDocs, p.Document), append(r.policyDevs, dev)
			if err := r.event(dev, imprint.EventPolicyCreated, "policy", p.Name, d.Actor, policyCreatedData, p.Name); err != nil {
				return err
			}
		}
		if slices.Contains(attached, p.Name) {
			continue
		}
		attached = append(attached, p.Name)
		bare := !slices.ContainsFunc(d.Policies, func(q imprint.NewDevicePolicy) bool { return q.Name == p.Name && q.Document != "" })
		r.attachNames, r.attachDevs, r.attachBare = append(r.attachNames, p.Name), append(r.attachDevs, dev), append(r.attachBare, bare)
		if err := r.event(dev, imprint.EventPolicyAttached, "policy", p.Name, d.Actor, policyAttachedData(imprint.TargetCertificate, c.ID), ""); err != nil {
			return err
		}
	}
	pending := *c
	pending.Status = imprint.CertificatePendingActivation
	if err := r.event(dev, imprint.EventCertificateActivated, "certificate", c.ID, d.Actor, statusEventData(&pending, c.Status), ""); err != nil {
		return err
	}
	return r.event(dev, imprint.EventCertificateProvisioned, "certificate", c.ID, d.Actor, d.Provisioned, "")
}

// insertDevicesSQL writes, in one statement, the devices that pass its
// checks (ok: the certificate and the thing are new, the thing's type
// exists and is not deprecated, every policy attached without a document
// exists) and returns their numbers ('d' rows) and the default versions of
// their policies ('p' rows: created here, or existing before the statement,
// which sees no row its own parts wrote).
const insertDevicesSQL = `
WITH v AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
	                     $8::timestamptz[], $9::timestamptz[], $10::text[], $11::bytea[], $12::text[],
	                     $14::text[], $15::text[], $16::text[])
	     WITH ORDINALITY AS v(id, serial, ca_id, subject, cn, sans, alg, nb, na, status, der, tpl, thing, typ, attrs, dev)
), ok AS (
	SELECT * FROM v
	WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.id = v.id)
	  AND (v.thing = '' OR NOT EXISTS (SELECT 1 FROM things t WHERE t.name = v.thing))
	  AND (v.typ = '' OR EXISTS (SELECT 1 FROM thing_types y WHERE y.name = v.typ AND NOT y.deprecated))
	  AND NOT EXISTS (SELECT 1 FROM unnest($20::text[], $21::int[], $22::bool[]) AS a(name, dev, bare)
	                  WHERE a.dev = v.dev AND a.bare AND NOT EXISTS (SELECT 1 FROM policies p WHERE p.name = a.name))
), c AS (
	INSERT INTO certificates (id, serial, ca_id, subject, common_name, sans, key_algorithm, not_before, not_after,
	                          status, der, created_at, updated_at, status_changed_at, provisioned_at, provisioned_with)
	SELECT id, serial, ca_id, subject, cn, sans::text[], alg, nb, na, status, der, $13, $13, $13, $13, tpl FROM ok
), t AS (
	INSERT INTO things (name, thing_type, attributes, created_at, updated_at)
	SELECT thing, nullif(typ, ''), attrs::jsonb, $13, $13 FROM ok WHERE thing <> ''
), tp AS (
	INSERT INTO thing_principals (thing_name, certificate_id, exclusive, created_at)
	SELECT thing, id, false, $13 FROM ok WHERE thing <> ''
), pe AS ( -- each policy to create, by the first device of the group that passed
	SELECT DISTINCT ON (name) name, doc, dev FROM unnest($17::text[], $18::text[], $19::int[]) AS e(name, doc, dev)
	WHERE dev IN (SELECT dev FROM ok) ORDER BY name, dev
), p AS (
	INSERT INTO policies (name, default_version, next_version, created_at, updated_at)
	SELECT name, 1, 2, $13, $13 FROM pe
	ON CONFLICT (name) DO NOTHING
	RETURNING name
), pv AS (
	INSERT INTO policy_versions (policy_name, version_id, document, created_at)
	SELECT pe.name, 1, pe.doc, $13 FROM pe JOIN p ON p.name = pe.name
), pa AS (
	INSERT INTO policy_attachments (policy_name, target_type, target_id, created_at)
	SELECT a.name, 'certificate', ok.id, $13 FROM unnest($20::text[], $21::int[]) AS a(name, dev) JOIN ok ON ok.dev = a.dev
), ev AS (
	INSERT INTO audit_events (type, resource_type, resource_id, actor_token, actor_name, actor_role, data, created_at)
	SELECT typ, rtype, rid, token, aname, arole, data::jsonb, $13
	FROM unnest($23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::int[])
	     WITH ORDINALITY AS e(typ, rtype, rid, token, aname, arole, data, if_created, dev, n)
	WHERE e.dev IN (SELECT dev FROM ok)
	  AND (e.if_created IS NULL OR EXISTS (SELECT 1 FROM pe JOIN p ON p.name = pe.name WHERE pe.name = e.if_created AND pe.dev = e.dev))
	ORDER BY n
)
SELECT 'd', dev::text, 0, '', $13::timestamptz FROM ok
UNION ALL
SELECT 'p', pe.name, 1, pe.doc, $13 FROM pe JOIN p ON p.name = pe.name
UNION ALL
SELECT 'p', pol.name, pol.default_version, ver.document, ver.created_at FROM policies pol
JOIN policy_versions ver ON ver.policy_name = pol.name AND ver.version_id = pol.default_version
WHERE pol.name = ANY($20::text[])`

// insertDevices writes the devices of units that pass the statement's
// checks, and returns them, with their certificates' times and their
// policies' default versions set.
func insertDevices(ctx context.Context, q rowsQuerier, units []*deviceUnit, now time.Time) ([]*deviceUnit, error) {
	var r deviceRows
	for i, u := range units {
		if err := r.add(i+1, u.d); err != nil {
			return nil, err
		}
	}
	rows, err := q.Query(ctx, insertDevicesSQL,
		r.ids, r.serials, r.caIDs, r.subjects, r.cns, r.sans, r.algs, r.notBefore, r.notAfter, r.statuses, r.ders, r.templates,
		now, r.thingNames, r.thingTypes, r.thingAttrs, r.policyNames, r.policyDocs, r.policyDevs,
		r.attachNames, r.attachDevs, r.attachBare,
		r.evTypes, r.evResTypes, r.evResIDs, r.evTokens, r.evNames, r.evRoles, r.evData, r.evIfCreated, r.evDevs)
	if err != nil {
		return nil, fmt.Errorf("insert %d first connections: %w", len(units), err)
	}
	var (
		applied  []*deviceUnit
		versions = map[string]imprint.PolicyVersion{}
		kind     string
		v        imprint.PolicyVersion
	)
	if _, err := pgx.ForEachRow(rows, []any{&kind, &v.PolicyName, &v.VersionID, &v.Document, &v.CreatedAt}, func() error {
		if kind == "d" {
			i, err := strconv.Atoi(v.PolicyName)
			if err != nil || i < 1 || i > len(units) {
				return fmt.Errorf("the statement named device %q of %d", v.PolicyName, len(units))
			}
			applied = append(applied, units[i-1])
			return nil
		}
		v.IsDefault = true
		versions[v.PolicyName] = v
		return nil
	}); err != nil {
		return nil, fmt.Errorf("insert %d first connections: %w", len(units), err)
	}
	for _, u := range applied {
		c := u.d.Certificate
		c.CreatedAt, c.UpdatedAt, c.StatusChangedAt, c.ProvisionedAt = now, now, now, now
		u.d.PolicyVersions = nil
		for _, p := range u.d.Policies {
			v, ok := versions[p.Name]
			if !ok { // created by another transaction meanwhile: not read here
				u.d.PolicyVersions = nil
				break
			}
			if !slices.ContainsFunc(u.d.PolicyVersions, func(w imprint.PolicyVersion) bool { return w.PolicyName == p.Name }) {
				u.d.PolicyVersions = append(u.d.PolicyVersions, v)
			}
		}
	}
	return applied, nil
}

// rowsQuerier is a pool, a connection or a transaction.
type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}
