package templates

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// compiler turns a decoded template into a *Template, collecting problems.
type compiler struct {
	opts         Options
	limits       Limits
	t            *Template
	ps           imprint.Problems
	declared     map[string]*param
	implicit     map[string]*param // referenced but not declared
	undeclared   []*param          // the implicit parameters that are not certificate-derived, in order
	resourceIDs  map[string]bool
	condIndex    map[string]int
	inConditions bool // compiling the Conditions section, where Fn::If is not allowed
}

// The sections of a template body.
const (
	sectionParameters   = "Parameters"
	sectionMappings     = "Mappings"
	sectionConditions   = "Conditions"
	sectionResources    = "Resources"
	sectionDeviceConfig = "DeviceConfiguration"
)

func (c *compiler) compile(root *jnode) {
	if root.kind != jObject {
		c.ps.Add("", "the template must be a JSON object, not "+root.kindName())
		return
	}
	c.declared = make(map[string]*param)
	c.implicit = make(map[string]*param)
	c.resourceIDs = make(map[string]bool)
	c.condIndex = make(map[string]int)
	for i, key := range root.keys {
		switch key {
		case sectionParameters, sectionMappings, sectionResources, sectionDeviceConfig:
		case sectionConditions:
			if c.opts.DisableExtensions {
				c.ps.Add(key, "the Conditions section is an Imprint extension, disabled for this template")
			}
		default:
			c.ps.Add(child("", key), "unknown section; a template has Parameters, Mappings, Conditions, Resources and DeviceConfiguration")
		}
		if key == sectionResources && root.items[i].kind == jObject {
			for _, id := range root.items[i].keys {
				c.resourceIDs[id] = true
			}
		}
	}
	// The order matters: Resources and DeviceConfiguration refer to
	// parameters, mappings and conditions.
	if n := root.member(sectionParameters); n != nil {
		c.parameters(n, sectionParameters)
	}
	if n := root.member(sectionMappings); n != nil {
		c.mappings(n, sectionMappings)
	}
	if n := root.member(sectionConditions); n != nil && !c.opts.DisableExtensions {
		c.conditions(n, sectionConditions)
	}
	if n := root.member(sectionResources); n != nil {
		c.resources(n, sectionResources)
	} else {
		c.ps.Add("", "the Resources section is required")
	}
	if n := root.member(sectionDeviceConfig); n != nil {
		c.deviceConfiguration(n, sectionDeviceConfig)
	}
	c.checkJITPParameters()
}

func (c *compiler) parameters(n *jnode, path string) {
	if n.kind != jObject {
		c.ps.Add(path, "must be an object of parameter declarations, not "+n.kindName())
		return
	}
	for i, name := range n.keys {
		if p := c.parameter(name, n.items[i], child(path, name)); p != nil {
			c.declared[name] = p
			c.t.params = append(c.t.params, p)
		}
	}
}

func (c *compiler) parameter(name string, n *jnode, path string) *param {
	switch {
	case name == "":
		c.ps.Add(path, "a parameter needs a name")
		return nil
	case name == noValue:
		c.ps.Add(path, "AWS::NoValue is a pseudo parameter and cannot be declared")
		return nil
	case c.resourceIDs[name]:
		c.ps.Add(path, "a resource has the same name; parameters and resources need different names")
		return nil
	}
	if n.kind != jObject {
		c.ps.Add(path, "must be an object with Type and an optional Default, not "+n.kindName())
		return nil
	}
	p := &param{name: name, path: path}
	if isCertParamName(name) {
		if msg := c.certParamProblem(name); msg != "" {
			c.ps.Add(path, msg)
			return nil
		}
		p.cert = true
	}
	ok := c.parameterFields(p, n, path)
	if !ok {
		return nil
	}
	if p.cert && !p.hasDefault && name != ParamCertificateID {
		c.t.certParams = append(c.t.certParams, p)
	}
	return p
}

func (c *compiler) parameterFields(p *param, n *jnode, path string) bool {
	ok := true
	for i, key := range n.keys {
		v, vpath := n.items[i], child(path, key)
		switch key {
		case "Type":
			if v.kind != jString || v.str != "String" {
				c.ps.Add(vpath, "the only parameter type is \"String\": parameter values are always strings (use Fn::Split to make a list)")
				ok = false
			}
		case "Default":
			if v.kind != jString && v.kind != jNumber && v.kind != jBool {
				c.ps.Add(vpath, "Default must be a string, not "+v.kindName())
				ok = false
				continue
			}
			if tooLong(v.str, c.limits.MaxParameterLength) {
				c.ps.Add(vpath, "Default is longer than "+itoa(c.limits.MaxParameterLength)+" characters")
				ok = false
			}
			p.def, p.hasDefault = v.str, true
		default:
			c.ps.Add(vpath, "unknown key; a parameter has Type and Default")
			ok = false
		}
	}
	if n.member("Type") == nil {
		c.ps.Add(path, "Type is required (\"String\")")
		ok = false
	}
	return ok
}

