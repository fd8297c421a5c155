package templates

import (
	"strings"

	"github.com/imprint-iot/imprint"
)

// The names a template makes are checked by the rules of the root package
// (imprint.ThingNameRule and the others), when the template is saved for
// the literal text it holds and when it is evaluated for the values made.

// checkStatic reports, when the template is saved, a value that can never
// satisfy rule: a constant that breaks it, or literal text that every
// result contains and that holds a forbidden character or is too long.
func (c *compiler) checkStatic(e *expr, rule *imprint.NameRule) bool {
	if e == nil {
		return true
	}
	if e.op == opLit {
		if e.kind != kString {
			return true
		}
		return rule.Check(&c.ps, e.path, e.lit.s)
	}
	total := 0
	for _, f := range fragments(e, nil) {
		if ch := rule.ForbiddenChar(f); ch != "" {
			c.ps.Add(e.path, "every "+rule.What()+" made here contains "+quote(ch)+"; allowed are "+rule.Allowed())
			return false
		}
		total += len(f)
	}
	if total > rule.MaxLength() {
		c.ps.Add(e.path, "every "+rule.What()+" made here is longer than "+itoa(rule.MaxLength())+" characters")
		return false
	}
	return true
}

// fragments appends to out the literal text that every value of e
// contains, whatever the parameters.
func fragments(e *expr, out []string) []string {
	switch e.op {
	case opLit:
		if e.kind == kString {
			out = append(out, e.lit.s)
		}
	case opSub:
		for _, p := range e.parts {
			if p.e == nil {
				out = append(out, p.text)
			} else {
				out = fragments(p.e, out)
			}
		}
	case opJoin:
		delim, list := e.args[0], e.args[1]
		if list.op == opLit {
			out = append(out, list.lit.list...)
		}
		if list.op != opList {
			break
		}
		certain := true
		for _, item := range list.args {
			out = fragments(item, out)
			certain = certain && item.op != opIf
		}
		if certain && delim.op == opLit && len(list.args) > 1 {
			out = append(out, strings.Repeat(delim.lit.s, len(list.args)-1))
		}
	}
	return out
}

// isHex64 reports whether s is 64 hexadecimal digits, the form of a
// certificate ID.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
