package imprint

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// awsNameRules are the rules as AWS IoT's API model writes them (section 1.3
// of the reference), as regular expressions, the oracle the NameRules are
// checked against.
var awsNameRules = []struct {
	rule     *NameRule
	what     string
	min, max int
	pattern  string // the characters, a character class
}{
	{ThingNameRule, "thing name", 1, 128, `[a-zA-Z0-9:_-]`},
	{ThingTypeNameRule, "thing type name", 1, 128, `[a-zA-Z0-9:_-]`},
	{ThingGroupNameRule, "thing group name", 1, 128, `[a-zA-Z0-9:_-]`},
	{BillingGroupNameRule, "billing group name", 1, 128, `[a-zA-Z0-9:_-]`},
	{AttributeNameRule, "attribute name", 1, 128, `[a-zA-Z0-9_.,@/:#-]`},
	{AttributeValueRule, "attribute value", 0, 800, `[a-zA-Z0-9_.,@/:#=\[\]-]`},
	{PolicyNameRule, "policy name", 1, 128, `[\w+=,.@-]`},
	{TemplateNameRule, "template name", 1, 36, `[0-9A-Za-z_-]`},
}

// TestNameRuleCharacters checks every ASCII character, and some that are
// not ASCII, against the AWS pattern of each rule.
func TestNameRuleCharacters(t *testing.T) {
	others := []string{"é", "\u00a0", "\u202e", "\u061c", "\u200f", "\u2066", "\x80", "\xff", "ａ", "𝟘"}
	for _, r := range awsNameRules {
		t.Run(r.what, func(t *testing.T) {
			oracle := regexp.MustCompile(`^` + r.pattern + `$`)
			chars := others
			for c := 0; c < 0x80; c++ {
				chars = append(chars, string(rune(c)))
			}
			for _, c := range chars {
				name := "a" + c + "b"
				msg := r.rule.Problem(name)
				ok := oracle.MatchString(c)
				if ok != (msg == "") {
					t.Errorf("Problem(%q) = %q, want ok %v", name, msg, ok)
				}
				if got := r.rule.Valid(name); got != ok {
					t.Errorf("Valid(%q) = %v, want %v", name, got, ok)
				}
				if msg != "" && !strings.Contains(msg, " contains "+strconv.Quote(c)+"; allowed are ") {
					t.Errorf("Problem(%q) = %q, want it to name the character", name, msg)
				}
			}
		})
	}
}

// TestNameRuleLengths checks each rule at and past its bounds.
func TestNameRuleLengths(t *testing.T) {
	for _, r := range awsNameRules {
		t.Run(r.what, func(t *testing.T) {
			if got := r.rule.What(); got != r.what {
				t.Errorf("What() = %q, want %q", got, r.what)
			}
			if got := r.rule.MaxLength(); got != r.max {
				t.Errorf("MaxLength() = %d, want %d", got, r.max)
			}
			tests := []struct {
				n    int
				want string // "" for none, or the problem
			}{
				{r.min, ""},
				{r.max, ""},
				{r.max + 1, "the " + r.what + " " + Quote(strings.Repeat("a", r.max+1)) + " is longer than " + strconv.Itoa(r.max) + " characters"},
				{4 * r.max, "is longer than"},
			}
			if r.min > 0 {
				tests = append(tests, struct {
					n    int
					want string
				}{r.min - 1, "the " + r.what + " is empty"})
			}
			for _, tt := range tests {
				got := r.rule.Problem(strings.Repeat("a", tt.n))
				if valid := r.rule.Valid(strings.Repeat("a", tt.n)); valid != (got == "") {
					t.Errorf("Valid(%d characters) = %v, Problem = %q", tt.n, valid, got)
				}
				switch {
				case tt.want == "" && got != "":
					t.Errorf("Problem(%d characters) = %q, want none", tt.n, got)
				case tt.want != "" && !strings.Contains(got, tt.want):
					t.Errorf("Problem(%d characters) = %q, want %q", tt.n, got, tt.want)
				}
			}
		})
	}
}

