package templates

import (
	"strings"
)

// sub compiles Fn::Sub: either a string, or a list of a string and an
// object of variables. ${Name} names a variable or a parameter; ${!Text}
// is the literal text ${Text}.
func (c *compiler) sub(n *jnode, path string) *expr {
	text, textPath := n, path
	var vars map[string]*expr
	switch {
	case n.kind == jString:
	case n.kind == jArray && len(n.items) == 2 && n.items[0].kind == jString && n.items[1].kind == jObject && !isFunction(n.items[1]):
		text, textPath = n.items[0], index(path, 0)
		vars = c.subVariables(n.items[1], index(path, 1))
		if vars == nil {
			return nil
		}
	default:
		c.ps.Add(path, "Fn::Sub takes a string, or a list of a string and an object of variables")
		return nil
	}
	pieces, msg := splitSub(text.str)
	if msg != "" {
		c.ps.Add(textPath, msg)
		return nil
	}
	e := &expr{op: opSub, kind: kString, path: path}
	ok := true
	for _, pc := range pieces {
		if !pc.variable {
			e.parts = append(e.parts, subPart{text: pc.text})
			continue
		}
		if v, found := vars[pc.text]; found {
			e.parts = append(e.parts, subPart{e: v})
			continue
		}
		p := c.lookupSubVariable(pc.text, textPath)
		if p == nil {
			ok = false
			continue
		}
		e.parts = append(e.parts, subPart{e: &expr{op: opRef, kind: kString, path: textPath, param: p}})
	}
	if !ok {
		return nil
	}
	return e
}

func (c *compiler) lookupSubVariable(name, path string) *param {
	if c.declared[name] == nil && c.implicit[name] == nil && !isCertParamName(name) &&
		!c.opts.AllowUndeclaredParameters && strings.Contains(name, ":") && !strings.HasPrefix(name, "AWS::") {
		// Most likely an IoT policy variable such as ${iot:ClientId}.
		c.ps.Add(path, "${"+name+"} is not a parameter or variable; write ${!"+name+"} for the literal text ${"+name+"}")
		return nil
	}
	return c.lookupParam(name, path)
}

func (c *compiler) subVariables(n *jnode, path string) map[string]*expr {
	vars := make(map[string]*expr, len(n.keys))
	ok := true
	for i, key := range n.keys {
		e := c.stringExpr(n.items[i], child(path, key), false)
		if e == nil {
			ok = false
			continue
		}
		vars[key] = e
	}
	if !ok {
		return nil
	}
	return vars
}

// subPiece is literal text, or the name of a variable, of an Fn::Sub string.
type subPiece struct {
	text     string
	variable bool
}

// splitSub splits an Fn::Sub string into text and variables. It returns a
// message if the string is malformed.
func splitSub(s string) ([]subPiece, string) {
	var pieces []subPiece
	var text strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			text.WriteString(s)
			break
		}
		text.WriteString(s[:i])
		s = s[i+2:]
		if strings.HasPrefix(s, "!") { // ${!Literal} is the text ${Literal}
			text.WriteString("${")
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return nil, "unterminated ${ in the Fn::Sub string"
		}
		name := strings.TrimSpace(s[:end])
		if name == "" {
			return nil, "empty ${} in the Fn::Sub string"
		}
		if text.Len() > 0 {
			pieces = append(pieces, subPiece{text: text.String()})
			text.Reset()
		}
		pieces = append(pieces, subPiece{text: name, variable: true})
		s = s[end+1:]
	}
	if text.Len() > 0 {
		pieces = append(pieces, subPiece{text: text.String()})
	}
	return pieces, ""
}

// sub evaluates Fn::Sub.
func (ev *evaluator) sub(e *expr) value {
	var buf [8]string
	vals := buf[:0]
	n := 0
	for _, p := range e.parts {
		s := p.text
		if p.e != nil {
			v := ev.eval(p.e)
			if v.kind != kString {
				ev.notString(p.e.path, v)
				return value{}
			}
			s = v.s
		}
		vals = append(vals, s)
		n += len(s)
	}
	if !ev.output(e.path, n) {
		return value{}
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range vals {
		b.WriteString(s)
	}
	return value{kind: kString, s: b.String()}
}
