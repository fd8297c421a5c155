package policy

import (
	"strings"
	"unicode/utf8"
)

// A pattern is a compiled resource or condition value: literal text, policy
// variables, and (in resources, actions and StringLike values) the wildcards
// '*' (any run of characters, '/' included) and '?' (one character). MQTT's
// '+' and '#' are literal. Matching never backtracks: the text between two
// '*' is placed at its leftmost position, so a match costs at most the
// product of the two lengths.
type pattern struct {
	text string // as written in the document
	kind patternKind
	lit  string    // the text of a patLiteral or the prefix of a patPrefix
	segs []segment // patGlob: the parts between '*'s, so len(segs)-1 stars
	vars []*key    // the variables the pattern uses, for statements to check
}

type patternKind uint8

const (
	patLiteral patternKind = iota // exact text
	patAny                        // '*' alone: anything
	patPrefix                     // literal text then a final '*'
	patGlob                       // anything else
)

// A segment is the part of a pattern between two '*'s.
type segment struct {
	elems []elem
	fixed bool // no '?': its length is known once variables are resolved
}

type elem struct {
	kind elemKind
	lit  string
	key  *key
}

type elemKind uint8

const (
	elemLit elemKind = iota // literal text
	elemOne                 // '?': one character
	elemVar                 // a policy variable's value, literal
)

// compileGlob compiles text with wildcards and no variables, such as an
// action. '$' is literal.
func compileGlob(text string) pattern {
	p, _ := parsePattern(text, true, false)
	return p
}

// parsePattern compiles text. With glob, '*' and '?' are wildcards; with
// vars, "${...}" is a policy variable or one of the escapes ${*}, ${?} and
// ${$}. It returns a message for a malformed or unknown variable.
func parsePattern(text string, glob, vars bool) (pattern, string) {
	b := patternBuilder{p: pattern{text: text}}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case vars && c == '$' && i+1 < len(text) && text[i+1] == '{':
			end := strings.IndexByte(text[i+2:], '}')
			if end < 0 {
				return pattern{}, "unterminated policy variable in " + quote(text)
			}
			if msg := b.variable(text[i+2 : i+2+end]); msg != "" {
				return pattern{}, msg
			}
			i += end + 3
		case glob && c == '*':
			b.star()
			i++
		case glob && c == '?':
			b.one()
			i++
		default:
			j := i + 1
			for j < len(text) && !special(text[j], glob, vars) {
				j++
			}
			b.literal(text[i:j])
			i = j
		}
	}
	return b.finish(), ""
}

func special(c byte, glob, vars bool) bool {
	return (glob && (c == '*' || c == '?')) || (vars && c == '$')
}

type patternBuilder struct {
	p   pattern
	cur segment
}

func (b *patternBuilder) literal(s string) {
	if n := len(b.cur.elems); n > 0 && b.cur.elems[n-1].kind == elemLit {
		b.cur.elems[n-1].lit += s
		return
	}
	b.cur.elems = append(b.cur.elems, elem{kind: elemLit, lit: s})
}

func (b *patternBuilder) one() {
	b.cur.elems = append(b.cur.elems, elem{kind: elemOne})
}

func (b *patternBuilder) star() {
	b.p.segs = append(b.p.segs, b.cur)
	b.cur = segment{}
}

// variable adds the variable or escape named inside "${" and "}".
func (b *patternBuilder) variable(name string) string {
	switch name {
	case "*", "?", "$":
		b.literal(name)
		return ""
	}
	k, ok := parseKey(name)
	if !ok {
		return "unknown policy variable ${" + name + "}"
	}
	if k.multi() {
		return "policy variable ${" + name + "} has many values and cannot be substituted; use it as a condition key"
	}
	b.cur.elems = append(b.cur.elems, elem{kind: elemVar, key: k})
	b.p.vars = append(b.p.vars, k)
	return ""
}

func (b *patternBuilder) finish() pattern {
	b.p.segs = append(b.p.segs, b.cur)
	p := b.p
	for i := range p.segs {
		p.segs[i].fixed = true
		for _, e := range p.segs[i].elems {
			if e.kind == elemOne {
				p.segs[i].fixed = false
			}
		}
	}
	p.kind = patGlob
	switch {
	case len(p.segs) == 1 && literalOnly(p.segs[0]):
		p.kind, p.lit = patLiteral, literalText(p.segs[0])
	case allEmpty(p.segs):
		p.kind = patAny
	case len(p.segs) == 2 && literalOnly(p.segs[0]) && len(p.segs[1].elems) == 0:
		p.kind, p.lit = patPrefix, literalText(p.segs[0])
	}
	return p
}

