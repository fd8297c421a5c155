package templates

import (
	"strings"
	"unicode/utf8"

	"github.com/imprint-iot/imprint"
)

// evaluator holds the state of one evaluation. It lives on the stack of
// Evaluate; the Template it reads is never written.
type evaluator struct {
	t         *Template
	in        Input
	budget    int       // bytes the evaluation may still compute
	conds     [16]uint8 // the states of the first conditions
	moreConds []uint8   // and of the others
	ps        imprint.Problems
	spent     bool // the budget ran out and was reported
}

// eval evaluates e. On failure it adds a problem and returns a value of
// kind kInvalid, which callers pass up without adding another.
func (ev *evaluator) eval(e *expr) value {
	switch e.op {
	case opLit:
		return e.lit
	case opNoValue:
		return value{kind: kNone}
	case opRef:
		return ev.ref(e)
	case opList:
		return ev.list(e)
	case opJoin:
		return ev.join(e)
	case opSelect:
		return ev.selectFn(e)
	case opSplit:
		return ev.split(e)
	case opSub:
		return ev.sub(e)
	case opFindInMap:
		return ev.findInMap(e)
	case opIf:
		if ev.condition(e.cond) {
			return ev.eval(e.args[0])
		}
		return ev.eval(e.args[1])
	}
	return value{}
}

// output charges n computed bytes to the evaluation; it reports whether
// they fit in the limits.
func (ev *evaluator) output(path string, n int) bool {
	if n > ev.t.limits.MaxValueLength {
		ev.ps.Add(path, "the value would be longer than "+itoa(ev.t.limits.MaxValueLength)+" bytes")
		return false
	}
	ev.budget -= n
	if ev.budget < 0 {
		if !ev.spent {
			ev.spent = true
			ev.ps.Add(path, "the evaluation would compute more than "+itoa(ev.t.limits.MaxOutputLength)+" bytes")
		}
		return false
	}
	return true
}

// notString reports a value that should have been a string, unless its
// evaluation has already failed.
func (ev *evaluator) notString(path string, v value) {
	if v.kind != kInvalid {
		ev.ps.Add(path, "must be a string, not "+v.kind.String())
	}
}

func (ev *evaluator) str(e *expr) (string, bool) {
	v := ev.eval(e)
	if v.kind != kString {
		ev.notString(e.path, v)
		return "", false
	}
	return v.s, true
}

func (ev *evaluator) listValue(e *expr) ([]string, bool) {
	v := ev.eval(e)
	if v.kind != kList {
		if v.kind != kInvalid {
			ev.ps.Add(e.path, "must be a list, not "+v.kind.String())
		}
		return nil, false
	}
	return v.list, true
}

func (ev *evaluator) ref(e *expr) value {
	p := e.param
	s, ok := ev.lookup(p)
	if !ok {
		ev.ps.Add(e.path, missingMessage(p))
		return value{}
	}
	if tooLong(s, ev.t.limits.MaxParameterLength) {
		ev.ps.Add(e.path, "the value of parameter "+quote(p.name)+" is longer than "+itoa(ev.t.limits.MaxParameterLength)+" characters")
		return value{}
	}
	return value{kind: kString, s: s}
}

// lookup finds the value of a parameter, in the order of precedence:
// certificate-derived parameters come only from the certificate; others
// from the pre-provisioning hook's overrides, then the request's
// parameters; then the parameter's Default.
func (ev *evaluator) lookup(p *param) (string, bool) {
	if p.cert {
		if v := ev.in.Certificate[p.name]; v != "" {
			return v, true
		}
	} else {
		if v, ok := ev.in.Overrides[p.name]; ok {
			return v, true
		}
		if v, ok := ev.in.Parameters[p.name]; ok {
			return v, true
		}
	}
	return p.def, p.hasDefault
}

// tooLong reports whether s has more than max characters.
func tooLong(s string, max int) bool {
	return len(s) > max && utf8.RuneCountInString(s) > max
}

func missingMessage(p *param) string {
	if p.cert {
		return "the certificate has no " + certParamInfo[p.name] + " for parameter " + quote(p.name)
	}
	return "parameter " + quote(p.name) + " has no value: it is not among the parameters given and has no Default"
}

func (ev *evaluator) list(e *expr) value {
	out := make([]string, 0, len(e.args))
	for _, a := range e.args {
		v := ev.eval(a)
		switch v.kind {
		case kString:
			out = append(out, v.s)
		case kNone:
		case kList:
			ev.ps.Add(a.path, "a list item must be a string, not a list")
			return value{}
		default:
			return value{}
		}
	}
	return value{kind: kList, list: out}
}

func (ev *evaluator) join(e *expr) value {
	delim, ok := ev.str(e.args[0])
	if !ok {
		return value{}
	}
	list, ok := ev.listValue(e.args[1])
	if !ok {
		return value{}
	}
	switch len(list) {
	case 0:
		return value{kind: kString}
	case 1:
		return value{kind: kString, s: list[0]}
	}
	n := len(delim) * (len(list) - 1)
	for _, s := range list {
		n += len(s)
	}
	if !ev.output(e.path, n) {
		return value{}
	}
	return value{kind: kString, s: strings.Join(list, delim)}
}

func (ev *evaluator) selectFn(e *expr) value {
	idx, ok := ev.str(e.args[0])
	if !ok {
		return value{}
	}
	i, msg := parseIndex(idx)
	if msg != "" {
		ev.ps.Add(e.args[0].path, msg)
		return value{}
	}
	list, ok := ev.listValue(e.args[1])
	if !ok {
		return value{}
	}
	if i >= len(list) {
		ev.ps.Add(e.path, "index "+itoa(i)+" is out of range: the list has "+itoa(len(list))+" items")
		return value{}
	}
	return value{kind: kString, s: list[i]}
}

func (ev *evaluator) split(e *expr) value {
	delim, ok := ev.str(e.args[0])
	if !ok {
		return value{}
	}
	s, ok := ev.str(e.args[1])
	if !ok {
		return value{}
	}
	if delim == "" {
		ev.ps.Add(e.args[0].path, "the delimiter must not be empty")
		return value{}
	}
	n := strings.Count(s, delim) + 1
	if n > ev.t.limits.MaxListLength {
		ev.ps.Add(e.path, "Fn::Split would make "+itoa(n)+" items; the limit is "+itoa(ev.t.limits.MaxListLength))
		return value{}
	}
	if !ev.output(e.path, 16*n) { // the list itself; its strings share s
		return value{}
	}
	return value{kind: kList, list: strings.Split(s, delim)}
}

func (ev *evaluator) findInMap(e *expr) value {
	var keys [3]string
	for i, a := range e.args {
		s, ok := ev.str(a)
		if !ok {
			return value{}
		}
		keys[i] = s
	}
	m, ok := ev.t.mappings[keys[0]]
	if !ok {
		ev.ps.Add(e.args[0].path, "no mapping named "+quote(keys[0]))
		return value{}
	}
	top, ok := m[keys[1]]
	if !ok {
		ev.ps.Add(e.args[1].path, "mapping "+quote(keys[0])+" has no key "+quote(keys[1]))
		return value{}
	}
	v, ok := top[keys[2]]
	if !ok {
		ev.ps.Add(e.args[2].path, "mapping "+quote(keys[0])+" has no key "+quote(keys[2])+" under "+quote(keys[1]))
		return value{}
	}
	return value{kind: kString, s: v}
}
