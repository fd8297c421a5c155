package templates

import (
	"slices"
	"strings"

	"github.com/imprint-iot/imprint"
)

// Input is what one evaluation of a template receives.
type Input struct {
	// Parameters are the request's parameters: those of RegisterThing
	// (device API or control plane) or one line of a bulk registration.
	Parameters map[string]string
	// Certificate holds the certificate-derived parameters, as made by
	// CertificateParameters; for fleet provisioning, at least
	// AWS::IoT::Certificate::Id. Parameters named AWS::IoT::Certificate::*
	// or Imprint::Certificate::* are read only from here, never from
	// Parameters or Overrides, so a device cannot forge them.
	Certificate map[string]string
	// Overrides are the pre-provisioning hook's parameterOverrides; they
	// win over Parameters.
	Overrides map[string]string
}

// Plan is what a template asks provisioning to do for one device. Its
// values satisfy AWS IoT's naming rules; it shares nothing mutable with the
// Template.
type Plan struct {
	Thing       *Thing       // nil if the template declares no thing, or its condition is false
	Certificate *Certificate // nil if the template declares no certificate
	Policies    []Policy     // in the order of the template; attach each to the certificate
	// DeviceConfiguration is returned to the device (the RegisterThing
	// response's deviceConfiguration); nil if the template has none.
	DeviceConfiguration map[string]string
}

// Thing is the thing to create or update.
type Thing struct {
	LogicalID string // the resource's key in Resources
	Name      string
	TypeName  string // empty: none
	// Attributes is nil if the template gives no AttributePayload, and
	// empty if it gives an empty one (which REPLACE applies).
	Attributes map[string]string
	// Groups is nil if the template gives no ThingGroups; duplicates are
	// removed.
	Groups       []string
	BillingGroup string // empty: none
	Overrides    ThingOverrides
}

// Certificate is the certificate to register or activate. Exactly one of
// ID, CSR and PEM is set.
type Certificate struct {
	LogicalID        string
	ID               string                    // lowercase hex; CertificateId
	CSR              string                    // CertificateSigningRequest (registration templates only)
	PEM              string                    // CertificatePem (registration templates only)
	CACertificatePEM string                    // CACertificatePem, with PEM; may be empty
	Status           imprint.CertificateStatus // ACTIVE (the default) or INACTIVE
	StatusOverride   Override
}

// Policy is a policy to attach to the certificate: an existing one named
// Name if Document is empty, or else one created from Document (if no
// policy of that name exists).
type Policy struct {
	LogicalID string
	// Name is PolicyName, or for a document without one, 40 upper-case
	// hexadecimal digits derived from the document.
	Name     string
	Document string // JSON; empty to attach the existing policy Name
}

// planAlloc lets Evaluate allocate a plan and its resources at once.
type planAlloc struct {
	plan  Plan
	thing Thing
	cert  Certificate
}

// Evaluate evaluates the template with in and returns the plan. It returns
// an *imprint.Error of kind Invalid wrapping a *ValidationError if a
// parameter has no value, a function fails (an index out of range, a key
// missing from a mapping) or a value breaks a naming rule or a limit; each
// problem names its JSON path and the parameter at fault.
func (t *Template) Evaluate(in Input) (*Plan, error) {
	ev := evaluator{t: t, in: in, budget: t.limits.MaxOutputLength}
	for _, p := range t.certParams { // JITP: every declared certificate field must exist
		if in.Certificate[p.name] == "" {
			ev.ps.Add(p.path, missingMessage(p))
		}
	}
	a := &planAlloc{}
	if r := t.thing; r != nil && ev.included(r.cond) {
		a.plan.Thing = &a.thing
		ev.thing(r, &a.thing)
	}
	if r := t.cert; r != nil && ev.included(r.cond) {
		a.plan.Certificate = &a.cert
		ev.certificate(r, &a.cert)
	}
	if len(t.policies) > 0 {
		a.plan.Policies = make([]Policy, 0, len(t.policies))
	}
	for _, r := range t.policies {
		if ev.included(r.cond) {
			a.plan.Policies = append(a.plan.Policies, ev.policy(r))
		}
	}
	if t.hasConfig {
		a.plan.DeviceConfiguration = ev.object(t.config, nil)
	}
	if err := ev.ps.Err(imprint.Invalid, "cannot evaluate the template"); err != nil {
		return nil, err
	}
	return &a.plan, nil
}

