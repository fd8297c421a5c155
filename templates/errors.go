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