func literalOnly(s segment) bool {
	return len(s.elems) == 0 || (len(s.elems) == 1 && s.elems[0].kind == elemLit)
}

func literalText(s segment) string {
	if len(s.elems) == 0 {
		return ""
	}
	return s.elems[0].lit
}

func allEmpty(segs []segment) bool {
	for _, s := range segs {
		if len(s.elems) > 0 {
			return false
		}
	}
	return len(segs) > 1
}

// matchString matches s against a pattern without variables.
func (p *pattern) matchString(s string) bool { return p.match(s, nil) }

// match reports whether s matches the pattern, with the variables resolved
// from req. A variable that does not resolve matches nothing.
func (p *pattern) match(s string, req *Request) bool {
	switch p.kind {
	case patLiteral:
		return s == p.lit
	case patAny:
		return true
	case patPrefix:
		return strings.HasPrefix(s, p.lit)
	}
	first := &p.segs[0]
	n, ok := first.matchAt(s, req)
	if !ok {
		return false
	}
	if len(p.segs) == 1 {
		return n == len(s)
	}
	s = s[n:]
	last := len(p.segs) - 1
	for i := 1; i < last; i++ {
		j, n := p.segs[i].find(s, req)
		if j < 0 {
			return false
		}
		s = s[j+n:]
	}
	return p.segs[last].matchSuffix(s, req)
}

// matchAt matches the segment at the start of s and returns the number of
// bytes it covers.
func (g *segment) matchAt(s string, req *Request) (int, bool) {
	i := 0
	for k := range g.elems {
		e := &g.elems[k]
		switch e.kind {
		case elemLit:
			if !strings.HasPrefix(s[i:], e.lit) {
				return 0, false
			}
			i += len(e.lit)
		case elemOne:
			if i >= len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		case elemVar:
			v, ok := e.key.value(req)
			if !ok || !strings.HasPrefix(s[i:], v) {
				return 0, false
			}
			i += len(v)
		}
	}
	return i, true
}

// find returns the leftmost position of s, at a character boundary, where
// the segment matches, and the bytes it covers; or -1.
func (g *segment) find(s string, req *Request) (int, int) {
	if len(g.elems) == 0 {
		return 0, 0
	}
	if g.elems[0].kind == elemLit {
		lit := g.elems[0].lit
		for j := 0; j+len(lit) <= len(s); {
			k := strings.Index(s[j:], lit)
			if k < 0 {
				return -1, 0
			}
			j += k
			if n, ok := g.matchAt(s[j:], req); ok {
				return j, n
			}
			j++
		}
		return -1, 0
	}
	for j := 0; j <= len(s); {
		if n, ok := g.matchAt(s[j:], req); ok {
			return j, n
		}
		if j == len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[j:])
		j += size
	}
	return -1, 0
}

// matchSuffix reports whether the segment matches the end of s, all of s
// being free to precede it.
func (g *segment) matchSuffix(s string, req *Request) bool {
	if len(g.elems) == 0 {
		return true
	}
	if g.fixed {
		n, ok := g.length(req)
		if !ok || n > len(s) {
			return false
		}
		m, ok := g.matchAt(s[len(s)-n:], req)
		return ok && m == n
	}
	for j := 0; j <= len(s); {
		if n, ok := g.matchAt(s[j:], req); ok && j+n == len(s) {
			return true
		}
		if j == len(s) {
			break
		}
		_, size := utf8.DecodeRuneInString(s[j:])
		j += size
	}
	return false
}

// length returns the bytes a fixed segment covers.
func (g *segment) length(req *Request) (int, bool) {
	n := 0
	for k := range g.elems {
		e := &g.elems[k]
		switch e.kind {
		case elemLit:
			n += len(e.lit)
		case elemVar:
			v, ok := e.key.value(req)
			if !ok {
				return 0, false
			}
			n += len(v)
		}
	}
	return n, true
}

// render returns the text of a pattern without wildcards, its variables
// resolved from req.
func (p *pattern) render(req *Request) (string, bool) {
	if p.kind == patLiteral {
		return p.lit, true
	}
	var b strings.Builder
	for _, e := range p.segs[0].elems {
		switch e.kind {
		case elemLit:
			b.WriteString(e.lit)
		case elemVar:
			v, ok := e.key.value(req)
			if !ok {
				return "", false
			}
			b.WriteString(v)
		}
	}
	return b.String(), true
}
