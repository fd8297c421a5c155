package provisioning

import (
	"context"
	"crypto/x509"
	"slices"
	"strconv"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/templates"
)

// ProvisioningTx is the store within the one transaction of a first
// connection. A step that fails ends the transaction with nothing written;
// a policy that exists already is no failure (EnsurePolicy).
type ProvisioningTx interface {
	LockFirstConnection(ctx context.Context, certificateID string) error
	LockCertificate(ctx context.Context, id string) (*imprint.Certificate, error)
	RecordCertificate(ctx context.Context, c *imprint.Certificate, actor imprint.Actor, data any) error
	MarkProvisioned(ctx context.Context, id, template string, actor imprint.Actor, data any) error
	SetCertificateStatus(ctx context.Context, id string, to imprint.CertificateStatus, actor imprint.Actor) (*imprint.Certificate, error)
	LockThing(ctx context.Context, name string) (*imprint.Thing, error)
	CreateThing(ctx context.Context, t *imprint.Thing, actor imprint.Actor) error
	UpdateThing(ctx context.Context, name string, u imprint.ThingUpdate, actor imprint.Actor) (*imprint.Thing, error)
	ThingGroupNames(ctx context.Context, thing string) ([]string, error)
	AddThingToGroup(ctx context.Context, group, thing string, actor imprint.Actor) error
	RemoveThingFromGroup(ctx context.Context, group, thing string, actor imprint.Actor) error
	AttachPrincipal(ctx context.Context, thing, certificateID string, exclusive bool, actor imprint.Actor) error
	EnsurePolicy(ctx context.Context, name, document string, actor imprint.Actor) (created bool, err error)
	AttachPolicy(ctx context.Context, name, targetType, targetID string, actor imprint.Actor) error
	Event(ctx context.Context, typ, resourceType, resourceID string, actor imprint.Actor, data any) error
}

// Transactor runs fn in one transaction, committed if fn returns nil, and
// runs it again when a concurrent transaction got in the way.
type Transactor interface {
	InProvisioningTx(ctx context.Context, fn func(tx ProvisioningTx) error) error
}

// NewDeviceWriter is a Transactor that can also apply the simple plans of
// first connections of unknown certificates together, many devices in one
// statement (group commit). ProvisionNewDevice reports false, without an
// error, for a device it leaves to the general transaction: it must then
// have written nothing of it.
type NewDeviceWriter interface {
	ProvisionNewDevice(ctx context.Context, d *imprint.NewDevice) (applied bool, err error)
}

// deviceActor is who the audit log says made the changes of a first
// connection: the device, by its certificate ID.
func deviceActor(certificateID string) imprint.Actor {
	return imprint.Actor{Name: certificateID, Role: imprint.RoleDevice}
}

// FirstConnection is a connection with a certificate Imprint has not
// provisioned: its verified leaf, and the registered CA that signed it
// directly.
type FirstConnection struct {
	Leaf *x509.Certificate
	CAID string
}

// Provisioned is what a first connection came to.
type Provisioned struct {
	Certificate *imprint.Certificate // as it is now
	// ThingName is the thing the template made or updated; "" for none.
	ThingName string
	// DeviceConfiguration is the template's, for the device.
	DeviceConfiguration map[string]string
	// Template is the template that provisioned the certificate; "" when
	// the CA has none (JITR: the certificate waits for activation).
	Template string

	jitr *JITREvent // the certificate.registered event of a JITR attempt
	// created is what the connection's decision needs, when the store
	// applied the device together with others and read it: its new thing
	// (attached, in no group) and its policies' default versions.
	created *createdDevice
}

type createdDevice struct {
	thing    *policy.Thing
	versions []imprint.PolicyVersion
}

// RegistrationListener hears of the JITR attempts of first connections: a
// certificate registered PENDING_ACTIVATION, or still pending when it
// connects again. The gateway publishes them to the devices that may hear
// them. CertificateRegistered is called after the transaction committed and
// must not block.
type RegistrationListener interface {
	CertificateRegistered(ev JITREvent)
}

