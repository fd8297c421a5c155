package templates

import (
	"errors"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

// withThing returns a template with a thing of the given properties and
// the parameter Name.
func withThing(props string) string {
	return `{"Parameters": {"Name": {"Type": "String"}}, "Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {` + props + `}}}}`
}

// withResource returns a template with one resource of type typ.
func withResource(typ, props string) string {
	return `{"Parameters": {"Name": {"Type": "String"}, "Doc": {"Type": "String"}}, "Resources": {"r": {"Type": "` + typ + `", "Properties": {` + props + `}}}}`
}

func withCert(props string) string   { return withResource(typeCertificate, props) }
func withPolicy(props string) string { return withResource(typePolicy, props) }

const okCert = `"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}`

type validationCase struct {
	name string
	typ  Type
	body string
	path string
	text string
}

func runValidationCases(t *testing.T, tests []validationCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.body, Options{Type: tt.typ})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Parse() problems = %v, want %q at %q", ps, tt.text, tt.path)
			}
		})
	}
}

func TestValidateDocument(t *testing.T) {
	runValidationCases(t, []validationCase{
		{"not JSON", "", `{"Resources": `, "", "invalid JSON"},
		{"trailing data", "", `{"Resources": {}} {}`, "", "after the end"},
		{"not an object", "", `["Resources"]`, "", "must be a JSON object"},
		{"too long", "", `{"Resources": {}, "DeviceConfiguration": {"x": "` + strings.Repeat("x", 10240) + `"}}`, "", "longer than 10240 characters"},
		{"too deep", "", strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40), "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a", "deeper than 32 levels"},
		{"duplicate key", "", `{"Resources": {` + okCert + `}, "Resources": {}}`, "Resources", "more than once"},
		{"unknown section", "", `{"Resources": {` + okCert + `}, "Outputs": {}}`, "Outputs", "unknown section"},
		{"no Resources", "", `{"Parameters": {}}`, "", "Resources section is required"},
		{"empty Resources", "", `{"Resources": {}}`, "Resources", "at least one resource"},
		{"unknown resource type", "", `{"Resources": {"role": {"Type": "AWS::IAM::Role", "Properties": {}}}}`, "Resources.role.Type", `unknown resource type "AWS::IAM::Role"`},
		{"no resource type", "", `{"Resources": {"r": {"Properties": {}}}}`, "Resources.r", "Type is required"},
		{"unknown resource key", "", `{"Resources": {"r": {"Type": "AWS::IoT::Certificate", "DependsOn": "x", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}}`, "Resources.r.DependsOn", "unknown key"},
		{"no Properties", "", `{"Resources": {"r": {"Type": "AWS::IoT::Policy"}}}`, "Resources.r", "Properties is required"},
		{"key with a dot is quoted", "", `{"Resources": {"my.thing": {"Type": "AWS::IoT::Thingy", "Properties": {}}}}`, `Resources["my.thing"].Type`, "unknown resource type"},
	})
}

