package templates

import (
	"strconv"
	"strings"
)

// op is the operation of an expression node.
type op uint8

const (
	opLit       op = iota // a constant: lit
	opList                // a list written in the template: args are its items
	opRef                 // a parameter: param
	opNoValue             // AWS::NoValue: drops the property or list item
	opJoin                // args: delimiter, list
	opSelect              // args: index, list
	opSplit               // args: delimiter, string
	opSub                 // parts
	opFindInMap           // args: map name, top-level key, second-level key
	opIf                  // cond; args: value if true, value if false
)

// kind is the type of a value, known when the template is parsed.
type kind uint8

const (
	kInvalid kind = iota // a failed evaluation
	kString
	kList
	kNone // AWS::NoValue
)

func (k kind) String() string {
	switch k {
	case kString:
		return "a string"
	case kList:
		return "a list"
	case kNone:
		return "AWS::NoValue"
	}
	return "invalid"
}

// value is the result of evaluating an expression.
type value struct {
	kind kind
	s    string
	list []string
}

// expr is a compiled template value: a literal, or a function over other
// expressions. Each node keeps its JSON path for error messages.
type expr struct {
	op    op
	kind  kind // the kind of the values it evaluates to (kNone only for AWS::NoValue itself)
	path  string
	lit   value
	args  []*expr
	param *param
	parts []subPart
	cond  int
}

// subPart is a piece of an Fn::Sub string: literal text, or a variable.
type subPart struct {
	text string
	e    *expr
}

// param is a parameter, declared or referenced implicitly.
type param struct {
	name       string
	path       string // where it is declared, or first referenced
	def        string
	hasDefault bool
	cert       bool // certificate-derived: its value comes only from the certificate
	used       bool
}

func literal(path, s string) *expr {
	return &expr{op: opLit, kind: kString, path: path, lit: value{kind: kString, s: s}}
}

// isFunction reports whether n is a function call: an object with exactly
// one member named Ref, Condition or Fn::*.
func isFunction(n *jnode) bool {
	if n.kind != jObject || len(n.keys) != 1 {
		return false
	}
	k := n.keys[0]
	return k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::")
}

// expr compiles any value that may appear in a property. It returns nil
// after adding a problem.
func (c *compiler) expr(n *jnode, path string) *expr {
	switch n.kind {
	case jString, jNumber, jBool:
		return literal(path, n.str)
	case jNull:
		c.ps.Add(path, "null is not allowed")
		return nil
	case jArray:
		return c.list(n, path)
	}
	if !isFunction(n) {
		c.ps.Add(path, "an object is not allowed here; expected a string, a list or a function (Ref, Fn::Join, Fn::Select, Fn::Split, Fn::Sub, Fn::FindInMap, Fn::If)")
		return nil
	}
	name, arg := n.keys[0], n.items[0]
	fpath := child(path, name)
	switch name {
	case "Ref":
		return c.ref(arg, fpath)
	case "Fn::Join":
		return c.fold(c.join(arg, fpath))
	case "Fn::Select":
		return c.fold(c.selectFn(arg, fpath))
	case "Fn::Split":
		return c.fold(c.split(arg, fpath))
	case "Fn::Sub":
		return c.fold(c.sub(arg, fpath))
	case "Fn::FindInMap":
		return c.fold(c.findInMap(arg, fpath))
	case "Fn::If":
		return c.ifFn(arg, fpath)
	case "Condition", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or":
		c.ps.Add(fpath, name+" is allowed only in the Conditions section; use Fn::If with a condition name here")
	case "Fn::GetAtt", "Fn::Base64", "Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Length", "Fn::ToJsonString", "Fn::Transform":
		c.ps.Add(fpath, name+" is not supported in provisioning templates")
	default:
		c.ps.Add(fpath, "unknown function "+quote(name))
	}
	return nil
}

// stringExpr compiles a value that must evaluate to a string. With
// optional, AWS::NoValue is allowed, to leave the value out.
func (c *compiler) stringExpr(n *jnode, path string, optional bool) *expr {
	e := c.expr(n, path)
	if e == nil {
		return nil
	}
	switch {
	case e.kind == kList:
		c.ps.Add(path, "must be a string, not a list")
		return nil
	case e.kind == kNone && !optional:
		c.ps.Add(path, "AWS::NoValue is not allowed here")
		return nil
	}
	return e
}

// listExpr compiles a value that must evaluate to a list of strings.
func (c *compiler) listExpr(n *jnode, path string) *expr {
	e := c.expr(n, path)
	if e == nil {
		return nil
	}
	if e.kind != kList {
		c.ps.Add(path, "must be a list, not "+e.kind.String())
		return nil
	}
	return e
}

// list compiles a list written in the template; its items are strings.
func (c *compiler) list(n *jnode, path string) *expr {
	if len(n.items) > c.limits.MaxListLength {
		c.ps.Add(path, "the list has more than "+itoa(c.limits.MaxListLength)+" items")
		return nil
	}
	e := &expr{op: opList, kind: kList, path: path}
	ok := true
	for i, item := range n.items {
		a := c.stringExpr(item, index(path, i), true)
		if a == nil {
			ok = false
			continue
		}
		if a.op != opNoValue { // a literal AWS::NoValue item is simply absent
			e.args = append(e.args, a)
		}
	}
	if !ok {
		return nil
	}
	return c.fold(e)
}

