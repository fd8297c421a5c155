package templates

import (
	"maps"
	"strings"
	"testing"
)

// configTemplate returns a fleet template whose DeviceConfiguration member
// "v" is value, with the parameters P (default "a,b,c"), Q (no default) and
// N (default "1"), and a mapping M.
func configTemplate(value string) string {
	return `{
		"Parameters": {"P": {"Type": "String", "Default": "a,b,c"}, "Q": {"Type": "String"}, "N": {"Type": "String", "Default": "1"}},
		"Mappings": {"M": {"eu": {"url": "https://eu.example", "port": 8883}, "us": {"url": "https://us.example"}}},
		"Conditions": {"IsEU": {"Fn::Equals": [{"Ref": "Q"}, "eu"]}},
		"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}},
		"DeviceConfiguration": {"v": ` + value + `}
	}`
}

func TestFunctions(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		params map[string]string
		want   string
	}{
		{"literal", `"x"`, nil, "x"},
		{"number literal", `8883`, nil, "8883"},
		{"Ref", `{"Ref": "Q"}`, map[string]string{"Q": "q"}, "q"},
		{"Ref default", `{"Ref": "P"}`, nil, "a,b,c"},
		{"Ref given wins over default", `{"Ref": "P"}`, map[string]string{"P": "x"}, "x"},
		{"Ref of 4096 characters", `{"Ref": "Q"}`, map[string]string{"Q": strings.Repeat("é", 4096)}, strings.Repeat("é", 4096)},
		{"Ref certificate ID", `{"Ref": "AWS::IoT::Certificate::Id"}`, nil, certID},
		{"Join", `{"Fn::Join": ["-", ["a", {"Ref": "Q"}, "c"]]}`, map[string]string{"Q": "b"}, "a-b-c"},
		{"Join empty delimiter", `{"Fn::Join": ["", ["ThingPrefix_", {"Ref": "Q"}]]}`, map[string]string{"Q": "7"}, "ThingPrefix_7"},
		{"Join one item", `{"Fn::Join": [",", [{"Ref": "Q"}]]}`, map[string]string{"Q": "only"}, "only"},
		{"Join empty list", `{"Fn::Join": [",", []]}`, nil, ""},
		{"Join of Split", `{"Fn::Join": ["/", {"Fn::Split": [",", {"Ref": "P"}]}]}`, nil, "a/b/c"},
		{"Select literal list", `{"Fn::Select": ["1", ["x", "y", "z"]]}`, nil, "y"},
		{"Select number index", `{"Fn::Select": [2, ["x", "y", "z"]]}`, nil, "z"},
		{"Select of Split", `{"Fn::Select": [0, {"Fn::Split": ["-", {"Ref": "Q"}]}]}`, map[string]string{"Q": "eu-west-1"}, "eu"},
		{"Select index from Ref", `{"Fn::Select": [{"Ref": "N"}, {"Fn::Split": [",", {"Ref": "P"}]}]}`, nil, "b"},
		{"Sub", `{"Fn::Sub": "thing-${Q}-${N}"}`, map[string]string{"Q": "q"}, "thing-q-1"},
		{"Sub certificate parameter", `{"Fn::Sub": "id=${AWS::IoT::Certificate::Id}"}`, nil, "id=" + certID},
		{"Sub variable map", `{"Fn::Sub": ["${A}.${Q}", {"A": {"Fn::Select": [0, ["first"]]}}]}`, map[string]string{"Q": "q"}, "first.q"},
		{"Sub literal escape", `{"Fn::Sub": "${!iot:ClientId}/${Q}"}`, map[string]string{"Q": "q"}, "${iot:ClientId}/q"},
		{"Sub no variables", `{"Fn::Sub": "plain"}`, nil, "plain"},
		{"FindInMap", `{"Fn::FindInMap": ["M", {"Ref": "Q"}, "url"]}`, map[string]string{"Q": "us"}, "https://us.example"},
		{"FindInMap number value", `{"Fn::FindInMap": ["M", "eu", "port"]}`, nil, "8883"},
		{"FindInMap nested in Join", `{"Fn::Join": ["", [{"Fn::FindInMap": ["M", {"Ref": "Q"}, "url"]}, "/x"]]}`, map[string]string{"Q": "eu"}, "https://eu.example/x"},
		{"If true", `{"Fn::If": ["IsEU", "europe", "elsewhere"]}`, map[string]string{"Q": "eu"}, "europe"},
		{"If false", `{"Fn::If": ["IsEU", "europe", "elsewhere"]}`, map[string]string{"Q": "us"}, "elsewhere"},
		{"If nested in Sub map", `{"Fn::Sub": ["${R}", {"R": {"Fn::If": ["IsEU", "eu-1", "us-1"]}}]}`, map[string]string{"Q": "eu"}, "eu-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mustParse(t, configTemplate(tt.value), Options{})
			p := mustEvaluate(t, tmpl, Input{Parameters: tt.params, Certificate: map[string]string{ParamCertificateID: certID}})
			if got := p.DeviceConfiguration["v"]; got != tt.want {
				t.Errorf("Evaluate() v = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFunctionNoValue(t *testing.T) {
	tmpl := mustParse(t, configTemplate(`{"Fn::If": ["IsEU", "europe", {"Ref": "AWS::NoValue"}]}`), Options{})
	in := Input{Parameters: map[string]string{"Q": "us"}, Certificate: map[string]string{ParamCertificateID: certID}}
	p := mustEvaluate(t, tmpl, in)
	if v, ok := p.DeviceConfiguration["v"]; ok {
		t.Errorf("Evaluate() v = %q, want it left out", v)
	}
	in.Parameters["Q"] = "eu"
	if p := mustEvaluate(t, tmpl, in); p.DeviceConfiguration["v"] != "europe" {
		t.Errorf("Evaluate() v = %q, want europe", p.DeviceConfiguration["v"])
	}
}

// TestFunctionErrors covers the evaluation errors of functions: each names
// the path of the function or argument at fault.
func TestFunctionErrors(t *testing.T) {
	tests := []struct {
		name   string
		value  string
		params map[string]string
		path   string
		text   string
	}{
		{"missing parameter", `{"Ref": "Q"}`, nil, "DeviceConfiguration.v.Ref", `parameter "Q" has no value`},
		{"Select out of range", `{"Fn::Select": [3, {"Fn::Split": [",", {"Ref": "P"}]}]}`, nil, "DeviceConfiguration.v.Fn::Select", "index 3 is out of range: the list has 3 items"},
		{"Select bad index", `{"Fn::Select": [{"Ref": "Q"}, ["a"]]}`, map[string]string{"Q": "one"}, "DeviceConfiguration.v.Fn::Select[0].Ref", "whole number"},
		{"FindInMap missing top key", `{"Fn::FindInMap": ["M", {"Ref": "Q"}, "url"]}`, map[string]string{"Q": "ap"}, "DeviceConfiguration.v.Fn::FindInMap[1].Ref", `mapping "M" has no key "ap"`},
		{"FindInMap missing second key", `{"Fn::FindInMap": ["M", "us", {"Ref": "Q"}]}`, map[string]string{"Q": "port"}, "DeviceConfiguration.v.Fn::FindInMap[2].Ref", `no key "port" under "us"`},
		{"FindInMap missing map", `{"Fn::FindInMap": [{"Ref": "Q"}, "us", "url"]}`, map[string]string{"Q": "X"}, "DeviceConfiguration.v.Fn::FindInMap[0].Ref", `no mapping named "X"`},
		{"Split empty delimiter", `{"Fn::Join": ["", {"Fn::Split": [{"Ref": "Q"}, "abc"]}]}`, map[string]string{"Q": ""}, "DeviceConfiguration.v.Fn::Join[1].Fn::Split[0].Ref", "must not be empty"},
		{"Split too many items", `{"Fn::Join": ["", {"Fn::Split": [",", {"Ref": "Q"}]}]}`, map[string]string{"Q": strings.Repeat(",", 100)}, "DeviceConfiguration.v.Fn::Join[1].Fn::Split", "would make 101 items"},
		{"parameter too long", `{"Ref": "Q"}`, map[string]string{"Q": strings.Repeat("x", 4097)}, "DeviceConfiguration.v.Ref", "longer than 4096 characters"},
		{"parameter too long in characters", `{"Ref": "Q"}`, map[string]string{"Q": strings.Repeat("é", 4097)}, "DeviceConfiguration.v.Ref", "longer than 4096 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mustParse(t, configTemplate(tt.value), Options{})
			_, err := tmpl.Evaluate(Input{Parameters: tt.params, Certificate: map[string]string{ParamCertificateID: certID}})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Evaluate() problems = %v, want %q at %s", ps, tt.text, tt.path)
			}
		})
	}
}

// TestFunctionFolding checks that functions of constants are evaluated
// when the template is parsed, so that their faults are found then.
func TestFunctionFolding(t *testing.T) {
	tests := []struct {
		name  string
		value string
		path  string
		text  string
	}{
		{"Select out of range", `{"Fn::Select": [5, ["a", "b"]]}`, "DeviceConfiguration.v.Fn::Select", "out of range"},
		{"FindInMap missing key", `{"Fn::FindInMap": ["M", "ap", "url"]}`, "DeviceConfiguration.v.Fn::FindInMap[1]", `has no key "ap"`},
		{"Split too many", `{"Fn::Join": ["", {"Fn::Split": [",", "` + strings.Repeat(",", 150) + `"]}]}`, "DeviceConfiguration.v.Fn::Join[1].Fn::Split", "would make 151 items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(configTemplate(tt.value), Options{})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Parse() problems = %v, want %q at %s", ps, tt.text, tt.path)
			}
		})
	}
}