func TestValidateParameters(t *testing.T) {
	res := `"Resources": {` + okCert + `}`
	runValidationCases(t, []validationCase{
		{"no Type", "", `{"Parameters": {"A": {}}, ` + res + `}`, "Parameters.A", "Type is required"},
		{"Number type", "", `{"Parameters": {"A": {"Type": "Number"}}, ` + res + `}`, "Parameters.A.Type", `only parameter type is "String"`},
		{"List type", "", `{"Parameters": {"A": {"Type": "CommaDelimitedList"}}, ` + res + `}`, "Parameters.A.Type", "Fn::Split"},
		{"object Default", "", `{"Parameters": {"A": {"Type": "String", "Default": {}}}, ` + res + `}`, "Parameters.A.Default", "must be a string"},
		{"unknown key", "", `{"Parameters": {"A": {"Type": "String", "AllowedValues": []}}, ` + res + `}`, "Parameters.A.AllowedValues", "unknown key"},
		{"not an object", "", `{"Parameters": {"A": "String"}, ` + res + `}`, "Parameters.A", "must be an object"},
		{"AWS name not defined", JITP, `{"Parameters": {"AWS::IoT::Certificate::Locality": {"Type": "String"}}, ` + res + `}`, "Parameters.AWS::IoT::Certificate::Locality", `Imprint offers "Imprint::Certificate::Locality"`},
		{"unknown Imprint name", JITP, `{"Parameters": {"Imprint::Certificate::Shoe": {"Type": "String"}}, ` + res + `}`, "Parameters.Imprint::Certificate::Shoe", "not a certificate-derived parameter"},
		{"certificate field in fleet", FleetProvisioning, `{"Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"}}, ` + res + `}`, "Parameters.AWS::IoT::Certificate::CommonName", "available only in JITP templates"},
		{"extension in fleet", FleetProvisioning, `{` + res + `, "DeviceConfiguration": {"x": {"Ref": "Imprint::Certificate::Locality"}}}`, "DeviceConfiguration.x.Ref", "available only in JITP templates"},
		{"JITP parameter without value", JITP, `{"Parameters": {"Site": {"Type": "String"}}, ` + res + `, "DeviceConfiguration": {"x": {"Ref": "Site"}}}`, "Parameters.Site", "JITP templates receive only certificate-derived parameters"},
		{"declare NoValue", "", `{"Parameters": {"AWS::NoValue": {"Type": "String"}}, ` + res + `}`, "Parameters.AWS::NoValue", "pseudo parameter"},
	})
}

func TestValidateReferences(t *testing.T) {
	runValidationCases(t, []validationCase{
		{"undeclared", "", withThing(`"ThingName": {"Ref": "Serial"}`), "Resources.thing.Properties.ThingName.Ref", `parameter "Serial" is not declared`},
		{"resource", "", withThing(`"ThingName": {"Ref": "thing"}`), "Resources.thing.Properties.ThingName.Ref", `"thing" is a resource`},
		{"mapping", "", `{"Mappings": {"M": {"a": {"b": "c"}}}, "Resources": {` + okCert + `}, "DeviceConfiguration": {"x": {"Ref": "M"}}}`, "DeviceConfiguration.x.Ref", "read it with Fn::FindInMap"},
		{"condition", "", `{"Conditions": {"C": {"Fn::Equals": ["a", "a"]}}, "Resources": {` + okCert + `}, "DeviceConfiguration": {"x": {"Ref": "C"}}}`, "DeviceConfiguration.x.Ref", "use it with Fn::If"},
		{"not a string", "", withThing(`"ThingName": {"Ref": ["Name"]}`), "Resources.thing.Properties.ThingName.Ref", "Ref takes a parameter name"},
		{"Sub undeclared", "", withThing(`"ThingName": {"Fn::Sub": "x-${Serial}"}`), "Resources.thing.Properties.ThingName.Fn::Sub", `parameter "Serial" is not declared`},
		{"Sub policy variable", "", withPolicy(`"PolicyDocument": {"Fn::Sub": "{\"Resource\": \"client/${iot:ClientId}\"}"}`), "Resources.r.Properties.PolicyDocument.Fn::Sub", "write ${!iot:ClientId}"},
	})
}