// JITREvent is the data of the certificate.registered event of a
// certificate registered on its first connection without a template, in
// the shape of AWS IoT's JITR notification.
type JITREvent struct {
	CertificateID                    string `json:"certificateId"`
	CACertificateID                  string `json:"caCertificateId"`
	Timestamp                        int64  `json:"timestamp"`
	CertificateStatus                string `json:"certificateStatus"`
	CertificateRegistrationTimestamp string `json:"certificateRegistrationTimestamp"`
}

// ProvisionFirstConnection decides and applies what a connection with a
// certificate not provisioned yet gets, in one transaction:
//
//   - JITP: the CA has auto-registration on and a JITP template. The
//     certificate is registered if unknown, the template is evaluated with
//     the certificate-derived parameters, the thing created or updated by
//     its OverrideSettings, the certificate attached to it, the policies
//     created if absent and attached, the certificate's status set, and the
//     provisioning recorded with its audit events. A template that fails
//     leaves nothing behind and writes a provisioning.failed event; the
//     error, of kind Forbidden, says why.
//   - JITR: the CA has auto-registration on and no template. The
//     certificate is registered PENDING_ACTIVATION with a
//     certificate.registered event (JITREvent); a later connection while it
//     is still pending writes the event again.
//
// A certificate provisioned before is not provisioned again. Concurrent
// first connections of one certificate provision it once. Returns
// Unauthorized when the CA does not allow auto-registration and the
// certificate is unknown.
func (e *Engine) ProvisionFirstConnection(ctx context.Context, fc FirstConnection) (*Provisioned, error) {
	issuer, err := e.ca.CA(fc.CAID)
	if err != nil || issuer.Status != imprint.CAActive {
		return nil, imprint.Errorf(imprint.Unauthorized, "the certificate's CA %s is not a registered ACTIVE CA", fc.CAID)
	}
	if !issuer.AutoRegistration {
		return nil, imprint.Errorf(imprint.Unauthorized,
			"certificate %s is not registered, and its CA %s does not register certificates on their first connection",
			ca.CertificateID(fc.Leaf.Raw), issuer.ID)
	}
	if e.provisioning == nil {
		return nil, imprint.Errorf(imprint.Unavailable, "first connections are not served here")
	}
	record, err := ca.Record(fc.Leaf, issuer.ID, imprint.CertificatePendingActivation)
	if err != nil {
		return nil, err
	}
	var plan *templates.Plan
	if issuer.AutoRegistration && issuer.ProvisioningTemplate != "" {
		if plan, err = e.jitpPlan(ctx, issuer.ProvisioningTemplate, fc.Leaf); err != nil {
			return nil, e.provisioningFailed(ctx, &record, issuer.ProvisioningTemplate, err)
		}
	}
	if w, ok := e.provisioning.(NewDeviceWriter); ok {
		if d := newDevice(issuer.ProvisioningTemplate, &record, plan); d != nil {
			applied, err := w.ProvisionNewDevice(ctx, d)
			if err != nil {
				return nil, err
			}
			if applied {
				out := &Provisioned{Certificate: d.Certificate, ThingName: plan.Thing.Name,
					DeviceConfiguration: plan.DeviceConfiguration, Template: issuer.ProvisioningTemplate}
				if len(d.Policies) == 0 || d.PolicyVersions != nil {
					out.created = &createdDevice{thing: &policy.Thing{Name: d.Thing.Name, TypeName: d.Thing.TypeName,
						Attributes: d.Thing.Attributes, Attached: true}, versions: d.PolicyVersions}
				}
				return out, nil
			}
		}
	}
	var out *Provisioned
	err = e.provisioning.InProvisioningTx(ctx, func(tx ProvisioningTx) error {
		var err error
		out, err = e.firstConnectionTx(ctx, tx, issuer, &record, plan)
		return err
	})
	switch k := imprint.ErrorKind(err); {
	case err == nil:
		if out.jitr != nil {
			for _, l := range e.registered {
				l.CertificateRegistered(*out.jitr)
			}
		}
		return out, nil
	case k == imprint.Unauthorized || k == imprint.Unavailable || k == imprint.Aborted || k == imprint.Internal:
		return nil, err
	default: // the template's plan could not be applied
		return nil, e.provisioningFailed(ctx, &record, issuer.ProvisioningTemplate, err)
	}
}