func TestNameRuleMessages(t *testing.T) {
	tests := []struct {
		name string
		rule *NameRule
		s    string
		want string
	}{
		{"space in a thing name", ThingNameRule, "a b", `the thing name "a b" contains " "; allowed are letters, digits and :_-`},
		{"slash in a thing group name", ThingGroupNameRule, "a/b", `the thing group name "a/b" contains "/"; allowed are letters, digits and :_-`},
		{"colon in a policy name", PolicyNameRule, "a:b", `the policy name "a:b" contains ":"; allowed are letters, digits and _+=,.@-`},
		{"dot in a template name", TemplateNameRule, "a.b", `the template name "a.b" contains "."; allowed are letters, digits and _-`},
		{"semicolon in an attribute value", AttributeValueRule, "a;b", `the attribute value "a;b" contains ";"; allowed are letters, digits and _.,@/:#=[]-`},
		{"bidi control, escaped", PolicyNameRule, "p\u061c", `the policy name "p\u061c" contains "\u061c"; allowed are letters, digits and _+=,.@-`},
		{"a character before the length", ThingNameRule, strings.Repeat("a", 200) + " ", `contains " "`},
		{"a multi-byte character whole", ThingNameRule, "aé", `the thing name "aé" contains "é"`},
		{"long names cut", ThingNameRule, strings.Repeat("a", 129), `the thing name "` + strings.Repeat("a", 64) + `"... is longer than 128 characters`},
		{"empty attribute value", AttributeValueRule, "", ""},
		{"empty attribute name", AttributeNameRule, "", "the attribute name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.rule.Problem(tt.s)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("Problem(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

// problemsOf returns the problems of an Invalid error, failing the test if
// err is not one.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var verr *ValidationError
	if ErrorKind(err) != Invalid || !errors.As(err, &verr) {
		t.Fatalf("error = %v, want Invalid with a *ValidationError", err)
	}
	return verr.Problems
}

func TestValidateFunctions(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		path    string
		message string // the error's whole message
	}{
		{"thing name", ThingNameRule.Validate("thingName", "a b"), "thingName",
			`thingName: the thing name "a b" contains " "; allowed are letters, digits and :_-`},
		{"registry name", ValidateName("thingTypeName", ""), "thingTypeName", "thingTypeName: the name is empty"},
		{"policy name without a path", ValidatePolicyName("my policy"), "",
			`the policy name "my policy" contains " "; allowed are letters, digits and _+=,.@-`},
		{"template name", ValidateTemplateName("name", strings.Repeat("t", 37)), "name",
			`name: the template name "` + strings.Repeat("t", 37) + `" is longer than 36 characters`},
		{"template type", ValidateTemplateType("type", "OTHER"), "type", `type: must be JITP or FLEET_PROVISIONING, not "OTHER"`},
		{"description", ValidateDescription("description", "a\u202eb"), "description",
			"description: must be at most 500 characters of UTF-8 with no control or bidirectional formatting characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.err)
			if len(ps) != 1 || ps[0].Path != tt.path {
				t.Errorf("problems = %+v, want one under %q", ps, tt.path)
			}
			if got := ErrorMessage(tt.err); got != tt.message {
				t.Errorf("message = %q, want %q", got, tt.message)
			}
		})
	}
	for name, err := range map[string]error{
		"thing name":       ThingNameRule.Validate("thingName", "dev:1_a-B"),
		"registry name":    ValidateName("x", strings.Repeat("g", 128)),
		"policy name":      ValidatePolicyName("p+=,.@-_1"),
		"template name":    ValidateTemplateName("name", strings.Repeat("t", 36)),
		"JITP":             ValidateTemplateType("type", TemplateJITP),
		"fleet":            ValidateTemplateType("type", TemplateFleetProvisioning),
		"description":      ValidateDescription("description", strings.Repeat("é", 500)),
		"no description":   ValidateDescription("description", ""),
		"attributes":       ValidateAttributes(map[string]string{"a.b/c@d:e#f,g_h-i": "v=[1]", "empty": ""}),
		"no attributes":    ValidateAttributes(nil),
		"policy of 2,048 ": errorOf(PolicySizeProblem(strings.Repeat("x", 2048), 0)),
	} {
		if err != nil {
			t.Errorf("%s: error = %v, want nil", name, err)
		}
	}
}

func errorOf(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(msg)
}

func TestValidateDescription(t *testing.T) {
	tests := []struct {
		name string
		d    string
		ok   bool
	}{
		{"500 characters of two bytes", strings.Repeat("é", 500), true},
		{"501 characters", strings.Repeat("a", 501), false},
		{"newline", "a\nb", false},
		{"NUL", "a\x00b", false},
		{"C1 control", "a\u0085b", false},
		{"bidi isolate", "a\u2066b", false},
		{"not UTF-8", "caf\xe9", false},
		{"text", "Line A sensors, hall 3 (Zürich)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateDescription("description", tt.d); (err == nil) != tt.ok {
				t.Errorf("ValidateDescription(%q) = %v, want ok %v", tt.d, err, tt.ok)
			}
		})
	}
}