// TestParameterPrecedence checks the order: hook overrides, then request
// parameters, then Default; certificate-derived parameters come only from
// the certificate.
func TestParameterPrecedence(t *testing.T) {
	const body = `{
		"Parameters": {"A": {"Type": "String", "Default": "default"}, "AWS::IoT::Certificate::Id": {"Type": "String"}},
		"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}},
		"DeviceConfiguration": {"a": {"Ref": "A"}}
	}`
	tmpl := mustParse(t, body, Options{})
	cert := map[string]string{ParamCertificateID: certID}
	other := strings.Repeat("ab", 32)
	tests := []struct {
		name          string
		in            Input
		wantA, wantID string
	}{
		{"default", Input{Certificate: cert}, "default", certID},
		{"request", Input{Parameters: map[string]string{"A": "request"}, Certificate: cert}, "request", certID},
		{"override", Input{Parameters: map[string]string{"A": "request"}, Overrides: map[string]string{"A": "hook"}, Certificate: cert}, "hook", certID},
		{"empty request value", Input{Parameters: map[string]string{"A": ""}, Certificate: cert}, "", certID},
		{"certificate not forged", Input{
			Parameters:  map[string]string{ParamCertificateID: other},
			Overrides:   map[string]string{ParamCertificateID: other},
			Certificate: cert,
		}, "default", certID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustEvaluate(t, tmpl, tt.in)
			if got := p.DeviceConfiguration["a"]; got != tt.wantA {
				t.Errorf("Evaluate() a = %q, want %q", got, tt.wantA)
			}
			if p.Certificate.ID != tt.wantID {
				t.Errorf("Evaluate() certificate ID = %q, want %q", p.Certificate.ID, tt.wantID)
			}
		})
	}
	_, err := tmpl.Evaluate(Input{Parameters: map[string]string{ParamCertificateID: other}})
	if ps := problemsOf(t, err); !hasProblem(ps, "Resources.certificate.Properties.CertificateId.Ref", "the certificate has no certificate ID") {
		t.Errorf("Evaluate() problems = %v, want the certificate ID missing", ps)
	}
}

func TestEvaluateDoesNotShareState(t *testing.T) {
	tmpl := mustParse(t, bulkTemplate, Options{Type: Registration})
	in := Input{Parameters: map[string]string{"ThingName": "a", "SerialNumber": "1", "CSR": "c"}}
	p := mustEvaluate(t, tmpl, in)
	p.Thing.Groups[0] = "changed"
	p.Thing.Attributes["version"] = "changed"
	q := mustEvaluate(t, tmpl, in)
	if q.Thing.Groups[0] != "v1-lightbulbs" || q.Thing.Attributes["version"] != "v1" {
		t.Errorf("Evaluate() after changing an earlier plan = %+v, want the template's values", q.Thing)
	}
	if !maps.Equal(q.Thing.Attributes, map[string]string{"version": "v1", "serialNumber": "1"}) {
		t.Errorf("Evaluate() attributes = %v", q.Thing.Attributes)
	}
}