func (ev *evaluator) thing(r *thingResource, th *Thing) {
	th.LogicalID, th.Overrides = r.id, r.overrides
	if r.name != nil {
		th.Name = ev.name(r.name, imprint.ThingNameRule, true)
	}
	th.TypeName = ev.name(r.typeName, imprint.ThingTypeNameRule, false)
	th.BillingGroup = ev.name(r.billing, imprint.BillingGroupNameRule, false)
	if r.hasAttrs {
		th.Attributes = ev.object(r.attrs, imprint.AttributeValueRule)
	}
	if r.groups != nil {
		th.Groups = ev.groups(r.groups)
	}
}

// name evaluates an optional string property and checks it against rule.
func (ev *evaluator) name(e *expr, rule *imprint.NameRule, required bool) string {
	if e == nil {
		return ""
	}
	v := ev.eval(e)
	switch v.kind {
	case kString:
		rule.Check(&ev.ps, e.path, v.s)
		return v.s
	case kNone:
		if required {
			ev.ps.Add(e.path, "a value is required")
		}
	case kList:
		ev.ps.Add(e.path, "must be a string, not a list")
	}
	return ""
}

// object evaluates AttributePayload or DeviceConfiguration; members whose
// value is AWS::NoValue are left out.
func (ev *evaluator) object(members []keyedExpr, rule *imprint.NameRule) map[string]string {
	m := make(map[string]string, len(members))
	for _, kv := range members {
		v := ev.eval(kv.e)
		switch v.kind {
		case kString:
			if rule != nil {
				rule.Check(&ev.ps, kv.e.path, v.s)
			}
			m[kv.key] = v.s
		case kList:
			ev.ps.Add(kv.e.path, "must be a string, not a list")
		}
	}
	return m
}

func (ev *evaluator) groups(e *expr) []string {
	var out []string
	add := func(g string) {
		if !imprint.ThingGroupNameRule.Check(&ev.ps, e.path, g) {
			return
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if e.op == opList { // evaluate the items straight into the plan
		out = make([]string, 0, len(e.args))
		for _, a := range e.args {
			switch v := ev.eval(a); v.kind {
			case kString:
				add(v.s)
			case kList:
				ev.ps.Add(a.path, "a list item must be a string, not a list")
			}
		}
	} else {
		v := ev.eval(e)
		if v.kind != kList { // AWS::NoValue leaves ThingGroups out
			return nil
		}
		out = make([]string, 0, len(v.list))
		for _, g := range v.list {
			add(g)
		}
	}
	if len(out) > ev.t.limits.MaxThingGroups {
		ev.ps.Add(e.path, "a thing is in at most "+itoa(ev.t.limits.MaxThingGroups)+" groups, not "+itoa(len(out)))
	}
	return out
}

func (ev *evaluator) certificate(r *certResource, c *Certificate) {
	c.LogicalID, c.StatusOverride, c.Status = r.id, r.statusOverride, imprint.CertificateActive
	if r.value != nil {
		if s, ok := ev.str(r.value); ok {
			switch r.form {
			case "CertificateSigningRequest":
				c.CSR = s
			case "CertificatePem":
				c.PEM = s
			default:
				if !isHex64(s) {
					ev.ps.Add(r.value.path, "a certificate ID is 64 hexadecimal digits, not "+quote(s))
				}
				c.ID = strings.ToLower(s)
			}
		}
	}
	if r.caPEM != nil {
		if v := ev.eval(r.caPEM); v.kind == kString {
			c.CACertificatePEM = v.s
		}
	}
	if r.status != nil {
		v := ev.eval(r.status)
		if v.kind == kString {
			st, ok := parseStatus(v.s)
			if !ok {
				ev.ps.Add(r.status.path, "Status must be ACTIVE or INACTIVE, not "+quote(v.s))
			}
			c.Status = st
		}
	}
}

func (ev *evaluator) policy(r *policyResource) Policy {
	p := Policy{LogicalID: r.id, Document: r.fixedDoc, Name: r.autoName}
	if r.name != nil {
		p.Name = ev.name(r.name, imprint.PolicyNameRule, true)
		return p
	}
	if r.fixedDoc == "" {
		if doc, ok := ev.document(r); ok {
			p.Document, p.Name = doc, policyName(doc)
		}
	}
	return p
}
