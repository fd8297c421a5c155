package policy

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/imprint-iot/imprint"
)

// FuzzPolicy parses, compiles and evaluates arbitrary documents and
// requests. It checks that nothing panics, that errors are validation errors
// with problems, and that Decide and Explain agree. The size limits keep
// every run short.
func FuzzPolicy(f *testing.F) {
	for _, ex := range examples {
		for _, tc := range ex.cases {
			f.Add(ex.document, byte(tc.req.Action), tc.req.Resource, tc.req.ClientID, "thing-1")
		}
	}
	for _, d := range []string{benchConnect, benchPublish, benchSubscribe} {
		f.Add(d, byte(ActionPublish), "topic/thermostat-0042/x", "thermostat-0042", "thermostat-0042")
	}
	f.Fuzz(func(t *testing.T, document string, action byte, resource, clientID, thing string) {
		p, err := Compile("fuzz", document)
		if err != nil {
			checkError(t, err)
			return
		}
		if _, err := Parse(document); err != nil {
			t.Fatalf("Compile() succeeded and Parse() = %v", err)
		}
		req := &Request{
			Action:            Action(action % (byte(actionCount) + 1)),
			Resource:          resource,
			ClientID:          clientID,
			SourceIP:          netip.MustParseAddr("192.0.2.1"),
			ConnectAttributes: []string{thing},
			Thing:             &Thing{Name: thing, TypeName: clientID, Attributes: map[string]string{"a": thing}, Attached: len(thing)%2 == 0},
			Certificate:       &Certificate{SerialNumber: "1", Subject: Name{CommonName: []string{thing, clientID}}},
		}
		d := Decide(req, p)
		e := Explain(req, p)
		if d.Result != e.Result {
			t.Fatalf("Decide() = %v, Explain() = %v", d.Result, e.Result)
		}
		if (d.Policy != nil) != (d.Result != ImplicitDeny) {
			t.Fatalf("Decide() = %v by %v", d.Result, d.Policy)
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var verr *imprint.ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) == 0 {
		t.Fatalf("Compile() error = %v, want an *imprint.ValidationError with problems", err)
	}
	if k := imprint.ErrorKind(err); k != imprint.Invalid && k != imprint.TooLarge {
		t.Fatalf("Compile() error kind = %v, want invalid or too_large", k)
	}
}
