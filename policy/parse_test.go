package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		document string
		want     []string // every problem, in order
	}{
		{"not JSON", `{"Version":`, []string{"invalid JSON at byte 11: unexpected end of JSON input"}},
		{"not an object", `[]`, []string{"the policy document must be a JSON object"}},
		{"empty", ``, []string{"the policy document must be a JSON object"}},
		{"no version", `{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`,
			[]string{`Version: is required; use "2012-10-17"`}},
		{"bad version", `{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`,
			[]string{`Version: unsupported version "2020-01-01"; use "2012-10-17"`}},
		{"2008 with variables", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"client/${iot:ClientId}"}}`,
			[]string{`Version: "2008-10-17" does not support policy variables; use "2012-10-17"`}},
		{"unknown top element", `{"Version":"2012-10-17","Statment":[]}`,
			[]string{"Statment: unknown element (want Version, Id or Statement)", "Statement: is required"}},
		{"empty statement list", doc(`[]`), []string{"Statement: must hold at least one statement"}},
		{"statement not object", doc(`"x"`), []string{"Statement: must be an object"}},
		{"statement list item not object", doc(`[1]`), []string{"Statement[0]: must be an object"}},
		{"unknown action", doc(`[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
			{"Effect":"Allow","Action":["iot:Publsh"],"Resource":"*"}]`),
			[]string{`Statement[1].Action[0]: unknown action "iot:Publsh"`}},
		{"every problem at once", doc(`[{"Effect":"allow","Action":["iot:Publish","iot:Publsh",3],"Resource":["topics/a","topic/${iot:Nope}"],
			"Condition":{"StringEqual":{"iot:ClientId":"x"},"StringEquals":{"iot:Nope":"x","aws:CurrentTime":"x"},"NumericEquals":{"iot:ClientId":"x"}}}]`),
			[]string{
				`Statement[0].Effect: must be "Allow" or "Deny"`,
				`Statement[0].Action[1]: unknown action "iot:Publsh"`,
				`Statement[0].Action[2]: must be a string or a list of strings`,
				`Statement[0].Resource[0]: unknown resource type "topics" (want one of client, topic, topicfilter, thing, rolealias)`,
				`Statement[0].Resource[1]: unknown policy variable ${iot:Nope}`,
				`Statement[0].Condition.NumericEquals["iot:ClientId"]: "x" is not a number`,
				`Statement[0].Condition.StringEqual: unknown condition operator "StringEqual"`,
				`Statement[0].Condition.StringEquals["aws:CurrentTime"]: unsupported condition key "aws:CurrentTime" (of the aws: keys, Imprint has aws:SourceIp)`,
				`Statement[0].Condition.StringEquals["iot:Nope"]: unknown condition key "iot:Nope"`,
			}},
		{"missing elements", doc(`{"Sid":"a"}`),
			[]string{"Statement: needs an Effect", "Statement: needs Action or NotAction", "Statement: needs Resource or NotResource"}},
		{"both elements", doc(`{"Effect":"Deny","Action":"*","NotAction":"iot:Connect","Resource":"*","NotResource":"*"}`),
			[]string{"Statement: has both Action and NotAction", "Statement: has both Resource and NotResource"}},
		{"principal", doc(`{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}`),
			[]string{"Statement.Principal: is not allowed in an IoT policy; attach the policy to a certificate or thing group instead"}},
		{"unknown statement element", doc(`{"Effect":"Allow","Actions":"*","Resource":"*"}`),
			[]string{"Statement.Actions: unknown element (want Sid, Effect, Action, NotAction, Resource, NotResource or Condition)", "Statement: needs Action or NotAction"}},
		{"empty lists", doc(`{"Effect":"Allow","Action":[],"Resource":[]}`),
			[]string{"Statement.Action: must not be empty", "Statement.Resource: must not be empty"}},
		{"repeated Sid", doc(`[{"Sid":"s","Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"s","Effect":"Allow","Action":"*","Resource":"*"}]`),
			[]string{`Statement[1].Sid: repeats "s" of an earlier statement`}},
		{"condition shapes", doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"yes"},"Null":"x","IpAddress":{"aws:SourceIp":["10.0.0.0/33",{}]}}}`),
			[]string{
				`Statement.Condition.Bool["iot:Connection.Thing.IsAttached"]: "yes" is not true or false`,
				`Statement.Condition.IpAddress["aws:SourceIp"][0]: "10.0.0.0/33" is not an IP address or CIDR block`,
				`Statement.Condition.IpAddress["aws:SourceIp"][1]: must be a string, number or boolean, or a list of them`,
				"Statement.Condition.Null: must be an object of one or more condition keys",
			}},
		{"condition operator forms", doc(`{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"ForAllValues:Null":{"iot:ClientId":"true"},"DateLessThan":{"iot:ClientId":"x"},"NullIfExists":{"iot:ClientId":"true"}}}`),
			[]string{
				`Statement.Condition.DateLessThan: unsupported condition operator "DateLessThan"`,
				`Statement.Condition.ForAllValues:Null: condition operator "ForAllValues:Null" is not valid: Null takes no set prefix and no IfExists`,
				`Statement.Condition.NullIfExists: condition operator "NullIfExists" is not valid: Null takes no set prefix and no IfExists`,
			}},
		{"multi-valued variable", doc(`{"Effect":"Allow","Action":"*","Resource":"topic/${iot:Certificate.Subject.Organization.List}"}`),
			[]string{"Statement.Resource: policy variable ${iot:Certificate.Subject.Organization.List} has many values and cannot be substituted; use it as a condition key"}},
		{"other service", doc(`{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/*"}`),
			[]string{
				`Statement.Action: action "s3:*" matches no action`,
				`Statement.Resource: ARN "arn:aws:s3:::b/*" names service "s3", not iot`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.document)
			if got := imprint.ErrorKind(err); got != imprint.Invalid {
				t.Fatalf("Parse() error kind = %v, want invalid (error %v)", got, err)
			}
			var got []string
			for _, p := range problemsOf(t, err) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Parse() problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse(doc(`{"Effect":"Allow","Action":"iot:Publsh","Resource":"*"}`))
	want := `invalid policy document: Statement.Action: unknown action "iot:Publsh"`
	if got := imprint.ErrorMessage(err); got != want {
		t.Errorf("ErrorMessage() = %q, want %q", got, want)
	}
	_, err = Parse(doc(`{"Effect":"Allow","Action":["iot:Publsh","iot:Recieve"],"Resource":"*"}`))
	want = `invalid policy document (2 problems): Statement.Action[0]: unknown action "iot:Publsh"; Statement.Action[1]: unknown action "iot:Recieve"`
	if got := imprint.ErrorMessage(err); got != want {
		t.Errorf("ErrorMessage() = %q, want %q", got, want)
	}
}

func TestParseManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"Effect":"Allow","Resource":"*","Action":[`)
	for i := range 80 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"iot:X"`)
	}
	b.WriteString(`]}`)
	_, err := Parse(doc(b.String()), WithLimits(Limits{MaxCharacters: 10000}))
	ps := problemsOf(t, err)
	if len(ps) != imprint.MaxProblems+1 || ps[imprint.MaxProblems].Message != "more problems were not reported" {
		t.Errorf("Parse() = %d problems, want %d and a note", len(ps), imprint.MaxProblems+1)
	}
}

func TestParseLimits(t *testing.T) {
	stmt := `{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}`
	many := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	big := Limits{MaxCharacters: 1 << 20, MaxBytes: 1 << 20}
	// These documents have no whitespace and are ASCII: their characters
	// are their bytes.
	fifty, one := doc(many(50, stmt)), doc(stmt)
	tests := []struct {
		name     string
		document string
		limits   Limits
		kind     imprint.Kind
		want     string
	}{
		{"characters", fifty, Limits{}, imprint.TooLarge,
			fmt.Sprintf("the policy document has %d characters besides whitespace; the limit is 2048", len(fifty))},
		{"characters configured", one, Limits{MaxCharacters: 50}, imprint.TooLarge,
			fmt.Sprintf("the policy document has %d characters besides whitespace; the limit is 50", len(one))},
		{"bytes", one + strings.Repeat(" ", 70000), Limits{}, imprint.TooLarge,
			fmt.Sprintf("the policy document has %d bytes; the limit is 65536", len(one)+70000)},
		{"statements", doc(many(101, stmt)), big, imprint.Invalid,
			"Statement: has 101 statements; the limit is 100"},
		{"list", doc(`{"Effect":"Allow","Action":"iot:Connect","Resource":` + many(257, `"*"`) + `}`), big, imprint.Invalid,
			"Statement.Resource: has 257 items; the limit is 256"},
		{"list configured", doc(`{"Effect":"Allow","Action":"iot:Connect","Resource":` + many(3, `"*"`) + `}`), Limits{MaxListLength: 2}, imprint.Invalid,
			"Statement.Resource: has 3 items; the limit is 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.document, WithLimits(tc.limits))
			if got := imprint.ErrorKind(err); got != tc.kind {
				t.Fatalf("Parse() error kind = %v, want %v (error %v)", got, tc.kind, err)
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].String() != tc.want {
				t.Errorf("Parse() problems = %v, want [%s]", ps, tc.want)
			}
		})
	}
	// Whitespace does not count, multi-byte characters count once.
	padded := strings.ReplaceAll(doc(many(35, stmt)), ",", " ,\n\t ")
	if _, err := Parse(padded); err != nil {
		t.Errorf("Parse(2,000 characters with whitespace) error = %v", err)
	}
	if _, err := Parse(doc(`{"Sid":"` + strings.Repeat("é", 1900) + `","Effect":"Allow","Action":"*","Resource":"*"}`)); err != nil {
		t.Errorf("Parse(1,900 two-byte characters) error = %v", err)
	}
}

func TestParseDocument(t *testing.T) {
	d, err := Parse(`{"Version":"2012-10-17","Id":"p1","Statement":{"Sid":"one","Effect":"Deny","NotAction":["iot:Connect"],
		"NotResource":"topic/a","Condition":{"StringLike":{"iot:ClientId":["a*","b*"]},"Bool":{"iot:Connection.Thing.IsAttached":true},"NumericLessThan":{"iot:Connection.Thing.Attributes[n]":1.5}}}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Document{Version: "2012-10-17", ID: "p1", Statements: []Statement{{
		Sid: "one", Effect: Deny, NotAction: []string{"iot:Connect"}, NotResource: []string{"topic/a"},
		Condition: []Condition{
			{Operator: "Bool", Key: "iot:Connection.Thing.IsAttached", Values: []string{"true"}},
			{Operator: "NumericLessThan", Key: "iot:Connection.Thing.Attributes[n]", Values: []string{"1.5"}},
			{Operator: "StringLike", Key: "iot:ClientId", Values: []string{"a*", "b*"}},
		},
	}}}
	if !equalDocuments(d, &want) {
		t.Errorf("Parse() = %+v, want %+v", d, want)
	}
}

func equalDocuments(a, b *Document) bool {
	return a.Version == b.Version && a.ID == b.ID && slices.EqualFunc(a.Statements, b.Statements, func(x, y Statement) bool {
		return x.Sid == y.Sid && x.Effect == y.Effect && slices.Equal(x.Action, y.Action) && slices.Equal(x.NotAction, y.NotAction) &&
			slices.Equal(x.Resource, y.Resource) && slices.Equal(x.NotResource, y.NotResource) &&
			slices.EqualFunc(x.Condition, y.Condition, func(c, d Condition) bool {
				return c.Operator == d.Operator && c.Key == d.Key && slices.Equal(c.Values, d.Values)
			})
	})
}

func TestParseVersion2008(t *testing.T) {
	d, err := Parse(`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"client/$a"}}`)
	if err != nil || d.Version != Version2008 {
		t.Errorf("Parse(2008-10-17) = %v, %v, want it accepted", d, err)
	}
}

func TestValidate(t *testing.T) {
	if err := Validate([]byte(doc(`{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}`))); err != nil {
		t.Errorf("Validate(valid) error = %v", err)
	}
	err := Validate([]byte(doc(`{"Effect":"Allow","Action":"iot:Connect"}`)))
	var verr *imprint.ValidationError
	if !errors.As(err, &verr) || imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("Validate(invalid) error = %v, want an Invalid *imprint.ValidationError", err)
	}
}