func TestValidateFunctionArguments(t *testing.T) {
	const p = "Resources.thing.Properties.ThingName."
	runValidationCases(t, []validationCase{
		{"Join one argument", "", withThing(`"ThingName": {"Fn::Join": ["-"]}`), p + "Fn::Join", "Fn::Join takes a list of two items"},
		{"Join not a list", "", withThing(`"ThingName": {"Fn::Join": ["-", "a"]}`), p + "Fn::Join[1]", "must be a list"},
		{"Join list delimiter", "", withThing(`"ThingName": {"Fn::Join": [["-"], ["a"]]}`), p + "Fn::Join[0]", "must be a string, not a list"},
		{"Select bad index", "", withThing(`"ThingName": {"Fn::Select": ["first", ["a"]]}`), p + "Fn::Select[0]", "whole number"},
		{"Select negative index", "", withThing(`"ThingName": {"Fn::Select": [-1, {"Fn::Split": [",", {"Ref": "Name"}]}]}`), p + "Fn::Select[0]", "whole number"},
		{"Select three arguments", "", withThing(`"ThingName": {"Fn::Select": [0, ["a"], ["b"]]}`), p + "Fn::Select", "two items"},
		{"Split empty delimiter", "", withThing(`"ThingName": {"Fn::Select": [0, {"Fn::Split": ["", {"Ref": "Name"}]}]}`), p + "Fn::Select[1].Fn::Split[0]", "must not be empty"},
		{"Split of a list", "", withThing(`"ThingName": {"Fn::Select": [0, {"Fn::Split": [",", ["a"]]}]}`), p + "Fn::Select[1].Fn::Split[1]", "must be a string"},
		{"Split as a string", "", withThing(`"ThingName": {"Fn::Split": [",", {"Ref": "Name"}]}`), p[:len(p)-1], "must be a string, not a list"},
		{"FindInMap two arguments", "", withThing(`"ThingName": {"Fn::FindInMap": ["M", "a"]}`), p + "Fn::FindInMap", "three items"},
		{"FindInMap unknown map", "", withThing(`"ThingName": {"Fn::FindInMap": ["M", {"Ref": "Name"}, "a"]}`), p + "Fn::FindInMap[0]", `no mapping named "M"`},
		{"Sub unterminated", "", withThing(`"ThingName": {"Fn::Sub": "a-${Name"}`), p + "Fn::Sub", "unterminated"},
		{"Sub empty variable", "", withThing(`"ThingName": {"Fn::Sub": "a-${}"}`), p + "Fn::Sub", "empty ${}"},
		{"Sub bad form", "", withThing(`"ThingName": {"Fn::Sub": ["a", "b"]}`), p + "Fn::Sub", "takes a string, or a list"},
		{"unknown function", "", withThing(`"ThingName": {"Fn::Upper": "a"}`), p + "Fn::Upper", `unknown function "Fn::Upper"`},
		{"unsupported function", "", withThing(`"ThingName": {"Fn::GetAtt": ["a", "b"]}`), p + "Fn::GetAtt", "not supported"},
		{"condition function outside Conditions", "", withThing(`"ThingName": {"Fn::Equals": ["a", "b"]}`), p + "Fn::Equals", "only in the Conditions section"},
		{"object", "", withThing(`"ThingName": {"a": "b", "c": "d"}`), p[:len(p)-1], "an object is not allowed here"},
		{"null", "", withThing(`"ThingName": null`), p[:len(p)-1], "null is not allowed"},
		{"list", "", withThing(`"ThingName": ["a"]`), p[:len(p)-1], "must be a string, not a list"},
		{"NoValue required", "", withThing(`"ThingName": {"Ref": "AWS::NoValue"}`), p[:len(p)-1], "AWS::NoValue is not allowed here"},
		{"NoValue argument", "", withThing(`"ThingName": {"Fn::Join": [{"Ref": "AWS::NoValue"}, ["a"]]}`), p + "Fn::Join[0]", "AWS::NoValue is not allowed here"},
		{"groups not a list", "", withThing(`"ThingName": "a", "ThingGroups": "g"`), "Resources.thing.Properties.ThingGroups", "must be a list"},
		{"nested list", "", withThing(`"ThingName": "a", "ThingGroups": [["g"]]`), "Resources.thing.Properties.ThingGroups[0]", "must be a string, not a list"},
		{"list too long", "", withThing(`"ThingName": "a", "ThingGroups": [` + strings.Repeat(`"g",`, 100) + `"g"]`), "Resources.thing.Properties.ThingGroups", "more than 100 items"},
	})
}

