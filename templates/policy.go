package templates

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/imprint-iot/imprint"
)

// policyResource is a compiled AWS::IoT::Policy.
type policyResource struct {
	id, path string
	cond     int
	name     *expr     // PolicyName, or nil
	docPath  string    // path of PolicyDocument
	doc      *expr     // PolicyDocument written as a string or a function
	parts    []docPart // PolicyDocument written as an object with functions inside
	fixedDoc string    // PolicyDocument known when parsed, checked
	autoName string    // the name derived from fixedDoc
	hasDoc   bool
}

// docPart is a piece of a policy document written as a JSON object: JSON
// text, or a function whose value is written as a JSON string or list.
type docPart struct {
	text string
	e    *expr
}

func (c *compiler) policy(id, path string, cond int, props, overrides *jnode) {
	if len(c.t.policies) >= c.limits.MaxPolicies {
		c.ps.Add(path, "a template declares at most "+itoa(c.limits.MaxPolicies)+" policies")
		return
	}
	if overrides != nil {
		c.ps.Add(child(path, "OverrideSettings"), "policies take no OverrideSettings")
	}
	r := &policyResource{id: id, path: path, cond: cond}
	ppath := child(path, "Properties")
	for i, key := range props.keys {
		v, vpath := props.items[i], child(ppath, key)
		switch key {
		case "PolicyName":
			r.name = c.stringExpr(v, vpath, false)
			c.checkStatic(r.name, imprint.PolicyNameRule)
		case "PolicyDocument":
			r.hasDoc, r.docPath = true, vpath
			c.policyDocument(r, v, vpath)
		default:
			c.ps.Add(vpath, "unknown property of AWS::IoT::Policy; it has PolicyName or PolicyDocument")
		}
	}
	switch {
	case r.hasDoc && props.member("PolicyName") != nil:
		c.ps.Add(ppath, "give PolicyName to attach an existing policy, or PolicyDocument to create one, not both")
	case !r.hasDoc && props.member("PolicyName") == nil:
		c.ps.Add(ppath, "PolicyName or PolicyDocument is required")
	}
	if r.fixedDoc != "" {
		r.autoName = policyName(r.fixedDoc)
	}
	c.t.policies = append(c.t.policies, r)
}

func (c *compiler) policyDocument(r *policyResource, n *jnode, path string) {
	if n.kind == jObject && !isFunction(n) {
		var b strings.Builder
		c.docParts(r, n, path, &b)
		if len(r.parts) == 0 {
			r.fixedDoc = b.String()
			c.checkPolicy(r.fixedDoc, path, &c.ps)
			return
		}
		if b.Len() > 0 {
			r.parts = append(r.parts, docPart{text: b.String()})
		}
		return
	}
	r.doc = c.stringExpr(n, path, false)
	if r.doc != nil && r.doc.op == opLit {
		r.fixedDoc, r.doc = r.doc.lit.s, nil
		c.checkPolicy(r.fixedDoc, path, &c.ps)
	}
}

// docParts writes n as compact JSON to b, cutting out a part for each
// function in it.
func (c *compiler) docParts(r *policyResource, n *jnode, path string, b *strings.Builder) {
	switch n.kind {
	case jNull:
		b.WriteString("null")
	case jBool, jNumber:
		b.WriteString(n.str)
	case jString:
		writeJSONString(b, n.str)
	case jArray:
		b.WriteByte('[')
		for i, item := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			c.docParts(r, item, index(path, i), b)
		}
		b.WriteByte(']')
	case jObject:
		if isFunction(n) {
			if e := c.expr(n, path); e != nil {
				if e.kind == kNone {
					c.ps.Add(path, "AWS::NoValue is not allowed in a policy document")
				}
				r.parts = append(r.parts, docPart{text: b.String()}, docPart{e: e})
				b.Reset()
			}
			return
		}
		b.WriteByte('{')
		for i, key := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, key)
			b.WriteByte(':')
			c.docParts(r, n.items[i], child(path, key), b)
		}
		b.WriteByte('}')
	}
}

// writeJSONString writes s as a JSON string, without escaping HTML.
func writeJSONString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		default:
			b.WriteRune(r) // invalid UTF-8 becomes U+FFFD
		}
	}
	b.WriteByte('"')
}

// checkPolicy adds a problem under path for each way doc is not an IoT
// policy document, then asks the PolicyValidator if there is one.
func (c *compiler) checkPolicy(doc, path string, ps *imprint.Problems) {
	checkPolicyDocument(doc, path, c.limits, c.t.validator, ps)
}

// checkPolicyDocument checks doc against the size limit of every policy
// document (lim.MaxPolicyCharacters), then as JSON, then with validator.
func checkPolicyDocument(doc, path string, lim Limits, validator func([]byte) error, ps *imprint.Problems) {
	if msg := imprint.PolicySizeProblem(doc, lim.MaxPolicyCharacters); msg != "" {
		ps.Add(path, msg)
		return
	}
	var sub imprint.Problems
	root := decodeJSON(doc, lim.MaxDepth, &sub)
	if root != nil {
		checkPolicyRoot(root, &sub)
	}
	for _, p := range sub.List() {
		ps.Add(joinPath(path, p.Path), "policy document: "+p.Message)
	}
	if sub.Len() == 0 && validator != nil {
		if err := validator([]byte(doc)); err != nil {
			ps.Add(path, "policy document: "+err.Error())
		}
	}
}

