package templates

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

// jitpTemplateBody is AWS's JITP example template
// (testdata/aws-examples/jitp-template-body.json), kept here so that the
// package's tests and benchmark stand on their own.
const jitpTemplateBody = `{
   "Parameters":{
      "AWS::IoT::Certificate::CommonName":{
         "Type":"String"
      },
      "AWS::IoT::Certificate::SerialNumber":{
         "Type":"String"
      },
      "AWS::IoT::Certificate::Country":{
         "Type":"String"
      },
      "AWS::IoT::Certificate::Id":{
         "Type":"String"
      }
   },
   "Resources":{
      "thing":{
         "Type":"AWS::IoT::Thing",
         "Properties":{
            "ThingName":{
               "Ref":"AWS::IoT::Certificate::CommonName"
            },
            "AttributePayload":{
               "version":"v1",
               "serialNumber":{
                  "Ref":"AWS::IoT::Certificate::SerialNumber"
               }
            },
            "ThingTypeName":"lightBulb-versionA",
            "ThingGroups":[
               "v1-lightbulbs",
               {
                  "Ref":"AWS::IoT::Certificate::Country"
               }
            ]
         },
         "OverrideSettings":{
            "AttributePayload":"MERGE",
            "ThingTypeName":"REPLACE",
            "ThingGroups":"DO_NOTHING"
         }
      },
      "certificate":{
         "Type":"AWS::IoT::Certificate",
         "Properties":{
            "CertificateId":{
               "Ref":"AWS::IoT::Certificate::Id"
            },
            "Status":"ACTIVE"
         },
         "OverrideSettings":{
            "Status":"DO_NOTHING"
         }
      },
      "policy":{
         "Type":"AWS::IoT::Policy",
         "Properties":{
            "PolicyDocument":"{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", \"Action\":[\"iot:Publish\"], \"Resource\": [\"arn:aws:iot:us-east-1:123456789012:topic/foo/bar\"] }] }"
         }
      }
   }
}
`

// wantJITPPolicy is the policy document of AWS's JITP example.
const wantJITPPolicy = `{ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action":["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"] }] }`

func TestJITPBodyConstantIsTheExample(t *testing.T) {
	if got := readExample(t, "jitp-template-body.json"); got != jitpTemplateBody {
		t.Errorf("jitpTemplateBody differs from jitp-template-body.json")
	}
}

// checkJITPPlan checks the outcome jitp-template-body.md states for a device
// whose certificate has the lightBulb subject.
func checkJITPPlan(t *testing.T, p *Plan, id string) {
	t.Helper()
	th := p.Thing
	if th == nil {
		t.Fatal("Evaluate() thing = nil, want one")
	}
	if th.Name != "LightBulb_0042" {
		t.Errorf("Evaluate() thing name = %q, want %q", th.Name, "LightBulb_0042")
	}
	if want := map[string]string{"version": "v1", "serialNumber": "SN-0042"}; !maps.Equal(th.Attributes, want) {
		t.Errorf("Evaluate() attributes = %v, want %v", th.Attributes, want)
	}
	if th.TypeName != "lightBulb-versionA" {
		t.Errorf("Evaluate() thing type = %q, want lightBulb-versionA", th.TypeName)
	}
	if want := []string{"v1-lightbulbs", "US"}; !slices.Equal(th.Groups, want) {
		t.Errorf("Evaluate() groups = %q, want %q", th.Groups, want)
	}
	if want := (ThingOverrides{AttributePayload: Merge, ThingTypeName: Replace, ThingGroups: DoNothing}); th.Overrides != want {
		t.Errorf("Evaluate() thing overrides = %+v, want %+v", th.Overrides, want)
	}
	c := p.Certificate
	if c == nil || c.ID != id || c.Status != imprint.CertificateActive || c.StatusOverride != DoNothing || c.CSR != "" || c.PEM != "" {
		t.Errorf("Evaluate() certificate = %+v, want ID %s, ACTIVE, Status DO_NOTHING", c, id)
	}
	if len(p.Policies) != 1 {
		t.Fatalf("Evaluate() policies = %+v, want one", p.Policies)
	}
	pol := p.Policies[0]
	if pol.Document != wantJITPPolicy {
		t.Errorf("Evaluate() policy document = %q, want %q", pol.Document, wantJITPPolicy)
	}
	if len(pol.Name) != 40 || strings.ToUpper(pol.Name) != pol.Name {
		t.Errorf("Evaluate() policy name = %q, want 40 upper-case hex digits", pol.Name)
	}
	if p.DeviceConfiguration != nil {
		t.Errorf("Evaluate() device configuration = %v, want nil", p.DeviceConfiguration)
	}
}