func TestValidateThing(t *testing.T) {
	const p = "Resources.thing.Properties."
	runValidationCases(t, []validationCase{
		{"no name", "", withThing(`"ThingTypeName": "t"`), "Resources.thing.Properties", "ThingName is required"},
		{"forbidden character", "", withThing(`"ThingName": "my thing"`), p + "ThingName", `contains " "`},
		{"too long", "", withThing(`"ThingName": "` + strings.Repeat("a", 129) + `"`), p + "ThingName", "longer than 128"},
		{"empty", "", withThing(`"ThingName": ""`), p + "ThingName", "empty"},
		{"forbidden character in Join", "", withThing(`"ThingName": {"Fn::Join": ["", ["dev/", {"Ref": "Name"}]]}`), p + "ThingName.Fn::Join", `every thing name made here contains "/"`},
		{"forbidden delimiter", "", withThing(`"ThingName": {"Fn::Join": [".", ["dev", {"Ref": "Name"}]]}`), p + "ThingName.Fn::Join", `contains "."`},
		{"forbidden character in Sub", "", withThing(`"ThingName": {"Fn::Sub": "dev ${Name}"}`), p + "ThingName.Fn::Sub", `contains " "`},
		{"always too long", "", withThing(`"ThingName": {"Fn::Sub": "` + strings.Repeat("a", 100) + `${Name}` + strings.Repeat("b", 29) + `"}`), p + "ThingName.Fn::Sub", "longer than 128"},
		{"non-ASCII", "", withThing(`"ThingName": "thingé"`), p + "ThingName", `contains "é"`},
		{"bad type name", "", withThing(`"ThingName": "a", "ThingTypeName": "a type"`), p + "ThingTypeName", "thing type name"},
		{"bad billing group", "", withThing(`"ThingName": "a", "BillingGroup": "b/g"`), p + "BillingGroup", "billing group name"},
		{"bad group", "", withThing(`"ThingName": "a", "ThingGroups": ["ok", "not ok"]`), p + "ThingGroups[1]", "thing group name"},
		{"too many groups", "", withThing(`"ThingName": "a", "ThingGroups": ["a","b","c","d","e","f","g","h","i","j","k"]`), p + "ThingGroups", "at most 10 groups"},
		{"bad attribute name", "", withThing(`"ThingName": "a", "AttributePayload": {"a b": "v"}`), p + `AttributePayload["a b"]`, "attribute name"},
		{"bad attribute value", "", withThing(`"ThingName": "a", "AttributePayload": {"k": "a;b"}`), p + "AttributePayload.k", "attribute value"},
		{"attribute value too long", "", withThing(`"ThingName": "a", "AttributePayload": {"k": "` + strings.Repeat("v", 801) + `"}`), p + "AttributePayload.k", "longer than 800"},
		{"attributes as function", "", withThing(`"ThingName": "a", "AttributePayload": {"Ref": "Name"}`), p + "AttributePayload", "must be an object"},
		{"unknown property", "", withThing(`"ThingName": "a", "Tags": []`), p + "Tags", "unknown property of AWS::IoT::Thing"},
		{"package versions", "", withThing(`"ThingName": "a", "PackageVersions": {}`), p + "PackageVersions", "not supported"},
		{"two things", "", `{"Resources": {"a": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a"}}, "b": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "b"}}}}`, "Resources.b", "at most one AWS::IoT::Thing"},
	})
}

