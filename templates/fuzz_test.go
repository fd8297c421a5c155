package templates

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

// FuzzTemplate parses, validates and evaluates arbitrary template bodies
// with arbitrary parameters ("name=value" lines) as each template type.
// Nothing may panic, an error must carry its problems, a plan must obey the
// naming rules and limits, and evaluation must be repeatable.
func FuzzTemplate(f *testing.F) {
	for _, body := range []string{
		jitpTemplateBody, fleetTemplateBody, bulkTemplate, conditionalTemplate,
		configTemplate(`{"Fn::Select": [{"Ref": "N"}, {"Fn::Split": [",", {"Ref": "P"}]}]}`),
		configTemplate(`{"Fn::Sub": ["${A}${Q}${!x}", {"A": {"Fn::FindInMap": ["M", {"Ref": "Q"}, "url"]}}]}`),
		configTemplate(`{"Fn::Join": [{"Ref": "Q"}, {"Fn::Split": [{"Ref": "Q"}, {"Ref": "P"}]}]}`),
	} {
		f.Add(body, "SerialNumber=1\nThingName=t\nQ=eu\nP=a,b\nN=1\nRegion=us\nTier=premium\nCSR=x")
	}
	f.Add(`{"Resources":{"p":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":{"Ref":"A"},"Resource":"*"}}}}},"Parameters":{"A":{"Type":"String"}}}`, "A=iot:*")
	f.Add(`{"Parameters":{"X":{"Type":"String"}},"Resources":{"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Fn::Sub":"${X}${X}${X}${X}${X}${X}"}}}}}`, "X="+strings.Repeat("a", 4000))
	cert := CertificateParameters(mustCertificate(f, certOptions{subject: lightBulb, dns: []string{"a.example", "b.example"}}))
	f.Fuzz(func(t *testing.T, body, params string) {
		in := Input{Parameters: parseParams(params), Certificate: cert}
		in.Overrides = map[string]string{"Region": in.Parameters["Override"]}
		for _, opts := range []Options{
			{Type: JITP}, {Type: FleetProvisioning, AllowUndeclaredParameters: true}, {Type: Registration, DisableExtensions: true},
		} {
			tmpl, err := Parse(body, opts)
			if err != nil {
				checkError(t, err)
				continue
			}
			plan, err := tmpl.Evaluate(in)
			if err != nil {
				checkError(t, err)
				continue
			}
			checkPlan(t, tmpl, plan)
			again, err := tmpl.Evaluate(in)
			if err != nil || !reflect.DeepEqual(plan, again) {
				t.Fatalf("second Evaluate() = %+v, %v; want %+v", again, err, plan)
			}
		}
	})
}

func parseParams(s string) map[string]string {
	m := make(map[string]string)
	for line := range strings.SplitSeq(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var verr *ValidationError
	if imprint.ErrorKind(err) != imprint.Invalid || !errors.As(err, &verr) || len(verr.Problems) == 0 || len(verr.Problems) > imprint.MaxProblems+1 {
		t.Fatalf("error = %v, want Invalid with 1 to %d problems", err, imprint.MaxProblems+1)
	}
	for _, p := range verr.Problems {
		if p.Message == "" {
			t.Fatalf("problem at %q has no message", p.Path)
		}
	}
}

func checkPlan(t *testing.T, tmpl *Template, p *Plan) {
	t.Helper()
	maxString := 4 * tmpl.limits.MaxBodyLength // literals, parameters and computed values are all shorter
	check := func(what, s string, rule *imprint.NameRule) {
		if len(s) > maxString {
			t.Fatalf("%s has %d bytes", what, len(s))
		}
		if rule != nil {
			if msg := rule.Problem(s); msg != "" {
				t.Fatalf("%s: %s", what, msg)
			}
		}
	}
	if th := p.Thing; th != nil {
		check("thing name", th.Name, imprint.ThingNameRule)
		if len(th.Groups) > tmpl.limits.MaxThingGroups || len(th.Attributes) > tmpl.limits.MaxAttributes {
			t.Fatalf("thing %+v breaks the limits", th)
		}
		for _, g := range th.Groups {
			check("group", g, imprint.ThingGroupNameRule)
		}
		for k, v := range th.Attributes {
			check("attribute name", k, imprint.AttributeNameRule)
			check("attribute value", v, imprint.AttributeValueRule)
		}
	}
	if c := p.Certificate; c != nil {
		if c.Status != imprint.CertificateActive && c.Status != imprint.CertificateInactive {
			t.Fatalf("certificate status %q", c.Status)
		}
		if c.ID != "" && (!isHex64(c.ID) || strings.ToLower(c.ID) != c.ID) {
			t.Fatalf("certificate ID %q", c.ID)
		}
	}
	for _, pol := range p.Policies {
		check("policy name", pol.Name, imprint.PolicyNameRule)
		if pol.Document != "" && !json.Valid([]byte(pol.Document)) {
			t.Fatalf("policy document %q is not JSON", pol.Document)
		}
	}
	for k, v := range p.DeviceConfiguration {
		check("device configuration "+k, v, nil)
	}
}