// jitpPlan evaluates the CA's template with the certificate's parameters.
func (e *Engine) jitpPlan(ctx context.Context, name string, leaf *x509.Certificate) (*templates.Plan, error) {
	t, err := e.template(ctx, name)
	if err != nil {
		return nil, err
	}
	if !t.Enabled {
		return nil, imprint.Errorf(imprint.Forbidden, "template %s is disabled", name)
	}
	tpl, err := e.ParseTemplate(t.Type, t.Body)
	if err != nil {
		return nil, err
	}
	return tpl.Evaluate(templates.Input{Certificate: templates.CertificateParameters(leaf)})
}

// template returns the template a CA provisions first connections with,
// from the engine's cache when it keeps one (Config.CacheCertificates).
func (e *Engine) template(ctx context.Context, name string) (*imprint.ProvisioningTemplate, error) {
	if e.authz == nil {
		return e.templatesDB.Template(ctx, name)
	}
	t, stamp := e.authz.template(name, e.store.AuthorizationGeneration())
	if t != nil {
		return t, nil
	}
	t, err := e.templatesDB.Template(ctx, name)
	if err != nil {
		return nil, err
	}
	e.authz.putTemplate(t, stamp, e.store.AuthorizationGeneration())
	return t, nil
}

// firstConnectionTx is ProvisionFirstConnection's transaction.
func (e *Engine) firstConnectionTx(ctx context.Context, tx ProvisioningTx, issuer *imprint.CA, record *imprint.Certificate,
	plan *templates.Plan) (*Provisioned, error) {
	actor := deviceActor(record.ID)
	if err := tx.LockFirstConnection(ctx, record.ID); err != nil {
		return nil, err
	}
	c, err := tx.LockCertificate(ctx, record.ID)
	switch {
	case imprint.ErrorKind(err) == imprint.NotFound:
		if !issuer.AutoRegistration {
			return nil, imprint.Errorf(imprint.Unauthorized,
				"certificate %s is not registered, and its CA %s does not register certificates on their first connection", record.ID, issuer.ID)
		}
		ev := jitrEvent(record)
		if err := tx.RecordCertificate(ctx, record, actor, ev); err != nil {
			return nil, err
		}
		c = record
		if plan == nil {
			return &Provisioned{Certificate: c, jitr: &ev}, nil
		}
	case err != nil:
		return nil, err
	case !c.ProvisionedAt.IsZero(): // provisioned by a connection before this one
		return &Provisioned{Certificate: c}, nil
	case plan == nil && c.Status == imprint.CertificatePendingActivation:
		// JITR: every attempt while pending tells automation again.
		ev := jitrEvent(c)
		if err := tx.Event(ctx, imprint.EventCertificateRegistered, "certificate", c.ID, actor, ev); err != nil {
			return nil, err
		}
		return &Provisioned{Certificate: c, jitr: &ev}, nil
	}
	if plan == nil {
		return &Provisioned{Certificate: c}, nil
	}
	return e.applyPlan(ctx, tx, issuer.ProvisioningTemplate, c, plan)
}

func jitrEvent(c *imprint.Certificate) JITREvent {
	created := c.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	return JITREvent{CertificateID: c.ID, CACertificateID: c.CAID, Timestamp: time.Now().UnixMilli(),
		CertificateStatus: string(c.Status), CertificateRegistrationTimestamp: strconv.FormatInt(created.UnixMilli(), 10)}
}

