package imprint

import "strings"

// MaxProblems bounds how many problems a Problems collector keeps, so that a
// hostile document cannot make an error message huge. Past it, the
// collector notes that more problems were not reported.
const MaxProblems = 50

// truncatedNote is the problem a collector reports in place of those it
// dropped.
const truncatedNote = "more problems were not reported"

// Problem is one fault in a document a client sent, such as a policy
// document or a provisioning template.
type Problem struct {
	// Path names the element at fault, such as "Statement[1].Action[0]" or
	// "Resources.thing.Properties.ThingName". It is empty for faults of the
	// whole document, such as a JSON syntax error.
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

// ValidationError lists every problem found in one document. The parsers
// return it as the cause of an *Error whose Message is the same text; reach
// it with errors.As to return the problems to a client as a list.
type ValidationError struct {
	// What names the step that failed, such as "invalid template"; Error
	// puts it before the problems. Empty means the problems alone.
	What     string
	Problems []Problem
}

// Error returns What and the problems separated by semicolons, as in
// "invalid template: Resources: must be an object; Parameters.x: ...".
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.What != "" {
		b.WriteString(e.What)
		b.WriteString(": ")
	}
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Problems collects the problems of one document, keeping at most
// MaxProblems. The zero value is an empty collector ready to use.
type Problems struct {
	list      []Problem
	truncated bool
}

// Add records that the element at path is at fault, as message says. Past
// MaxProblems it drops the problem and remembers that it did.
func (ps *Problems) Add(path, message string) {
	if len(ps.list) >= MaxProblems {
		ps.truncated = true
		return
	}
	ps.list = append(ps.list, Problem{Path: path, Message: message})
}

// Len returns how many problems ps has kept, not counting any it dropped.
func (ps *Problems) Len() int { return len(ps.list) }

// List returns the problems as Err reports them: those kept and, if Add
// dropped any, a last one without a path saying that more were not
// reported. It returns nil if there are none.
func (ps *Problems) List() []Problem {
	if !ps.truncated {
		return ps.list
	}
	return append(ps.list[:len(ps.list):len(ps.list)], Problem{Message: truncatedNote})
}

// Err returns nil if ps is empty, or an *Error of the given kind wrapping a
// *ValidationError of the problems in List, with the message what (such as
// "invalid template") followed by the problems.
func (ps *Problems) Err(kind Kind, what string) error {
	if len(ps.list) == 0 {
		return nil
	}
	verr := &ValidationError{What: what, Problems: ps.List()}
	return &Error{Kind: kind, Message: verr.Error(), Err: verr}
}
