package templates

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// The resource types.
const (
	typeThing       = "AWS::IoT::Thing"
	typeCertificate = "AWS::IoT::Certificate"
	typePolicy      = "AWS::IoT::Policy"
)

// thingResource is a compiled AWS::IoT::Thing.
type thingResource struct {
	id, path  string
	cond      int
	name      *expr
	typeName  *expr
	billing   *expr
	groups    *expr
	attrs     []keyedExpr
	hasAttrs  bool
	overrides ThingOverrides
}

// certResource is a compiled AWS::IoT::Certificate.
type certResource struct {
	id, path       string
	cond           int
	form           string // the property naming the certificate
	value          *expr  // its value
	caPEM          *expr
	status         *expr
	statusOverride Override
}

func (c *compiler) resources(n *jnode, path string) {
	if n.kind != jObject || len(n.keys) == 0 {
		c.ps.Add(path, "must be an object with at least one resource")
		return
	}
	for i, id := range n.keys {
		c.resource(id, n.items[i], child(path, id))
	}
}

func (c *compiler) resource(id string, n *jnode, path string) {
	if n.kind != jObject {
		c.ps.Add(path, "a resource must be an object with Type and Properties, not "+n.kindName())
		return
	}
	typ := n.member("Type")
	if typ == nil || typ.kind != jString {
		c.ps.Add(path, "Type is required: AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy")
		return
	}
	for _, key := range n.keys {
		switch key {
		case "Type", "Properties", "OverrideSettings":
		case "Condition":
			if c.opts.DisableExtensions {
				c.ps.Add(child(path, key), "Condition on resources is an Imprint extension, disabled for this template")
			}
		default:
			c.ps.Add(child(path, key), "unknown key; a resource has Type, Properties, OverrideSettings and Condition")
		}
	}
	cond := -1
	if cn := n.member("Condition"); cn != nil && !c.opts.DisableExtensions {
		if cond = c.conditionName(cn, child(path, "Condition")); cond < 0 {
			return
		}
	}
	props := n.member("Properties")
	if props == nil {
		c.ps.Add(path, "Properties is required")
		return
	}
	if props.kind != jObject || isFunction(props) {
		c.ps.Add(child(path, "Properties"), "must be an object of properties")
		return
	}
	overrides := n.member("OverrideSettings")
	switch typ.str {
	case typeThing:
		c.thing(id, path, cond, props, overrides)
	case typeCertificate:
		c.certificate(id, path, cond, props, overrides)
	case typePolicy:
		c.policy(id, path, cond, props, overrides)
	default:
		c.ps.Add(child(path, "Type"), "unknown resource type "+quote(typ.str)+"; use AWS::IoT::Thing, AWS::IoT::Certificate or AWS::IoT::Policy")
	}
}

func (c *compiler) thing(id, path string, cond int, props, overrides *jnode) {
	if c.t.thing != nil {
		c.ps.Add(path, "a template declares at most one AWS::IoT::Thing; "+quote(c.t.thing.id)+" is one already")
		return
	}
	r := &thingResource{id: id, path: path, cond: cond}
	ppath := child(path, "Properties")
	for i, key := range props.keys {
		v, vpath := props.items[i], child(ppath, key)
		switch key {
		case "ThingName":
			r.name = c.stringExpr(v, vpath, false)
			c.checkStatic(r.name, imprint.ThingNameRule)
		case "ThingTypeName":
			r.typeName = c.stringExpr(v, vpath, true)
			c.checkStatic(r.typeName, imprint.ThingTypeNameRule)
		case "BillingGroup":
			r.billing = c.stringExpr(v, vpath, true)
			c.checkStatic(r.billing, imprint.BillingGroupNameRule)
		case "ThingGroups":
			r.groups = c.thingGroups(v, vpath)
		case "AttributePayload":
			r.attrs, r.hasAttrs = c.attributes(v, vpath), true
		case "PackageVersions":
			c.ps.Add(vpath, "PackageVersions is not supported by Imprint")
		default:
			c.ps.Add(vpath, "unknown property of AWS::IoT::Thing; it has ThingName, AttributePayload, ThingTypeName, ThingGroups and BillingGroup")
		}
	}
	if props.member("ThingName") == nil {
		c.ps.Add(ppath, "ThingName is required")
	}
	r.overrides = ThingOverrides{AttributePayload: DoNothing, ThingTypeName: DoNothing, ThingGroups: DoNothing}
	if overrides != nil {
		c.thingOverrides(&r.overrides, overrides, child(path, "OverrideSettings"))
	}
	c.t.thing = r
}