func TestValidateTooManyAttributes(t *testing.T) {
	var b strings.Builder
	for i := range 51 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"a` + itoa(i) + `": "v"`)
	}
	runValidationCases(t, []validationCase{
		{"51 attributes", "", withThing(`"ThingName": "a", "AttributePayload": {` + b.String() + `}`), "Resources.thing.Properties.AttributePayload", "at most 50 attributes"},
	})
}

func TestValidateCertificate(t *testing.T) {
	const p = "Resources.r.Properties"
	const pem = `"CertificatePem": {"Ref": "Doc"}`
	runValidationCases(t, []validationCase{
		{"two forms", Registration, withCert(`"CertificateId": {"Ref": "Name"}, ` + pem), p, "one way only, not with CertificateId and CertificatePem"},
		{"ID and CSR in fleet", "", withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "CertificateSigningRequest": {"Ref": "Doc"}`), p, "one way only"},
		{"no form", "", withCert(`"Status": "ACTIVE"`), p, "name the certificate with"},
		{"CSR in JITP", JITP, withCert(`"CertificateSigningRequest": "x"`), p + ".CertificateSigningRequest", "not allowed in JITP templates"},
		{"PEM in fleet", FleetProvisioning, withCert(pem), p + ".CertificatePem", "not allowed in FLEET_PROVISIONING templates"},
		{"CA PEM in JITP", JITP, withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "CACertificatePem": "x"`), p + ".CACertificatePem", "not allowed in JITP"},
		{"CA PEM without PEM", Registration, withCert(`"CertificateSigningRequest": {"Ref": "Doc"}, "CACertificatePem": "x"`), p + ".CACertificatePem", "only with CertificatePem"},
		{"bad ID", "", withCert(`"CertificateId": "abc"`), p + ".CertificateId", "64 hexadecimal digits"},
		{"bad status", "", withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ENABLED"`), p + ".Status", "ACTIVE or INACTIVE"},
		{"revoked status", "", withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "REVOKED"`), p + ".Status", "ACTIVE or INACTIVE"},
		{"unknown property", "", withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Tags": []`), p + ".Tags", "unknown property of AWS::IoT::Certificate"},
		{"two certificates", "", `{"Resources": {` + okCert + `, "c2": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}}`, "Resources.c2", "at most one AWS::IoT::Certificate"},
	})
}

func TestValidateOverrideSettings(t *testing.T) {
	thing := func(o string) string {
		return `{"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "a"}, "OverrideSettings": {` + o + `}}}}`
	}
	const p = "Resources.thing.OverrideSettings."
	runValidationCases(t, []validationCase{
		{"MERGE on thing type", "", thing(`"ThingTypeName": "MERGE"`), p + "ThingTypeName", "MERGE is allowed only for AttributePayload and ThingGroups"},
		{"MERGE on status", "", `{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}, "OverrideSettings": {"Status": "MERGE"}}}}`, "Resources.c.OverrideSettings.Status", "MERGE is allowed only"},
		{"unknown value", "", thing(`"ThingGroups": "KEEP"`), p + "ThingGroups", `unknown setting "KEEP"`},
		{"not a string", "", thing(`"ThingGroups": 1`), p + "ThingGroups", "written as a string"},
		{"billing group", "", thing(`"BillingGroup": "REPLACE"`), p + "BillingGroup", "do not apply"},
		{"twice", "", thing(`"ThingGroups": "MERGE", "THING_GROUPS": "REPLACE"`), p + "THING_GROUPS", "a second setting"},
		{"policy", "", `{"Resources": {"p": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p"}, "OverrideSettings": {}}}}`, "Resources.p.OverrideSettings", "no OverrideSettings"},
	})
	tmpl := mustParse(t, thing(`"ATTRIBUTE_PAYLOAD": "merge", "THING_TYPE_NAME": "FAIL"`), Options{})
	p2 := mustEvaluate(t, tmpl, Input{})
	if want := (ThingOverrides{AttributePayload: Merge, ThingTypeName: Fail, ThingGroups: DoNothing}); p2.Thing.Overrides != want {
		t.Errorf("Evaluate() overrides = %+v, want %+v", p2.Thing.Overrides, want)
	}
}