func TestExampleJITPTemplateBody(t *testing.T) {
	body := readExample(t, "jitp-template-body.json")
	tmpl := mustParse(t, body, Options{Type: JITP})
	cert := mustCertificate(t, certOptions{subject: lightBulb})
	sum := sha256.Sum256(cert.Raw)
	p := mustEvaluate(t, tmpl, Input{Certificate: CertificateParameters(cert)})
	checkJITPPlan(t, p, hex.EncodeToString(sum[:]))
}

// TestExampleJITPMissingField checks that provisioning fails when the
// certificate lacks a declared field: CN, serialNumber or C.
func TestExampleJITPMissingField(t *testing.T) {
	tmpl := mustParse(t, jitpTemplateBody, Options{Type: JITP})
	tests := []struct {
		name    string
		subject func(n *pkixName)
		param   string
	}{
		{"no CN", func(n *pkixName) { n.CommonName = "" }, ParamCommonName},
		{"no serialNumber", func(n *pkixName) { n.SerialNumber = "" }, ParamSerialNumber},
		{"no C", func(n *pkixName) { n.Country = nil }, ParamCountry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subject := lightBulb
			tt.subject(&subject)
			cert := mustCertificate(t, certOptions{subject: subject})
			_, err := tmpl.Evaluate(Input{Certificate: CertificateParameters(cert)})
			ps := problemsOf(t, err)
			if !hasProblem(ps, "Parameters."+tt.param, "the certificate has no") {
				t.Errorf("Evaluate() problems = %v, want one at Parameters.%s", ps, tt.param)
			}
		})
	}
}

func TestExampleJITPRegistrationConfig(t *testing.T) {
	var config struct {
		TemplateBody string `json:"templateBody"`
		RoleARN      string `json:"roleArn"`
	}
	if err := json.Unmarshal([]byte(readExample(t, "jitp-registration-config.json")), &config); err != nil {
		t.Fatal(err)
	}
	tmpl := mustParse(t, config.TemplateBody, Options{Type: JITP})
	cert := mustCertificate(t, certOptions{subject: lightBulb})
	params := CertificateParameters(cert)
	p := mustEvaluate(t, tmpl, Input{Certificate: params})
	checkJITPPlan(t, p, params[ParamCertificateID])
	want := mustEvaluate(t, mustParse(t, jitpTemplateBody, Options{Type: JITP}), Input{Certificate: params})
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Evaluate() = %+v, want the plan of jitp-template-body.json %+v", p, want)
	}
}

func TestExampleFleetTemplateWithMappings(t *testing.T) {
	tmpl := mustParse(t, readExample(t, "fleet-template-with-mappings.json"), Options{})
	p := mustEvaluate(t, tmpl, Input{
		Parameters:  map[string]string{"ThingName": "bulb-1", "SerialNumber": "123", "DeviceLocation": "Seattle"},
		Certificate: map[string]string{ParamCertificateID: certID},
	})
	th := p.Thing
	if th.Name != "bulb-1" || th.TypeName != "ThingPrefix_123" || th.BillingGroup != "LightBulbBillingGroup" {
		t.Errorf("Evaluate() thing = %+v, want bulb-1 of type ThingPrefix_123 in LightBulbBillingGroup", th)
	}
	if want := map[string]string{"version": "v1", "serialNumber": "serialNumber"}; !maps.Equal(th.Attributes, want) {
		t.Errorf("Evaluate() attributes = %v, want %v", th.Attributes, want)
	}
	if want := []string{"v1-lightbulbs", "WA"}; !slices.Equal(th.Groups, want) {
		t.Errorf("Evaluate() groups = %q, want %q", th.Groups, want)
	}
	if c := p.Certificate; c.ID != certID || c.Status != imprint.CertificateActive {
		t.Errorf("Evaluate() certificate = %+v, want %s ACTIVE (the template says \"Active\")", c, certID)
	}
	const wantDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish"],"Resource":["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"]}]}`
	if len(p.Policies) != 1 || p.Policies[0].Document != wantDoc {
		t.Errorf("Evaluate() policies = %+v, want the document %s", p.Policies, wantDoc)
	}
	wantConfig := map[string]string{"FallbackUrl": "https://www.example.com/test-site", "LocationUrl": "https://example.aws"}
	if !maps.Equal(p.DeviceConfiguration, wantConfig) {
		t.Errorf("Evaluate() device configuration = %v, want %v", p.DeviceConfiguration, wantConfig)
	}
}

