package policy

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/imprint-iot/imprint"
)

// Policy is a compiled policy document, immutable and safe for concurrent
// use. Compile makes one per policy version; Decide and Explain evaluate
// requests against any number of them.
type Policy struct {
	name    string
	version string
	doc     *Document
	stmts   []statement
	// allow and deny index the statements by the actions they match.
	allow, deny [actionCount][]*statement
}

// Name returns the policy's name.
func (p *Policy) Name() string { return p.name }

// Version returns the policy's version ID, or "" if Compile was given none.
func (p *Policy) Version() string { return p.version }

// Document returns the parsed document. It must not be modified.
func (p *Policy) Document() *Document { return p.doc }

// A statement is a compiled Statement.
type statement struct {
	deny        bool
	actions     actionSet
	notResource bool
	resources   []pattern
	conds       []condition
	vars        []*key // the variables its resources and values use
}

// Parse parses and validates a policy document. It returns an *imprint.Error
// wrapping an *imprint.ValidationError that lists every problem found, each with its
// path, such as `Statement[1].Action[0]: unknown action "iot:Publsh"`; the
// error's kind is TooLarge if the document is over its size limits, Invalid
// otherwise.
func Parse(document string, opts ...Option) (*Document, error) {
	doc, _, err := parse(document, collect(opts))
	return doc, err
}

// Validate is Parse with the default limits, for callers that only need to
// know whether a document is valid. A server checks documents under its
// configured limits instead, with Limits.Validate.
func Validate(document []byte) error {
	return Limits{}.Validate(document)
}

// Validate is Parse under the limits l (zero fields keep their defaults),
// for callers that only need to know whether a document is valid, such as
// a template's policy resources: pass l.Validate as the template's
// PolicyValidator, with the same l the policy API checks documents under.
func (l Limits) Validate(document []byte) error {
	_, _, err := parse(string(document), collect([]Option{WithLimits(l)}))
	return err
}

// Compile parses, validates and compiles the document of the policy named
// name. It returns the errors Parse returns.
func Compile(name, document string, opts ...Option) (*Policy, error) {
	o := collect(opts)
	doc, stmts, err := parse(document, o)
	if err != nil {
		return nil, err
	}
	p := &Policy{name: name, version: o.version, doc: doc, stmts: stmts}
	for i := range p.stmts {
		s := &p.stmts[i]
		for a := Action(1); a < actionCount; a++ {
			if !s.actions.has(a) {
				continue
			}
			if s.deny {
				p.deny[a] = append(p.deny[a], s)
			} else {
				p.allow[a] = append(p.allow[a], s)
			}
		}
	}
	return p, nil
}

func parse(document string, o options) (*Document, []statement, error) {
	lim := o.limits
	if len(document) > lim.MaxBytes {
		return nil, nil, tooLarge("the policy document has " + strconv.Itoa(len(document)) +
			" bytes; the limit is " + strconv.Itoa(lim.MaxBytes))
	}
	if msg := imprint.PolicySizeProblem(document, lim.MaxCharacters); msg != "" {
		return nil, nil, tooLarge(msg)
	}
	c := &compiler{lim: lim, sids: map[string]bool{}}
	c.document(document)
	if err := invalid(&c.ps); err != nil {
		return nil, nil, err
	}
	return &c.doc, c.stmts, nil
}

// invalid returns nil if ps is empty, or the *imprint.Error of kind Invalid
// that wraps its problems, with a message that counts them if there are
// several.
func invalid(ps *imprint.Problems) error {
	what := "invalid policy document"
	if n := len(ps.List()); n > 1 {
		what += " (" + strconv.Itoa(n) + " problems)"
	}
	return ps.Err(imprint.Invalid, what)
}

// tooLarge returns the *imprint.Error of kind TooLarge for a document over a
// size limit, which msg names.
func tooLarge(msg string) error {
	var ps imprint.Problems
	ps.Add("", msg)
	return ps.Err(imprint.TooLarge, "invalid policy document")
}

// compiler parses and compiles one document, collecting its problems.
type compiler struct {
	lim   Limits
	ps    imprint.Problems
	doc   Document
	stmts []statement
	sids  map[string]bool
}

func (c *compiler) document(text string) {
	if t := strings.TrimLeft(text, " \t\r\n"); t == "" || t[0] != '{' {
		c.ps.Add("", "the policy document must be a JSON object")
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		c.ps.Add("", syntaxMessage(err))
		return
	}
	for _, k := range sortedKeys(top) {
		switch k {
		case "Version", "Id", "Statement":
		default:
			c.ps.Add(k, "unknown element (want Version, Id or Statement)")
		}
	}
	c.version(top["Version"], strings.Contains(text, "${"))
	if raw, ok := top["Id"]; ok {
		if id, ok := decodeString(raw); ok {
			c.doc.ID = id
		} else {
			c.ps.Add("Id", "must be a string")
		}
	}
	c.statements(top["Statement"])
}

func (c *compiler) version(raw json.RawMessage, hasVariables bool) {
	if raw == nil {
		c.ps.Add("Version", "is required; use \""+Version2012+"\"")
		return
	}
	v, ok := decodeString(raw)
	switch {
	case !ok:
		c.ps.Add("Version", "must be a string")
	case v == Version2012:
	case v == Version2008 && hasVariables:
		c.ps.Add("Version", "\""+Version2008+"\" does not support policy variables; use \""+Version2012+"\"")
	case v == Version2008:
	default:
		c.ps.Add("Version", "unsupported version "+quote(v)+"; use \""+Version2012+"\"")
	}
	c.doc.Version = v
}

func (c *compiler) statements(raw json.RawMessage) {
	const path = "Statement"
	if raw == nil {
		c.ps.Add(path, "is required")
		return
	}
	list, single, ok := decodeList(raw)
	switch {
	case !ok:
		c.ps.Add(path, "must be an object or a list of objects")
		return
	case single:
		c.statement(list[0], path)
		return
	case len(list) == 0:
		c.ps.Add(path, "must hold at least one statement")
		return
	case len(list) > c.lim.MaxStatements:
		c.ps.Add(path, "has "+strconv.Itoa(len(list))+" statements; the limit is "+strconv.Itoa(c.lim.MaxStatements))
		return
	}
	for i, r := range list {
		c.statement(r, index(path, i))
	}
}

// ValidateName returns an error of kind Invalid unless name is a valid policy
// name: 1 to 128 characters, each a letter, a digit or one of _+=,.@- (AWS
// IoT's rule, imprint.PolicyNameRule). Compile does not check names.
func ValidateName(name string) error {
	return imprint.ValidatePolicyName(name)
}