func joinPath(prefix, sub string) string {
	switch {
	case sub == "":
		return prefix
	case strings.HasPrefix(sub, "["):
		return prefix + sub
	}
	return prefix + "." + sub
}

func checkPolicyRoot(root *jnode, ps *imprint.Problems) {
	if root.kind != jObject {
		ps.Add("", "must be a JSON object, not "+root.kindName())
		return
	}
	switch v := root.member("Version"); {
	case v == nil:
		ps.Add("", "Version is required (\"2012-10-17\")")
	case v.kind != jString || (v.str != "2012-10-17" && v.str != "2008-10-17"):
		ps.Add("Version", "must be \"2012-10-17\"")
	}
	st := root.member("Statement")
	switch {
	case st == nil:
		ps.Add("", "Statement is required")
	case st.kind == jObject:
		checkStatement(st, "Statement", ps)
	case st.kind == jArray && len(st.items) > 0:
		for i, s := range st.items {
			checkStatement(s, index("Statement", i), ps)
		}
	default:
		ps.Add("Statement", "must be a statement or a non-empty list of statements")
	}
}

func checkStatement(n *jnode, path string, ps *imprint.Problems) {
	if n.kind != jObject {
		ps.Add(path, "a statement must be an object, not "+n.kindName())
		return
	}
	switch e := n.member("Effect"); {
	case e == nil:
		ps.Add(path, "Effect is required (\"Allow\" or \"Deny\")")
	case e.kind != jString || (e.str != "Allow" && e.str != "Deny"):
		ps.Add(child(path, "Effect"), "must be \"Allow\" or \"Deny\"")
	}
	checkStrings(n, "Action", path, ps, true)
	res, notRes := n.member("Resource") != nil, n.member("NotResource") != nil
	switch {
	case res && notRes:
		ps.Add(path, "give Resource or NotResource, not both")
	case res:
		checkStrings(n, "Resource", path, ps, true)
	case notRes:
		checkStrings(n, "NotResource", path, ps, true)
	default:
		ps.Add(path, "Resource is required")
	}
	if cond := n.member("Condition"); cond != nil && cond.kind != jObject {
		ps.Add(child(path, "Condition"), "must be an object")
	}
}

// checkStrings checks that the member key of n is a string or a non-empty
// list of strings.
func checkStrings(n *jnode, key, path string, ps *imprint.Problems, required bool) {
	v := n.member(key)
	if v == nil {
		if required {
			ps.Add(path, key+" is required")
		}
		return
	}
	ok := v.kind == jString || (v.kind == jArray && len(v.items) > 0)
	for _, item := range v.items {
		ok = ok && item.kind == jString
	}
	if !ok {
		ps.Add(child(path, key), "must be a string or a non-empty list of strings")
	}
}

// policyName returns the name of a policy given only by its document: the
// first 160 bits of the SHA-256 of the compact document, in upper-case hex,
// the form AWS IoT's 40-character generated names have.
func policyName(doc string) string {
	var buf bytes.Buffer
	src := []byte(doc)
	if json.Compact(&buf, src) == nil {
		src = buf.Bytes()
	}
	sum := sha256.Sum256(src)
	return strings.ToUpper(hex.EncodeToString(sum[:20]))
}

// document evaluates the policy document of r; ok is false after a problem.
func (ev *evaluator) document(r *policyResource) (doc string, ok bool) {
	if r.doc != nil {
		v := ev.eval(r.doc)
		if v.kind != kString {
			ev.notString(r.doc.path, v)
			return "", false
		}
		doc = v.s
	} else {
		var b strings.Builder
		for _, p := range r.parts {
			if p.e == nil {
				b.WriteString(p.text)
			} else if !ev.docValue(&b, p.e) {
				return "", false
			}
		}
		if !ev.output(r.docPath, b.Len()) {
			return "", false
		}
		doc = b.String()
	}
	before := ev.ps.Len()
	checkPolicyDocument(doc, r.docPath, ev.t.limits, ev.t.validator, &ev.ps)
	return doc, ev.ps.Len() == before
}

// docValue writes the value of e into a policy document being built.
func (ev *evaluator) docValue(b *strings.Builder, e *expr) bool {
	v := ev.eval(e)
	switch v.kind {
	case kString:
		writeJSONString(b, v.s)
	case kList:
		b.WriteByte('[')
		for i, s := range v.list {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, s)
		}
		b.WriteByte(']')
	case kNone:
		ev.ps.Add(e.path, "AWS::NoValue is not allowed in a policy document")
		return false
	default:
		return false
	}
	if b.Len() > ev.t.limits.MaxValueLength {
		ev.ps.Add(e.path, "the policy document is longer than "+itoa(ev.t.limits.MaxValueLength)+" bytes")
		return false
	}
	return true
}