// TestExampleRegisterThingAccepted builds the RegisterThing accepted
// response from a plan and checks it has the documented shape.
func TestExampleRegisterThingAccepted(t *testing.T) {
	var shape map[string]any
	if err := json.Unmarshal([]byte(readExample(t, "mqtt-register-thing-accepted.json")), &shape); err != nil {
		t.Fatal(err)
	}
	var req struct {
		Token      string            `json:"certificateOwnershipToken"`
		Parameters map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(readExample(t, "mqtt-register-thing-request.json")), &req); err != nil {
		t.Fatal(err)
	}
	tmpl := mustParse(t, readExample(t, "fleet-template-with-mappings.json"), Options{})
	req.Parameters = map[string]string{"ThingName": "bulb-2", "SerialNumber": "9", "DeviceLocation": "Seattle"}
	p := mustEvaluate(t, tmpl, Input{Parameters: req.Parameters, Certificate: map[string]string{ParamCertificateID: certID}})
	b, err := json.Marshal(map[string]any{"deviceConfiguration": p.DeviceConfiguration, "thingName": p.Thing.Name})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(shape))) || got["thingName"] != "bulb-2" {
		t.Errorf("accepted response = %s, want the keys of %v and thingName bulb-2", b, shape)
	}
}

// TestExampleRegisterThingRequest evaluates the fleet template with the
// documented request's placeholder parameters: every missing parameter is
// reported at once, with its path.
func TestExampleRegisterThingRequest(t *testing.T) {
	var req struct {
		Parameters map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal([]byte(readExample(t, "mqtt-register-thing-request.json")), &req); err != nil {
		t.Fatal(err)
	}
	tmpl := mustParse(t, readExample(t, "fleet-template-with-mappings.json"), Options{})
	_, err := tmpl.Evaluate(Input{Parameters: req.Parameters, Certificate: map[string]string{ParamCertificateID: certID}})
	ps := problemsOf(t, err)
	for _, path := range []string{
		"Resources.thing.Properties.ThingName.Ref",
		"Resources.thing.Properties.ThingTypeName.Fn::Join[1][1].Ref",
		"DeviceConfiguration.LocationUrl.Fn::FindInMap[1].Ref",
	} {
		if !hasProblem(ps, path, "has no value") {
			t.Errorf("Evaluate() problems = %v, want one at %s", ps, path)
		}
	}
}

func TestExampleFleetTemplateWithHook(t *testing.T) {
	body := readExample(t, "fleet-template-with-hook.json")
	t.Run("undeclared parameter rejected", func(t *testing.T) {
		_, err := Parse(body, Options{})
		ps := problemsOf(t, err)
		for _, path := range []string{
			"Resources.thing.Properties.ThingName.Fn::Join[1][1].Ref",
			"Resources.thing.Properties.ThingTypeName.Fn::Join[1][1].Ref",
		} {
			if !hasProblem(ps, path, `parameter "SerialNumber" is not declared`) {
				t.Errorf("Parse() problems = %v, want one at %s", ps, path)
			}
		}
	})
	t.Run("lenient", func(t *testing.T) {
		tmpl := mustParse(t, body, Options{AllowUndeclaredParameters: true})
		var hook struct {
			Allow     bool              `json:"allowProvisioning"`
			Overrides map[string]string `json:"parameterOverrides"`
		}
		if err := json.Unmarshal([]byte(readExample(t, "pre-provisioning-hook-output.json")), &hook); err != nil {
			t.Fatal(err)
		}
		hook.Overrides["DeviceLocation"] = "Seattle" // the hook's override of the .md
		p := mustEvaluate(t, tmpl, Input{
			Parameters:  map[string]string{"SerialNumber": "77", "DeviceLocation": "Portland"},
			Certificate: map[string]string{ParamCertificateID: certID},
			Overrides:   hook.Overrides,
		})
		th := p.Thing
		if th.Name != "ThingPrefix_77" || th.TypeName != "ThingTypePrefix_77" || th.BillingGroup != "BillingGroup" {
			t.Errorf("Evaluate() thing = %+v, want ThingPrefix_77 of type ThingTypePrefix_77 in BillingGroup", th)
		}
		if want := []string{"widgets", "WA"}; !slices.Equal(th.Groups, want) {
			t.Errorf("Evaluate() groups = %q, want %q", th.Groups, want)
		}
		if got := p.DeviceConfiguration["LocationUrl"]; got != "https://example.aws" {
			t.Errorf("Evaluate() LocationUrl = %q, want https://example.aws (DeviceLocation=Seattle from the hook)", got)
		}
	})
}

// TestExamplePreProvisioningHook checks that the hook's parameterOverrides
// win over the request's parameters, which the hook input mirrors.
func TestExamplePreProvisioningHook(t *testing.T) {
	var input struct {
		Parameters map[string]string `json:"parameters"`
	}
	var output struct {
		Overrides map[string]string `json:"parameterOverrides"`
	}
	if err := json.Unmarshal([]byte(readExample(t, "pre-provisioning-hook-input.json")), &input); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(readExample(t, "pre-provisioning-hook-output.json")), &output); err != nil {
		t.Fatal(err)
	}
	const body = `{"Parameters": {"string": {"Type": "String"}, "Key": {"Type": "String", "Default": "default"}},
		"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}}},
		"DeviceConfiguration": {"a": {"Ref": "string"}, "b": {"Ref": "Key"}}}`
	tmpl := mustParse(t, body, Options{})
	input.Parameters["Key"] = "fromRequest"
	p := mustEvaluate(t, tmpl, Input{Parameters: input.Parameters, Overrides: output.Overrides,
		Certificate: map[string]string{ParamCertificateID: certID}})
	if want := map[string]string{"a": "string", "b": "newCustomValue"}; !maps.Equal(p.DeviceConfiguration, want) {
		t.Errorf("Evaluate() device configuration = %v, want %v", p.DeviceConfiguration, want)
	}
}