func (c *compiler) thingGroups(n *jnode, path string) *expr {
	e := c.listExpr(n, path)
	if e == nil {
		return nil
	}
	switch e.op {
	case opLit:
		if len(e.lit.list) > c.limits.MaxThingGroups {
			c.ps.Add(path, "a thing is in at most "+itoa(c.limits.MaxThingGroups)+" groups")
		}
		for i, g := range e.lit.list {
			imprint.ThingGroupNameRule.Check(&c.ps, index(path, i), g)
		}
	case opList:
		for _, a := range e.args {
			c.checkStatic(a, imprint.ThingGroupNameRule)
		}
	}
	return e
}

func (c *compiler) attributes(n *jnode, path string) []keyedExpr {
	if n.kind != jObject || isFunction(n) {
		c.ps.Add(path, "must be an object of attribute names and values")
		return nil
	}
	if !imprint.CheckAttributeCount(&c.ps, path, len(n.keys), c.limits.MaxAttributes) {
		return nil
	}
	attrs := make([]keyedExpr, 0, len(n.keys))
	for i, key := range n.keys {
		vpath := child(path, key)
		if !imprint.AttributeNameRule.Check(&c.ps, vpath, key) {
			continue
		}
		e := c.stringExpr(n.items[i], vpath, true)
		if e == nil || !c.checkStatic(e, imprint.AttributeValueRule) {
			continue
		}
		if e.op != opNoValue {
			attrs = append(attrs, keyedExpr{key: key, e: e})
		}
	}
	return attrs
}

func (c *compiler) certificate(id, path string, cond int, props, overrides *jnode) {
	if c.t.cert != nil {
		c.ps.Add(path, "a template declares at most one AWS::IoT::Certificate; "+quote(c.t.cert.id)+" is one already")
		return
	}
	r := &certResource{id: id, path: path, cond: cond, statusOverride: DoNothing}
	ppath := child(path, "Properties")
	var forms []string
	for i, key := range props.keys {
		v, vpath := props.items[i], child(ppath, key)
		switch key {
		case "CertificateId", "CertificateID", "CertificateSigningRequest", "CertificatePem":
			forms = append(forms, key)
			byID := key == "CertificateId" || key == "CertificateID"
			if !byID && c.t.typ != Registration {
				c.ps.Add(vpath, key+" is not allowed in "+string(c.t.typ)+" templates: the certificate is the device's own; use CertificateId with {\"Ref\": \""+ParamCertificateID+"\"}")
				continue
			}
			r.form, r.value = key, c.stringExpr(v, vpath, false)
			if byID && r.value != nil && r.value.op == opLit && !isHex64(r.value.lit.s) {
				c.ps.Add(vpath, "a certificate ID is 64 hexadecimal digits, not "+quote(r.value.lit.s))
			}
		case "CACertificatePem":
			if c.t.typ != Registration {
				c.ps.Add(vpath, key+" is not allowed in "+string(c.t.typ)+" templates")
				continue
			}
			r.caPEM = c.stringExpr(v, vpath, true)
		case "Status":
			r.status = c.stringExpr(v, vpath, true)
			if r.status != nil && r.status.op == opLit {
				if _, ok := parseStatus(r.status.lit.s); !ok {
					c.ps.Add(vpath, "Status must be ACTIVE or INACTIVE, not "+quote(r.status.lit.s))
				}
			}
		default:
			c.ps.Add(vpath, "unknown property of AWS::IoT::Certificate; it has CertificateId, CertificateSigningRequest, CertificatePem, CACertificatePem and Status")
		}
	}
	switch {
	case len(forms) == 0:
		c.ps.Add(ppath, "name the certificate with CertificateId, CertificateSigningRequest or CertificatePem")
	case len(forms) > 1:
		c.ps.Add(ppath, "name the certificate one way only, not with "+strings.Join(forms, " and "))
	case r.caPEM != nil && r.form != "CertificatePem":
		c.ps.Add(child(ppath, "CACertificatePem"), "CACertificatePem goes only with CertificatePem")
	}
	if overrides != nil {
		c.certOverrides(r, overrides, child(path, "OverrideSettings"))
	}
	c.t.cert = r
}
