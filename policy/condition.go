package policy

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// A condition is one key of one operator of a statement's Condition block,
// with the values the policy gives it.
type condition struct {
	op       opKind
	cmp      numCmp // opNumeric
	negate   bool   // StringNotEquals, StringNotLike, NumericNotEquals, NotIpAddress
	fold     bool   // ...IgnoreCase
	ifExists bool   // ...IfExists: true when the key is absent
	set      setKind
	key      *key
	strs     []pattern // string operators
	nums     []float64
	prefixes []netip.Prefix
	bools    []bool // Bool, Null
}

type opKind uint8

const (
	opString opKind = iota + 1
	opLike
	opNumeric
	opBool
	opNull
	opIP
)

type numCmp uint8

const (
	numEq numCmp = iota
	numLT
	numLE
	numGT
	numGE
)

type setKind uint8

const (
	setNone setKind = iota
	setAny          // ForAnyValue:
	setAll          // ForAllValues:
)

// operators are the supported condition operators, without set prefix or
// IfExists suffix.
var operators = map[string]condition{
	"StringEquals":              {op: opString},
	"StringNotEquals":           {op: opString, negate: true},
	"StringEqualsIgnoreCase":    {op: opString, fold: true},
	"StringNotEqualsIgnoreCase": {op: opString, fold: true, negate: true},
	"StringLike":                {op: opLike},
	"StringNotLike":             {op: opLike, negate: true},
	"NumericEquals":             {op: opNumeric, cmp: numEq},
	"NumericNotEquals":          {op: opNumeric, cmp: numEq, negate: true},
	"NumericLessThan":           {op: opNumeric, cmp: numLT},
	"NumericLessThanEquals":     {op: opNumeric, cmp: numLE},
	"NumericGreaterThan":        {op: opNumeric, cmp: numGT},
	"NumericGreaterThanEquals":  {op: opNumeric, cmp: numGE},
	"Bool":                      {op: opBool},
	"IpAddress":                 {op: opIP},
	"NotIpAddress":              {op: opIP, negate: true},
	"Null":                      {op: opNull},
}

// unsupportedOperators are IAM operators that IoT policies have no use for.
var unsupportedOperators = []string{"Date", "Arn", "Binary"}

// parseOperator returns the condition template that an operator name
// spells, or a message.
func parseOperator(name string) (condition, string) {
	base, set := name, setNone
	if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		base, set = rest, setAny
	} else if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		base, set = rest, setAll
	}
	c, ok := operators[base]
	if !ok {
		if trimmed, cut := strings.CutSuffix(base, "IfExists"); cut {
			c, ok = operators[trimmed]
			c.ifExists = true
		}
	}
	switch {
	case !ok && hasAnyPrefix(base, unsupportedOperators):
		return condition{}, "unsupported condition operator " + quote(name)
	case !ok:
		return condition{}, "unknown condition operator " + quote(name)
	case c.op == opNull && (set != setNone || c.ifExists):
		return condition{}, "condition operator " + quote(name) + " is not valid: Null takes no set prefix and no IfExists"
	}
	c.set = set
	return c, ""
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// addValue compiles one of the policy's values for the condition.
func (c *condition) addValue(v string) string {
	switch c.op {
	case opString, opLike:
		p, msg := parsePattern(v, c.op == opLike, true)
		if msg != "" {
			return msg
		}
		c.strs = append(c.strs, p)
	case opNumeric:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return quote(v) + " is not a number"
		}
		c.nums = append(c.nums, f)
	case opBool, opNull:
		b, ok := parseBool(v)
		if !ok {
			return quote(v) + " is not true or false"
		}
		c.bools = append(c.bools, b)
	case opIP:
		p, ok := parsePrefix(v)
		if !ok {
			return quote(v) + " is not an IP address or CIDR block"
		}
		c.prefixes = append(c.prefixes, p)
	}
	return ""
}

func parseBool(s string) (value, ok bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, false
		}
		if a, bits := p.Addr(), p.Bits(); a.Is4In6() && bits >= 96 {
			p = netip.PrefixFrom(a.Unmap(), bits-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// vars returns the variables the condition's values use.
func (c *condition) vars() []*key {
	var out []*key
	for i := range c.strs {
		out = append(out, c.strs[i].vars...)
	}
	return out
}

// eval reports whether the condition holds for req, reporting a missing key
// to tr.
func (c *condition) eval(req *Request, tr *trace) bool {
	vals := c.key.values(req)
	present := vals.present()
	if c.op == opNull {
		for _, b := range c.bools {
			if b != present {
				return true
			}
		}
		return false
	}
	if !present {
		if c.ifExists {
			return true
		}
		tr.miss(c.key.name)
		return c.set == setAll || (c.set == setNone && c.negate)
	}
	every := c.set == setAll || (c.set == setNone && c.negate)
	for i := 0; i < vals.n; i++ {
		var h bool
		if vals.ip.IsValid() && c.op == opIP {
			h = c.holdsIP(vals.ip)
		} else if v, ok := vals.at(i); ok {
			h = c.holds(v, req)
		} else {
			continue // left out by the certificate rules
		}
		if h != every {
			return h
		}
	}
	return every
}

// holds reports whether one value of the key satisfies the operator.
func (c *condition) holds(v string, req *Request) bool {
	switch c.op {
	case opNumeric:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		return c.anyNumber(f) != c.negate
	case opIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false
		}
		return c.holdsIP(a.Unmap())
	case opBool:
		b, ok := parseBool(v)
		return ok && containsBool(c.bools, b)
	}
	return c.anyString(v, req) != c.negate
}

func (c *condition) holdsIP(a netip.Addr) bool {
	in := false
	for _, p := range c.prefixes {
		if p.Contains(a) {
			in = true
			break
		}
	}
	return in != c.negate
}

func (c *condition) anyNumber(f float64) bool {
	for _, n := range c.nums {
		var ok bool
		switch c.cmp {
		case numEq:
			ok = f == n
		case numLT:
			ok = f < n
		case numLE:
			ok = f <= n
		case numGT:
			ok = f > n
		case numGE:
			ok = f >= n
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *condition) anyString(v string, req *Request) bool {
	for i := range c.strs {
		p := &c.strs[i]
		if !c.fold {
			if p.match(v, req) {
				return true
			}
			continue
		}
		if s, ok := p.render(req); ok && strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func containsBool(list []bool, b bool) bool {
	for _, v := range list {
		if v == b {
			return true
		}
	}
	return false
}