// bulkTemplate is the bulk registration template of AWS's documentation,
// with the thing name the bulk input file gives.
const bulkTemplate = `{
    "Parameters" : {
        "ThingName" : {"Type" : "String"},
        "SerialNumber" : {"Type" : "String"},
        "Location" : {"Type" : "String", "Default" : "WA"},
        "CSR" : {"Type" : "String"}
    },
    "Resources" : {
        "thing" : {
            "Type" : "AWS::IoT::Thing",
            "Properties" : {
                "ThingName" : {"Ref" : "ThingName"},
                "AttributePayload" : { "version" : "v1", "serialNumber" :  {"Ref" : "SerialNumber"}},
                "ThingTypeName" :  "lightBulb-versionA",
                "ThingGroups" : ["v1-lightbulbs", {"Ref" : "Location"}]
            }
        },
        "certificate" : {
            "Type" : "AWS::IoT::Certificate",
            "Properties" : {
                "CertificateSigningRequest": {"Ref" : "CSR"},
                "Status" : "ACTIVE"
            }
        },
        "policy" : {
            "Type" : "AWS::IoT::Policy",
            "Properties" : {
                "PolicyDocument" : "{ \"Version\": \"2012-10-17\", \"Statement\": [{ \"Effect\": \"Allow\", \"Action\":[\"iot:Publish\"], \"Resource\": [\"arn:aws:iot:us-east-1:123456789012:topic/foo/bar\"] }] }"
            }
        }
    }
}`