// applyPlan does what the template's plan says, in AWS's order: the thing,
// the certificate's attachment to it, the policies, the certificate's status.
func (e *Engine) applyPlan(ctx context.Context, tx ProvisioningTx, template string, c *imprint.Certificate, plan *templates.Plan) (*Provisioned, error) {
	actor := deviceActor(c.ID)
	out := &Provisioned{Certificate: c, DeviceConfiguration: plan.DeviceConfiguration, Template: template}
	if plan.Thing != nil {
		if err := applyThing(ctx, tx, actor, plan.Thing); err != nil {
			return nil, err
		}
		if err := tx.AttachPrincipal(ctx, plan.Thing.Name, c.ID, false, actor); err != nil {
			return nil, err
		}
		out.ThingName = plan.Thing.Name
	}
	for _, p := range plan.Policies {
		if p.Document != "" { // a policy of that name that exists is attached as it is
			if _, err := tx.EnsurePolicy(ctx, p.Name, p.Document, actor); err != nil {
				return nil, err
			}
		}
		if err := tx.AttachPolicy(ctx, p.Name, imprint.TargetCertificate, c.ID, actor); err != nil {
			return nil, err
		}
	}
	if to := certificateStatus(c, plan.Certificate); to != c.Status {
		if to == "" {
			return nil, imprint.Errorf(imprint.Conflict, "certificate %s is %s, and the template's Status override is FAIL", c.ID, c.Status)
		}
		updated, err := tx.SetCertificateStatus(ctx, c.ID, to, actor)
		if err != nil {
			return nil, err
		}
		out.Certificate = updated
	}
	if err := tx.MarkProvisioned(ctx, c.ID, template, actor, provisionedData(template, out.ThingName, out.Certificate.Status)); err != nil {
		return nil, err
	}
	out.Certificate.ProvisionedAt = time.Now()
	return out, nil
}

// provisionedData is the data of a certificate.provisioned event.
func provisionedData(template, thing string, status imprint.CertificateStatus) map[string]any {
	return map[string]any{"template": template, "thingName": thing, "status": status}
}

// newDevice is the provisioning of the unknown certificate record by the
// plan of template as a NewDevice, when the plan is one a NewDeviceWriter
// applies: a thing created in no group (or none), policies attached to
// the certificate, the certificate ACTIVE. Returns nil for any other plan.
// Whether the certificate and the thing are new is the writer's to check.
func newDevice(template string, record *imprint.Certificate, plan *templates.Plan) *imprint.NewDevice {
	if plan == nil || plan.Thing == nil || len(plan.Thing.Groups) > 0 ||
		certificateStatus(record, plan.Certificate) != imprint.CertificateActive {
		return nil
	}
	c := *record
	d := &imprint.NewDevice{Certificate: &c, Registered: jitrEvent(record), Thing: &imprint.Thing{
		Name: plan.Thing.Name, TypeName: plan.Thing.TypeName, Attributes: plan.Thing.Attributes},
		Template: template, Actor: deviceActor(c.ID)}
	c.Status = imprint.CertificateActive
	d.Provisioned = provisionedData(template, plan.Thing.Name, c.Status)
	for _, p := range plan.Policies {
		d.Policies = append(d.Policies, imprint.NewDevicePolicy{Name: p.Name, Document: p.Document})
	}
	return d
}

// certificateStatus is the status the plan gives the certificate: the
// template's Status (ACTIVE when it has no certificate resource) for a
// certificate that waits for activation; for one already ACTIVE or
// INACTIVE (issued by Imprint, never provisioned), what its Status override
// says: keep it (DO_NOTHING), take the template's (REPLACE), or "" when they
// differ and the override is FAIL.
func certificateStatus(c *imprint.Certificate, pc *templates.Certificate) imprint.CertificateStatus {
	want := imprint.CertificateActive
	if pc != nil && pc.Status != "" {
		want = pc.Status
	}
	if c.Status == imprint.CertificatePendingActivation || want == c.Status {
		return want
	}
	override := templates.DoNothing
	if pc != nil && pc.StatusOverride != "" {
		override = pc.StatusOverride
	}
	switch override {
	case templates.Replace:
		return want
	case templates.Fail:
		return ""
	}
	return c.Status
}