func TestValidatePolicy(t *testing.T) {
	const p = "Resources.r.Properties"
	doc := func(s string) string { return withPolicy(`"PolicyDocument": ` + s) }
	runValidationCases(t, []validationCase{
		{"name and document", "", withPolicy(`"PolicyName": "p", "PolicyDocument": {"Ref": "Doc"}`), p, "not both"},
		{"neither", "", withPolicy(``), p, "PolicyName or PolicyDocument is required"},
		{"bad name", "", withPolicy(`"PolicyName": "my policy"`), p + ".PolicyName", "policy name"},
		{"not JSON", "", doc(`"{"`), p + ".PolicyDocument", "policy document: invalid JSON"},
		{"not an object", "", doc(`"[]"`), p + ".PolicyDocument", "must be a JSON object"},
		{"no Version", "", doc(`{"Statement": []}`), p + ".PolicyDocument", "Version is required"},
		{"bad Version", "", doc(`{"Version": "2024-01-01", "Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}}`), p + ".PolicyDocument.Version", `must be "2012-10-17"`},
		{"no Statement", "", doc(`{"Version": "2012-10-17"}`), p + ".PolicyDocument", "Statement is required"},
		{"empty Statement", "", doc(`{"Version": "2012-10-17", "Statement": []}`), p + ".PolicyDocument.Statement", "non-empty list"},
		{"bad Effect", "", doc(`{"Version": "2012-10-17", "Statement": [{"Effect": "allow", "Action": "iot:*", "Resource": "*"}]}`), p + ".PolicyDocument.Statement[0].Effect", `"Allow" or "Deny"`},
		{"no Action", "", doc(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}`), p + ".PolicyDocument.Statement[0]", "Action is required"},
		{"bad Action", "", doc(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [1], "Resource": "*"}]}`), p + ".PolicyDocument.Statement[0].Action", "list of strings"},
		{"no Resource", "", doc(`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*"}]}`), p + ".PolicyDocument.Statement[0]", "Resource is required"},
		{"both Resources", "", doc(`{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iot:*", "Resource": "*", "NotResource": "*"}]}`), p + ".PolicyDocument.Statement[0]", "not both"},
		{"string document checked", "", doc(`"{\"Version\": \"2012-10-17\", \"Statement\": [{\"Effect\": \"Maybe\", \"Action\": \"iot:*\", \"Resource\": \"*\"}]}"`), p + ".PolicyDocument.Statement[0].Effect", `"Allow" or "Deny"`},
		{"too long", "", doc(`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "` + strings.Repeat("x", 2048) + `"}}`), p + ".PolicyDocument", "the limit is 2048"},
		{"list", "", doc(`[]`), p + ".PolicyDocument", "must be a string, not a list"},
	})
}

func TestValidateTooManyPolicies(t *testing.T) {
	var b strings.Builder
	for i := range 11 {
		b.WriteString(`"p` + itoa(i) + `": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "p"}},`)
	}
	runValidationCases(t, []validationCase{
		{"11 policies", "", `{"Resources": {` + b.String() + okCert + `}}`, "Resources.p10", "at most 10 policies"},
	})
}

func TestValidateMappingsAndConfiguration(t *testing.T) {
	res := `"Resources": {` + okCert + `}`
	runValidationCases(t, []validationCase{
		{"function in mapping", "", `{"Mappings": {"M": {"a": {"b": {"Ref": "X"}}}}, ` + res + `}`, "Mappings.M.a.b", "only literal"},
		{"list in mapping", "", `{"Mappings": {"M": {"a": {"b": ["x"]}}}, ` + res + `}`, "Mappings.M.a.b", "only literal"},
		{"one-level mapping", "", `{"Mappings": {"M": {"a": "b"}}, ` + res + `}`, "Mappings.M.a", "second-level keys"},
		{"nested configuration", "", `{` + res + `, "DeviceConfiguration": {"x": {"a": "b", "c": "d"}}}`, "DeviceConfiguration.x", "nested objects"},
		{"list configuration", "", `{` + res + `, "DeviceConfiguration": {"x": ["a"]}}`, "DeviceConfiguration.x", "nested objects and lists"},
		{"configuration not an object", "", `{` + res + `, "DeviceConfiguration": "x"}`, "DeviceConfiguration", "must be an object"},
	})
}

