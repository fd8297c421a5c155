package templates

import (
	"strconv"
	"strings"

	"github.com/imprint-iot/imprint"
)

// maxProblems bounds how many problems one error reports, so that a hostile
// template cannot make an error message huge.
const maxProblems = 50

// Problem is one fault in a template, or in one evaluation of it.
type Problem struct {
	// Path is the JSON path at fault, such as
	// "Resources.thing.Properties.ThingName". It is empty for faults of the
	// whole body, such as a JSON syntax error.
	Path string `json:"path"`
	// Message says what is wrong; it is safe to show to clients.
	Message string `json:"message"`
}

// String returns "path: message", or the message alone if the path is empty.
func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// ValidationError lists every problem found in a template by Parse, or in
// one evaluation by Template.Evaluate. Parse and Evaluate return it as the
// cause of an *imprint.Error of kind Invalid whose message is the same
// text; reach it with errors.As to return the problems to a client as a
// list.
type ValidationError struct {
	Problems []Problem
	what     string // the failed step, such as "invalid template"
}

// Error returns the failed step and the problems separated by semicolons.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.what != "" {
		b.WriteString(e.what + ": ")
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects the problems of one parse or one evaluation.
type problems struct {
	list      []Problem
	truncated bool
}

func (ps *problems) add(path, msg string) {
	if len(ps.list) >= maxProblems {
		ps.truncated = true
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Message: msg})
}

func (ps *problems) ok() bool { return len(ps.list) == 0 }

// err returns nil if there are no problems, or the *imprint.Error of kind
// Invalid that wraps them. what names the failed step for the message.
func (ps *problems) err(what string) error {
	if len(ps.list) == 0 {
		return nil
	}
	list := ps.list
	if ps.truncated {
		list = append(list, Problem{Message: "more problems were not reported"})
	}
	verr := &ValidationError{Problems: list, what: what}
	return &imprint.Error{Kind: imprint.Invalid, Message: verr.Error(), Err: verr}
}

// child returns the path of the member key of the object at path.
func child(path, key string) string {
	if needsQuote(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the path of item i of the array at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func needsQuote(key string) bool {
	if key == "" {
		return true
	}
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '.' || c == '[' || c == ']' || c == '"' || c <= ' ' || c >= 0x7f:
			return true
		}
	}
	return false
}

// quote returns s quoted for a message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}
