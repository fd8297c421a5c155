package templates

import (
	"strconv"

	"github.com/imprint-iot/imprint"
)

// Problem is one fault in a template, or in one evaluation of it, with its
// JSON path, such as "Resources.thing.Properties.ThingName".
type Problem = imprint.Problem

// ValidationError lists every problem found in a template by Parse, or in
// one evaluation by Template.Evaluate, and names the failed step in What
// ("invalid template", "cannot evaluate the template"). Parse and Evaluate
// return it as the cause of an *imprint.Error of kind Invalid whose message
// is the same text; reach it with errors.As to return the problems to a
// client as a list.
type ValidationError = imprint.ValidationError

// child returns the path of the member key of the object at path (see
// imprint.ChildPath).
func child(path, key string) string { return imprint.ChildPath(path, key) }

// index returns the path of item i of the array at path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// quote returns s quoted for a message, cut to a readable length (see
// imprint.Quote).
func quote(s string) string { return imprint.Quote(s) }