func TestValidateConditions(t *testing.T) {
	res := `"Resources": {` + okCert + `}`
	runValidationCases(t, []validationCase{
		{"cycle", "", `{"Conditions": {"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}}, ` + res + `}`, "Conditions.A", "depends on itself"},
		{"unknown condition", "", `{` + res + `, "DeviceConfiguration": {"x": {"Fn::If": ["Nope", "a", "b"]}}}`, "DeviceConfiguration.x.Fn::If[0]", `no condition named "Nope"`},
		{"If in Conditions", "", `{"Conditions": {"A": {"Fn::Equals": [{"Fn::If": ["A", "a", "b"]}, "a"]}}, ` + res + `}`, "Conditions.A.Fn::Equals[0].Fn::If", "not allowed in the Conditions section"},
		{"And of one", "", `{"Conditions": {"A": {"Fn::And": [{"Fn::Equals": ["a", "a"]}]}}, ` + res + `}`, "Conditions.A.Fn::And", "2 to 10 conditions"},
		{"Equals of three", "", `{"Conditions": {"A": {"Fn::Equals": ["a", "a", "a"]}}, ` + res + `}`, "Conditions.A.Fn::Equals", "two values"},
		{"not a condition", "", `{"Conditions": {"A": "true"}, ` + res + `}`, "Conditions.A", "a condition is an object"},
		{"If kinds differ", "", `{"Conditions": {"A": {"Fn::Equals": ["a", "a"]}}, ` + res + `, "DeviceConfiguration": {"x": {"Fn::Join": ["", {"Fn::If": ["A", ["a"], "b"]}]}}}`, "DeviceConfiguration.x.Fn::Join[1].Fn::If", "both be strings or both be lists"},
		{"resource condition unknown", "", `{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Condition": "Nope", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}}`, "Resources.c.Condition", `no condition named "Nope"`},
	})
}

func TestValidateDisableExtensions(t *testing.T) {
	tests := []struct {
		name, body, path string
	}{
		{"Conditions", `{"Conditions": {}, "Resources": {` + okCert + `}}`, "Conditions"},
		{"Fn::If", configTemplate(`{"Fn::If": ["IsEU", "a", "b"]}`), "DeviceConfiguration.v.Fn::If"},
		{"AWS::NoValue", `{"Resources": {` + okCert + `}, "DeviceConfiguration": {"x": {"Ref": "AWS::NoValue"}}}`, "DeviceConfiguration.x.Ref"},
		{"Imprint parameter", `{"Resources": {` + okCert + `}, "DeviceConfiguration": {"x": {"Ref": "Imprint::Certificate::Locality"}}}`, "DeviceConfiguration.x.Ref"},
		{"resource Condition", `{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Condition": "A", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}}}`, "Resources.c.Condition"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.body, Options{Type: JITP, DisableExtensions: true})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, "extension") {
				t.Errorf("Parse() problems = %v, want an extension refused at %s", ps, tt.path)
			}
		})
	}
}

// TestValidateReportsEverything checks that one Parse reports all the
// problems of a template, in the order of the template.
func TestValidateReportsEverything(t *testing.T) {
	body := `{
		"Resources": {
			"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "bad name", "Color": "red"},
				"OverrideSettings": {"ThingTypeName": "MERGE"}},
			"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "Cert"}, "CertificatePem": "x"}},
			"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{}"}}
		}
	}`
	_, err := Parse(body, Options{Type: JITP})
	ps := problemsOf(t, err)
	want := []Problem{
		{Path: "Resources.thing.Properties.ThingName", Message: `the thing name "bad name" contains " "; allowed are letters, digits and :_-`},
		{Path: "Resources.thing.Properties.Color", Message: "unknown property of AWS::IoT::Thing; it has ThingName, AttributePayload, ThingTypeName, ThingGroups and BillingGroup"},
		{Path: "Resources.thing.OverrideSettings.ThingTypeName", Message: "MERGE is allowed only for AttributePayload and ThingGroups; use DO_NOTHING, REPLACE or FAIL"},
		{Path: "Resources.certificate.Properties.CertificateId.Ref", Message: `parameter "Cert" is not declared in Parameters`},
		{Path: "Resources.certificate.Properties.CertificatePem", Message: `CertificatePem is not allowed in JITP templates: the certificate is the device's own; use CertificateId with {"Ref": "AWS::IoT::Certificate::Id"}`},
		{Path: "Resources.certificate.Properties", Message: "name the certificate one way only, not with CertificateId and CertificatePem"},
		{Path: "Resources.policy.Properties.PolicyDocument", Message: `policy document: Version is required ("2012-10-17")`},
		{Path: "Resources.policy.Properties.PolicyDocument", Message: "policy document: Statement is required"},
	}
	if len(ps) != len(want) {
		t.Fatalf("Parse() problems = %d %v, want %d", len(ps), ps, len(want))
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("Parse() problem %d = %v, want %v", i, ps[i], want[i])
		}
	}
}

