package templates

import (
	"strings"
	"testing"
)

// TestLimits checks that hostile templates and parameters are refused
// instead of making evaluation slow or its output large.
func TestLimits(t *testing.T) {
	big := strings.Repeat("x", 4000)
	var many strings.Builder
	for i := range 30 {
		many.WriteString(`, "k` + itoa(i) + `": {"Fn::Sub": "${X}${X}${X}"}`)
	}
	tests := []struct {
		name   string
		limits Limits
		config string // members of DeviceConfiguration
		x      string // the parameter X
		path   string
		text   string
	}{
		{"Join output", Limits{}, `"v": {"Fn::Join": ["", [{"Ref": "X"}, {"Ref": "X"}, {"Ref": "X"}, {"Ref": "X"}, {"Ref": "X"}]]}`, big, "DeviceConfiguration.v.Fn::Join", "longer than 16384 bytes"},
		{"Sub output", Limits{}, `"v": {"Fn::Sub": "${X}${X}${X}${X}${X}"}`, big, "DeviceConfiguration.v.Fn::Sub", "longer than 16384 bytes"},
		{"total output", Limits{}, `"v": "x"` + many.String(), big, "DeviceConfiguration.k5.Fn::Sub", "more than 65536 bytes"},
		{"Split items", Limits{MaxListLength: 3}, `"v": {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "X"}]}]}`, "a,b,c,d", "DeviceConfiguration.v.Fn::Select[1].Fn::Split", "would make 4 items; the limit is 3"},
		{"parameter length", Limits{MaxParameterLength: 10}, `"v": {"Ref": "X"}`, "12345678901", "DeviceConfiguration.v.Ref", "longer than 10 characters"},
		{"value length", Limits{MaxValueLength: 5}, `"v": {"Fn::Join": ["-", [{"Ref": "X"}, {"Ref": "X"}]]}`, "abc", "DeviceConfiguration.v.Fn::Join", "longer than 5 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"Parameters": {"X": {"Type": "String"}}, "Resources": {` + okCert + `}, "DeviceConfiguration": {` + tt.config + `}}`
			tmpl := mustParse(t, body, Options{Limits: tt.limits})
			_, err := tmpl.Evaluate(Input{Parameters: map[string]string{"X": tt.x}, Certificate: map[string]string{ParamCertificateID: certID}})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Evaluate() problems = %v, want %q at %s", ps, tt.text, tt.path)
			}
		})
	}
}

func TestLimitsAtParse(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		body   string
		path   string
		text   string
	}{
		{"depth", Limits{MaxDepth: 4}, withThing(`"ThingName": {"Fn::Join": ["", ["a"]]}`), "Resources.thing.Properties.ThingName", "deeper than 4 levels"},
		{"list", Limits{MaxListLength: 2}, withThing(`"ThingName": "t", "ThingGroups": ["a", "b", "c"]`), "Resources.thing.Properties.ThingGroups", "more than 2 items"},
		{"groups", Limits{MaxThingGroups: 1}, withThing(`"ThingName": "t", "ThingGroups": ["a", "b"]`), "Resources.thing.Properties.ThingGroups", "at most 1 groups"},
		{"attributes", Limits{MaxAttributes: 1}, withThing(`"ThingName": "t", "AttributePayload": {"a": "1", "b": "2"}`), "Resources.thing.Properties.AttributePayload", "at most 1 attributes"},
		{"policies", Limits{MaxPolicies: 1}, `{"Resources": {"a": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "a"}}, "b": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "b"}}}}`, "Resources.b", "at most 1 policies"},
		{"folded output", Limits{MaxValueLength: 4}, withThing(`"ThingName": {"Fn::Join": ["", ["abc", "def"]]}`), "Resources.thing.Properties.ThingName.Fn::Join", "longer than 4 bytes"},
		{"many problems", Limits{}, `{"Resources": {` + strings.Repeat(`"x": 1, `, 80) + `"y": 1}}`, "", "more problems were not reported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.body, Options{Limits: tt.limits})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Parse() problems = %v, want %q at %q", ps, tt.text, tt.path)
			}
		})
	}
}
