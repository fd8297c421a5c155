package templates

import (
	"strings"
	"unicode/utf8"
)

// nameRule is a naming rule of AWS IoT's API model: a length range and the
// characters allowed.
type nameRule struct {
	what     string
	min, max int
	allowed  [256]bool
	chars    string // for messages
}

func newRule(what string, min, max int, extra string) *nameRule {
	r := &nameRule{what: what, min: min, max: max, chars: "letters, digits and " + extra}
	for c := 'a'; c <= 'z'; c++ {
		r.allowed[c] = true
		r.allowed[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		r.allowed[c] = true
	}
	for i := 0; i < len(extra); i++ {
		r.allowed[extra[i]] = true
	}
	return r
}

// The naming rules (section 1.3 of the reference).
var (
	thingNameRule    = newRule("thing name", 1, 128, ":_-")
	thingTypeRule    = newRule("thing type name", 1, 128, ":_-")
	thingGroupRule   = newRule("thing group name", 1, 128, ":_-")
	billingGroupRule = newRule("billing group name", 1, 128, ":_-")
	attrNameRule     = newRule("attribute name", 1, 128, "_.,@/:#-")
	attrValueRule    = newRule("attribute value", 0, 800, "_.,@/:#=[]-")
	policyNameRule   = newRule("policy name", 1, 128, "_+=,.@-")
)

// check returns "" if s satisfies the rule, or what is wrong.
func (r *nameRule) check(s string) string {
	if len(s) < r.min {
		return "the " + r.what + " is empty"
	}
	if len(s) > r.max {
		return "the " + r.what + " " + quote(s) + " is longer than " + itoa(r.max) + " characters"
	}
	if i := r.forbidden(s); i >= 0 {
		return "the " + r.what + " " + quote(s) + " contains " + quote(badChar(s, i)) + "; allowed are " + r.chars
	}
	return ""
}

// forbidden returns the index of the first character s may not contain,
// or -1.
func (r *nameRule) forbidden(s string) int {
	for i := 0; i < len(s); i++ {
		if !r.allowed[s[i]] {
			return i
		}
	}
	return -1
}

func badChar(s string, i int) string {
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	_, size := utf8.DecodeRuneInString(s[i:])
	return s[i : i+size]
}

// checkStatic reports, when the template is saved, a value that can never
// satisfy rule: a constant that breaks it, or literal text that every
// result contains and that holds a forbidden character or is too long.
func (c *compiler) checkStatic(e *expr, rule *nameRule) bool {
	if e == nil {
		return true
	}
	if e.op == opLit {
		if e.kind != kString {
			return true
		}
		if msg := rule.check(e.lit.s); msg != "" {
			c.ps.Add(e.path, msg)
			return false
		}
		return true
	}
	total := 0
	for _, f := range fragments(e, nil) {
		if i := rule.forbidden(f); i >= 0 {
			c.ps.Add(e.path, "every "+rule.what+" made here contains "+quote(badChar(f, i))+"; allowed are "+rule.chars)
			return false
		}
		total += len(f)
	}
	if total > rule.max {
		c.ps.Add(e.path, "every "+rule.what+" made here is longer than "+itoa(rule.max)+" characters")
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