// applyThing creates the plan's thing, or updates the existing one as its
// OverrideSettings say (DO_NOTHING when a setting is absent).
func applyThing(ctx context.Context, tx ProvisioningTx, actor imprint.Actor, pt *templates.Thing) error {
	existing, err := tx.LockThing(ctx, pt.Name)
	if imprint.ErrorKind(err) == imprint.NotFound {
		t := &imprint.Thing{Name: pt.Name, TypeName: pt.TypeName, Attributes: pt.Attributes}
		if err := tx.CreateThing(ctx, t, actor); err != nil {
			return err
		}
		for _, g := range pt.Groups {
			if err := tx.AddThingToGroup(ctx, g, pt.Name, actor); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return err
	}
	var u imprint.ThingUpdate
	changed := false
	if pt.Attributes != nil {
		switch pt.Overrides.AttributePayload {
		case templates.Replace:
			u.Attributes, changed = pt.Attributes, true
		case templates.Merge:
			u.Attributes, u.Merge, changed = pt.Attributes, true, true
		case templates.Fail:
			if !equalAttributes(existing.Attributes, pt.Attributes) {
				return imprint.Errorf(imprint.Conflict, "thing %s exists with other attributes, and the template's AttributePayload override is FAIL", pt.Name)
			}
		}
	}
	if pt.TypeName != existing.TypeName {
		switch pt.Overrides.ThingTypeName {
		case templates.Replace:
			u.TypeName, changed = &pt.TypeName, true
		case templates.Fail:
			return imprint.Errorf(imprint.Conflict, "thing %s exists with type %q, and the template's ThingTypeName override is FAIL", pt.Name, existing.TypeName)
		}
	}
	if changed {
		if _, err := tx.UpdateThing(ctx, pt.Name, u, actor); err != nil {
			return err
		}
	}
	if pt.Groups == nil {
		return nil
	}
	return applyGroups(ctx, tx, actor, pt)
}

// applyGroups sets an existing thing's groups as the ThingGroups override
// says.
func applyGroups(ctx context.Context, tx ProvisioningTx, actor imprint.Actor, pt *templates.Thing) error {
	have, err := tx.ThingGroupNames(ctx, pt.Name)
	if err != nil {
		return err
	}
	switch pt.Overrides.ThingGroups {
	case templates.Fail:
		if !sameSet(have, pt.Groups) {
			return imprint.Errorf(imprint.Conflict, "thing %s is in other groups, and the template's ThingGroups override is FAIL", pt.Name)
		}
		return nil
	case templates.Replace:
		for _, g := range have {
			if !slices.Contains(pt.Groups, g) {
				if err := tx.RemoveThingFromGroup(ctx, g, pt.Name, actor); err != nil {
					return err
				}
			}
		}
		fallthrough
	case templates.Merge:
		for _, g := range pt.Groups {
			if !slices.Contains(have, g) {
				if err := tx.AddThingToGroup(ctx, g, pt.Name, actor); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func equalAttributes(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// provisioningFailed records a first connection the template could not
// provision, in a transaction of its own, and returns the error the device
// is refused with: Forbidden, saying why.
func (e *Engine) provisioningFailed(ctx context.Context, c *imprint.Certificate, template string, cause error) error {
	msg := imprint.ErrorMessage(cause)
	if err := e.provisioning.InProvisioningTx(ctx, func(tx ProvisioningTx) error {
		return tx.Event(ctx, imprint.EventProvisioningFailed, "certificate", c.ID, deviceActor(c.ID), map[string]any{
			"certificateId": c.ID, "caId": c.CAID, "template": template, "problem": msg})
	}); err != nil {
		e.log.ErrorContext(ctx, "record a failed provisioning", "certificate", c.ID, "err", err)
	}
	return &imprint.Error{Kind: imprint.Forbidden, Message: "provisioning with template " + template + " failed: " + msg, Err: cause}
}