func (c *compiler) mappings(n *jnode, path string) {
	if n.kind != jObject {
		c.ps.Add(path, "must be an object of maps, not "+n.kindName())
		return
	}
	c.t.mappings = make(map[string]map[string]map[string]string, len(n.keys))
	for i, name := range n.keys {
		m := c.mapping(n.items[i], child(path, name))
		if m != nil {
			c.t.mappings[name] = m
		}
	}
}

func (c *compiler) mapping(n *jnode, path string) map[string]map[string]string {
	if n.kind != jObject || isFunction(n) {
		c.ps.Add(path, "a map must be an object of top-level keys, each an object of literal values")
		return nil
	}
	m := make(map[string]map[string]string, len(n.keys))
	for i, top := range n.keys {
		tn, tpath := n.items[i], child(path, top)
		if tn.kind != jObject || isFunction(tn) {
			c.ps.Add(tpath, "a top-level key must hold an object of second-level keys and literal values")
			continue
		}
		second := make(map[string]string, len(tn.keys))
		for j, key := range tn.keys {
			v := tn.items[j]
			switch v.kind {
			case jString, jNumber, jBool:
				second[key] = v.str
			default:
				c.ps.Add(child(tpath, key), "Mappings may hold only literal strings, numbers and booleans, not "+v.kindName()+" (no parameters or functions)")
			}
		}
		m[top] = second
	}
	return m
}

func (c *compiler) deviceConfiguration(n *jnode, path string) {
	if n.kind != jObject || isFunction(n) {
		c.ps.Add(path, "must be an object of keys and string values")
		return
	}
	c.t.hasConfig = true
	for i, key := range n.keys {
		v, vpath := n.items[i], child(path, key)
		if (v.kind == jObject && !isFunction(v)) || v.kind == jArray {
			c.ps.Add(vpath, "nested objects and lists are not supported; DeviceConfiguration values are strings")
			continue
		}
		if e := c.stringExpr(v, vpath, true); e != nil {
			c.t.config = append(c.t.config, keyedExpr{key: key, e: e})
		}
	}
}

// keyedExpr is a member of an object whose values are expressions:
// AttributePayload, DeviceConfiguration.
type keyedExpr struct {
	key string
	e   *expr
}

// lookupParam resolves a parameter name used by Ref or Fn::Sub at path.
func (c *compiler) lookupParam(name, path string) *param {
	if p := c.declared[name]; p != nil {
		p.used = true
		return p
	}
	if p := c.implicit[name]; p != nil {
		return p
	}
	if isCertParamName(name) {
		if msg := c.certParamProblem(name); msg != "" {
			c.ps.Add(path, msg)
			return nil
		}
		p := &param{name: name, path: path, cert: true, used: true}
		c.implicit[name] = p
		return p
	}
	switch {
	case name == noValue:
		c.ps.Add(path, "AWS::NoValue can be used only with Ref")
		return nil
	case c.resourceIDs[name]:
		c.ps.Add(path, quote(name)+" is a resource; Ref takes a parameter name")
		return nil
	case c.t.mappings[name] != nil:
		c.ps.Add(path, quote(name)+" is a mapping; read it with Fn::FindInMap")
		return nil
	case c.hasCondition(name):
		c.ps.Add(path, quote(name)+" is a condition; use it with Fn::If")
		return nil
	case !c.opts.AllowUndeclaredParameters:
		c.ps.Add(path, "parameter "+quote(name)+" is not declared in Parameters")
		return nil
	}
	p := &param{name: name, path: path, used: true}
	c.implicit[name] = p
	c.undeclared = append(c.undeclared, p)
	return p
}

func (c *compiler) hasCondition(name string) bool {
	_, ok := c.condIndex[name]
	return ok
}

// certParamProblem says why a certificate-derived parameter name cannot be
// used in this template, or returns "".
func (c *compiler) certParamProblem(name string) string {
	if _, known := certParamInfo[name]; !known {
		return unknownCertParam(name)
	}
	if strings.HasPrefix(name, extensionCertPrefix) && c.opts.DisableExtensions {
		return quote(name) + " is an Imprint extension, disabled for this template"
	}
	if c.t.typ != JITP && name != ParamCertificateID {
		return quote(name) + " is available only in JITP templates; " + string(c.t.typ) + " templates have only " + ParamCertificateID
	}
	return ""
}

// checkJITPParameters reports parameters that a JITP template uses but can
// never receive: JITP passes only certificate-derived parameters.
func (c *compiler) checkJITPParameters() {
	if c.t.typ != JITP {
		return
	}
	const msg = " is not certificate-derived and has no Default; JITP templates receive only certificate-derived parameters"
	for _, p := range c.t.params {
		if p.used && !p.cert && !p.hasDefault {
			c.ps.Add(p.path, "parameter "+quote(p.name)+msg)
		}
	}
	for _, p := range c.undeclared {
		c.ps.Add(p.path, "parameter "+quote(p.name)+msg)
	}
}