func TestParseOptions(t *testing.T) {
	_, err := Parse(`{}`, Options{Type: "BULK"})
	if imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("Parse(type BULK) error = %v, want kind invalid", err)
	}
	body := `{"Resources": {` + okCert + `}, "DeviceConfiguration": {"x": "` + strings.Repeat("x", 200) + `"}}`
	if _, err := Parse(body, Options{Limits: Limits{MaxBodyLength: 100}}); !hasProblem(problemsOf(t, err), "", "longer than 100 characters") {
		t.Errorf("Parse(MaxBodyLength 100) error = %v, want the body refused", err)
	}
	// 10,240 characters of which many are multi-byte: within AWS's limit.
	long := `{"Resources": {` + okCert + `}, "DeviceConfiguration": {"x": "`
	long += strings.Repeat("é", DefaultMaxBodyLength-len(long)-4) + `"}}`
	if _, err := Parse(long, Options{}); err != nil {
		t.Errorf("Parse(10240 characters) error = %v, want nil", err)
	}
	tmpl := mustParse(t, `{"Parameters": {"A": {"Type": "String", "Default": "x"}, "B": {"Type": "String"}}, "Resources": {`+okCert+`}}`, Options{})
	if ps := tmpl.Parameters(); len(ps) != 2 || ps[0] != (Parameter{"A", "String", "x", true}) || ps[1] != (Parameter{"B", "String", "", false}) {
		t.Errorf("Parameters() = %+v", ps)
	}
	if tmpl.Type() != FleetProvisioning {
		t.Errorf("Type() = %q, want FLEET_PROVISIONING", tmpl.Type())
	}
}

func TestPolicyValidator(t *testing.T) {
	refuse := func(doc []byte) error {
		if strings.Contains(string(doc), "iot:*") {
			return errors.New("iot:* is too broad")
		}
		return nil
	}
	const literal = `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "iot:*", "Resource": "*"}}`
	_, err := Parse(withPolicy(`"PolicyDocument": `+literal), Options{PolicyValidator: refuse})
	if !hasProblem(problemsOf(t, err), "Resources.r.Properties.PolicyDocument", "policy document: iot:* is too broad") {
		t.Errorf("Parse() error = %v, want the validator's refusal", err)
	}
	computed := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": {"Ref": "Name"}, "Resource": "*"}}`
	tmpl := mustParse(t, withPolicy(`"PolicyDocument": `+computed), Options{PolicyValidator: refuse})
	if _, err := tmpl.Evaluate(Input{Parameters: map[string]string{"Name": "iot:Publish"}}); err != nil {
		t.Errorf("Evaluate(iot:Publish) error = %v, want nil", err)
	}
	_, err = tmpl.Evaluate(Input{Parameters: map[string]string{"Name": "iot:*"}})
	if !hasProblem(problemsOf(t, err), "Resources.r.Properties.PolicyDocument", "iot:* is too broad") {
		t.Errorf("Evaluate(iot:*) error = %v, want the validator's refusal", err)
	}
}

func TestErrorText(t *testing.T) {
	_, err := Parse(withThing(`"ThingName": "a b", "Color": "red"`), Options{})
	const list = `Resources.thing.Properties.ThingName: the thing name "a b" contains " "; allowed are letters, digits and :_-; ` +
		`Resources.thing.Properties.Color: unknown property of AWS::IoT::Thing; it has ThingName, AttributePayload, ThingTypeName, ThingGroups and BillingGroup`
	if got, want := imprint.ErrorMessage(err), "invalid template: "+list; got != want {
		t.Errorf("ErrorMessage() = %q, want %q", got, want)
	}
	if got, want := err.Error(), "invalid template: "+list; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	var e *imprint.Error
	if !errors.As(err, &e) || e.Kind != imprint.Invalid {
		t.Errorf("error %v is not an *imprint.Error of kind invalid", err)
	}
}