func TestValidateAttributes(t *testing.T) {
	fifty := map[string]string{}
	for i := 0; i < 50; i++ {
		fifty["k"+strconv.Itoa(i)] = "v"
	}
	fiftyOne := map[string]string{"k50": "v"}
	for k, v := range fifty {
		fiftyOne[k] = v
	}
	tests := []struct {
		name  string
		attrs map[string]string
		want  []Problem // nil: valid
	}{
		{"50 pairs", fifty, nil},
		{"51 pairs", fiftyOne, []Problem{{Path: "attributes", Message: "at most 50 attributes are allowed, not 51"}}},
		{"name of 128", map[string]string{strings.Repeat("n", 128): "v"}, nil},
		{"name of 129", map[string]string{strings.Repeat("n", 129): "v"},
			[]Problem{{Path: "attributes." + strings.Repeat("n", 129), Message: AttributeNameRule.Problem(strings.Repeat("n", 129))}}},
		{"value of 800", map[string]string{"k": strings.Repeat("v", 800)}, nil},
		{"value of 801", map[string]string{"k": strings.Repeat("v", 801)},
			[]Problem{{Path: "attributes.k", Message: AttributeValueRule.Problem(strings.Repeat("v", 801))}}},
		{"every problem, in the order of names", map[string]string{"z": "a;b", "a b": "v", "m": "ok"}, []Problem{
			{Path: `attributes["a b"]`, Message: `the attribute name "a b" contains " "; allowed are letters, digits and _.,@/:#-`},
			{Path: "attributes.z", Message: `the attribute value "a;b" contains ";"; allowed are letters, digits and _.,@/:#=[]-`},
		}},
		{"empty name", map[string]string{"": "v"}, []Problem{{Path: `attributes[""]`, Message: "the attribute name is empty"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAttributes(tt.attrs)
			if tt.want == nil {
				if err != nil {
					t.Errorf("ValidateAttributes() = %v, want nil", err)
				}
				return
			}
			got := problemsOf(t, err)
			if len(got) != len(tt.want) {
				t.Fatalf("problems = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("problem %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestTemplateTypeValid(t *testing.T) {
	for typ, want := range map[TemplateType]bool{
		TemplateJITP: true, TemplateFleetProvisioning: true,
		TemplateRegistration: false, "": false, "jitp": false, "FLEET": false,
	} {
		if got := typ.Valid(); got != want {
			t.Errorf("TemplateType(%q).Valid() = %v, want %v", typ, got, want)
		}
	}
}

func TestPolicySizeProblem(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		max  int
		want string
	}{
		{"2,048 characters, the default", strings.Repeat("x", 2048), 0, ""},
		{"2,049 characters, the default", strings.Repeat("x", 2049), 0,
			"the policy document has 2049 characters besides whitespace; the limit is 2048"},
		{"whitespace is free", strings.Repeat("x", 2048) + strings.Repeat(" \t\r\n", 1000), 0, ""},
		{"other spaces count", strings.Repeat("x", 2047) + "\u00a0\v", 0,
			"the policy document has 2049 characters besides whitespace; the limit is 2048"},
		{"a multi-byte character is one", strings.Repeat("é", 2048), 0, ""},
		{"configured, at the limit", strings.Repeat("x", 3000), 3000, ""},
		{"configured, past the limit", strings.Repeat("x", 51), 50,
			"the policy document has 51 characters besides whitespace; the limit is 50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PolicySizeProblem(tt.doc, tt.max); got != tt.want {
				t.Errorf("PolicySizeProblem() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChildPath(t *testing.T) {
	tests := []struct{ path, key, want string }{
		{"", "Resources", "Resources"},
		{"Resources", "thing", "Resources.thing"},
		{"attributes", "a b", `attributes["a b"]`},
		{"attributes", "a.b", `attributes["a.b"]`},
		{"attributes", "", `attributes[""]`},
		{"attributes", "é", `attributes["é"]`},
	}
	for _, tt := range tests {
		if got := ChildPath(tt.path, tt.key); got != tt.want {
			t.Errorf("ChildPath(%q, %q) = %q, want %q", tt.path, tt.key, got, tt.want)
		}
	}
}