// args checks that n is a list of exactly want items.
func (c *compiler) args(n *jnode, path, name, want string, count int) []*jnode {
	if n.kind != jArray || len(n.items) != count {
		c.ps.Add(path, name+" takes a list of "+want)
		return nil
	}
	return n.items
}

func (c *compiler) ref(n *jnode, path string) *expr {
	if n.kind != jString {
		c.ps.Add(path, "Ref takes a parameter name (a string), not "+n.kindName())
		return nil
	}
	if n.str == noValue {
		if c.opts.DisableExtensions {
			c.ps.Add(path, "AWS::NoValue is an Imprint extension, disabled for this template")
			return nil
		}
		return &expr{op: opNoValue, kind: kNone, path: path}
	}
	p := c.lookupParam(n.str, path)
	if p == nil {
		return nil
	}
	return &expr{op: opRef, kind: kString, path: path, param: p}
}

func (c *compiler) join(n *jnode, path string) *expr {
	a := c.args(n, path, "Fn::Join", "two items: a delimiter and a list of values", 2)
	if a == nil {
		return nil
	}
	delim := c.stringExpr(a[0], index(path, 0), false)
	list := c.listExpr(a[1], index(path, 1))
	if delim == nil || list == nil {
		return nil
	}
	return &expr{op: opJoin, kind: kString, path: path, args: []*expr{delim, list}}
}

func (c *compiler) selectFn(n *jnode, path string) *expr {
	a := c.args(n, path, "Fn::Select", "two items: an index and a list", 2)
	if a == nil {
		return nil
	}
	idx := c.stringExpr(a[0], index(path, 0), false)
	list := c.listExpr(a[1], index(path, 1))
	if idx == nil || list == nil {
		return nil
	}
	if idx.op == opLit {
		if _, err := parseIndex(idx.lit.s); err != "" {
			c.ps.Add(idx.path, err)
			return nil
		}
	}
	return &expr{op: opSelect, kind: kString, path: path, args: []*expr{idx, list}}
}

// parseIndex parses an Fn::Select index; it returns a message on failure.
func parseIndex(s string) (int, string) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 {
		return 0, "the index must be a whole number from 0, not " + quote(s)
	}
	return i, ""
}

func (c *compiler) split(n *jnode, path string) *expr {
	a := c.args(n, path, "Fn::Split", "two items: a delimiter and a string", 2)
	if a == nil {
		return nil
	}
	delim := c.stringExpr(a[0], index(path, 0), false)
	source := c.stringExpr(a[1], index(path, 1), false)
	if delim == nil || source == nil {
		return nil
	}
	if delim.op == opLit && delim.lit.s == "" {
		c.ps.Add(delim.path, "the delimiter must not be empty")
		return nil
	}
	return &expr{op: opSplit, kind: kList, path: path, args: []*expr{delim, source}}
}

func (c *compiler) findInMap(n *jnode, path string) *expr {
	a := c.args(n, path, "Fn::FindInMap", "three items: a map name, a top-level key and a second-level key", 3)
	if a == nil {
		return nil
	}
	e := &expr{op: opFindInMap, kind: kString, path: path}
	for i, item := range a {
		arg := c.stringExpr(item, index(path, i), false)
		if arg == nil {
			return nil
		}
		e.args = append(e.args, arg)
	}
	if name := e.args[0]; name.op == opLit {
		if _, ok := c.t.mappings[name.lit.s]; !ok {
			c.ps.Add(name.path, "no mapping named "+quote(name.lit.s)+" in Mappings")
			return nil
		}
	}
	return e
}

func (c *compiler) ifFn(n *jnode, path string) *expr {
	if c.opts.DisableExtensions {
		c.ps.Add(path, "Fn::If is an Imprint extension, disabled for this template")
		return nil
	}
	if c.inConditions {
		c.ps.Add(path, "Fn::If is not allowed in the Conditions section")
		return nil
	}
	a := c.args(n, path, "Fn::If", "three items: a condition name, the value if true and the value if false", 3)
	if a == nil {
		return nil
	}
	cond := c.conditionName(a[0], index(path, 0))
	yes := c.expr(a[1], index(path, 1))
	no := c.expr(a[2], index(path, 2))
	if cond < 0 || yes == nil || no == nil {
		return nil
	}
	k := yes.kind
	switch {
	case k == kNone:
		k = no.kind
	case no.kind != kNone && no.kind != k:
		c.ps.Add(path, "the two values must both be strings or both be lists")
		return nil
	}
	return &expr{op: opIf, kind: k, path: path, cond: cond, args: []*expr{yes, no}}
}

// fold evaluates e now if it depends on no parameter or condition, so that
// its problems are found when the template is saved and evaluation finds a
// constant.
func (c *compiler) fold(e *expr) *expr {
	if e == nil {
		return nil
	}
	for _, a := range e.args {
		if a.op != opLit {
			return e
		}
	}
	for _, p := range e.parts {
		if p.e != nil && p.e.op != opLit {
			return e
		}
	}
	ev := evaluator{t: c.t, budget: c.limits.MaxOutputLength}
	v := ev.eval(e)
	if ev.ps.Len() != 0 {
		for _, p := range ev.ps.List() {
			c.ps.Add(p.Path, p.Message)
		}
		return nil
	}
	return &expr{op: opLit, kind: v.kind, path: e.path, lit: v}
}

func itoa(i int) string { return strconv.Itoa(i) }