func TestExampleBulkRegistrationInput(t *testing.T) {
	tmpl := mustParse(t, bulkTemplate, Options{Type: Registration})
	want := []struct{ name, serial, csr string }{{"foo", "123", "csr1"}, {"bar", "456", "csr2"}}
	lines := strings.Split(strings.TrimSpace(readExample(t, "bulk-registration-input.ndjson")), "\n")
	if len(lines) != len(want) {
		t.Fatalf("bulk input has %d lines, want %d", len(lines), len(want))
	}
	for i, line := range lines {
		var params map[string]string
		if err := json.Unmarshal([]byte(line), &params); err != nil {
			t.Fatal(err)
		}
		p := mustEvaluate(t, tmpl, Input{Parameters: params})
		w := want[i]
		if p.Thing.Name != w.name || p.Thing.Attributes["serialNumber"] != w.serial || p.Certificate.CSR != w.csr {
			t.Errorf("Evaluate(line %d) = thing %+v, certificate %+v; want %s, serial %s, CSR %s", i+1, p.Thing, p.Certificate, w.name, w.serial, w.csr)
		}
		if gs := []string{"v1-lightbulbs", "WA"}; !slices.Equal(p.Thing.Groups, gs) {
			t.Errorf("Evaluate(line %d) groups = %q, want %q (Location defaults to WA)", i+1, p.Thing.Groups, gs)
		}
	}
	if _, err := Parse(bulkTemplate, Options{Type: FleetProvisioning}); !hasProblem(problemsOf(t, err),
		"Resources.certificate.Properties.CertificateSigningRequest", "not allowed in FLEET_PROVISIONING templates") {
		t.Errorf("Parse(fleet) error = %v, want CertificateSigningRequest refused", err)
	}
}

// TestExamplePolicies puts each of AWS's example policies in a template, as
// an object and as an escaped string: each is a valid policy document.
func TestExamplePolicies(t *testing.T) {
	for _, name := range []string{
		"policy-claim-certificate.json", "policy-clientid-variable.json", "policy-connect-isattached.json",
		"policy-deny-receive.json", "policy-literal-plus.json", "policy-publish-thingname-prefix.json",
		"policy-star-level.json",
	} {
		t.Run(name, func(t *testing.T) {
			doc := readExample(t, name)
			quoted, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			for _, value := range []string{doc, string(quoted)} {
				body := `{"Resources": {"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}},
					"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": ` + value + `}}}}`
				p := mustEvaluate(t, mustParse(t, body, Options{}), Input{Certificate: map[string]string{ParamCertificateID: certID}})
				if got, want := compact(t, p.Policies[0].Document), compact(t, doc); got != want {
					t.Errorf("Evaluate() policy document = %s, want %s", got, want)
				}
			}
		})
	}
}

// TestEveryExampleTemplateIsCovered finds every template among the AWS
// examples, so that one added later cannot go untested.
func TestEveryExampleTemplateIsCovered(t *testing.T) {
	readExample(t, "jitp-template-body.json") // skips without the examples
	covered := map[string]Options{
		"jitp-template-body.json":           {Type: JITP},
		"jitp-registration-config.json":     {Type: JITP},
		"fleet-template-with-mappings.json": {},
		"fleet-template-with-hook.json":     {AllowUndeclaredParameters: true},
	}
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples in %s: %v", examplesDir, err)
	}
	found := 0
	for _, file := range files {
		name := filepath.Base(file)
		var doc map[string]any
		if err := json.Unmarshal([]byte(readExample(t, name)), &doc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, ok := doc["templateBody"].(string)
		if _, isTemplate := doc["Resources"]; isTemplate {
			body, ok = readExample(t, name), true
		}
		if !ok {
			continue
		}
		found++
		opts, known := covered[name]
		if !known {
			t.Errorf("%s is a template without a test", name)
			continue
		}
		if _, err := Parse(body, opts); err != nil {
			t.Errorf("Parse(%s) error = %v", name, err)
		}
	}
	if found != len(covered) {
		t.Errorf("found %d example templates, want %d", found, len(covered))
	}
}
