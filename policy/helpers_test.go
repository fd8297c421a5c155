package policy

import (
	"errors"
	"testing"

	"github.com/imprint-iot/imprint"
)

// mustCompile compiles document as the policy named name, failing the test
// on error.
func mustCompile(tb testing.TB, name, document string) *Policy {
	tb.Helper()
	p, err := Compile(name, document)
	if err != nil {
		tb.Fatalf("Compile(%q) error = %v", name, err)
	}
	return p
}

// problemsOf returns the problems of a validation error, failing the test if
// err is not one.
func problemsOf(tb testing.TB, err error) []imprint.Problem {
	tb.Helper()
	var verr *imprint.ValidationError
	if !errors.As(err, &verr) {
		tb.Fatalf("error %v (%T) is not an *imprint.ValidationError", err, err)
	}
	return verr.Problems
}

// doc wraps statements in a policy document of version 2012-10-17.
func doc(statements string) string {
	return `{"Version":"2012-10-17","Statement":` + statements + `}`
}

// attachedThing returns a thing of that name attached to the certificate.
func attachedThing(name string) *Thing {
	return &Thing{Name: name, Attached: true}
}
