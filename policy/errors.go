package policy

import (
	"strconv"
	"strings"

	"github.com/imprint-iot/imprint"
)

// maxProblems bounds how many problems one error reports, so that a hostile
// document cannot make an error message huge.
const maxProblems = 50

// Problem is one fault in a policy document.
type Problem struct {
	// Path names the element at fault, such as "Statement[1].Action[0]". It
	// is empty for faults of the whole document, such as a JSON syntax error.
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

// ValidationError lists every problem found in a policy document. Parse,
// Compile and Validate return it wrapped in an *imprint.Error of kind
// Invalid; reach it with errors.As to return the problems as a list.
type ValidationError struct {
	Problems []Problem
}

// Error returns the problems separated by semicolons.
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects the problems of one document.
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

// err returns nil if there are no problems, or the *imprint.Error of kind
// Invalid that wraps them.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := ps.list
	if ps.truncated {
		list = append(list, Problem{Message: "more problems were not reported"})
	}
	verr := &ValidationError{Problems: list}
	msg := "invalid policy document: " + verr.Error()
	if len(list) > 1 {
		msg = "invalid policy document (" + strconv.Itoa(len(list)) + " problems): " + verr.Error()
	}
	return &imprint.Error{Kind: imprint.Invalid, Message: msg, Err: verr}
}

// field returns the path of member name of the element at path.
func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// index returns the path of item i of the list at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// keyPath returns the path of a condition key, which may hold dots.
func keyPath(path, key string) string {
	return path + "[" + strconv.Quote(key) + "]"
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
