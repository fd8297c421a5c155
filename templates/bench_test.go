package templates

import (
	"testing"
)

// fleetTemplateBody is a fleet provisioning template in the style of AWS's
// examples: request parameters, a mapping, an inline policy object and a
// device configuration.
const fleetTemplateBody = `{
	"Parameters": {
		"SerialNumber": {"Type": "String"},
		"DeviceLocation": {"Type": "String", "Default": "Seattle"}
	},
	"Mappings": {"LocationTable": {"Seattle": {"LocationUrl": "https://example.aws"}}},
	"Resources": {
		"thing": {
			"Type": "AWS::IoT::Thing",
			"Properties": {
				"ThingName": {"Fn::Join": ["", ["ThingPrefix_", {"Ref": "SerialNumber"}]]},
				"AttributePayload": {"version": "v1", "serialNumber": {"Ref": "SerialNumber"}},
				"ThingGroups": ["v1-lightbulbs", "WA"]
			},
			"OverrideSettings": {"AttributePayload": "MERGE", "ThingGroups": "DO_NOTHING"}
		},
		"certificate": {
			"Type": "AWS::IoT::Certificate",
			"Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}
		},
		"policy": {
			"Type": "AWS::IoT::Policy",
			"Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
				"Action": ["iot:Publish"], "Resource": ["arn:aws:iot:us-east-1:123456789012:topic/foo/bar"]}]}}
		}
	},
	"DeviceConfiguration": {
		"FallbackUrl": "https://www.example.com/test-site",
		"LocationUrl": {"Fn::FindInMap": ["LocationTable", {"Ref": "DeviceLocation"}, "LocationUrl"]}
	}
}`

// BenchmarkEvaluateJITP evaluates AWS's JITP example with the parameters of
// a real certificate, as a device's first connection does.
func BenchmarkEvaluateJITP(b *testing.B) {
	tmpl := mustParse(b, jitpTemplateBody, Options{Type: JITP})
	in := Input{Certificate: CertificateParameters(mustCertificate(b, certOptions{subject: lightBulb}))}
	if p := mustEvaluate(b, tmpl, in); p.Thing.Name != "LightBulb_0042" {
		b.Fatalf("Evaluate() thing name = %q, want LightBulb_0042", p.Thing.Name)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Evaluate(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluateFleet(b *testing.B) {
	tmpl := mustParse(b, fleetTemplateBody, Options{})
	in := Input{
		Parameters:  map[string]string{"SerialNumber": "0042"},
		Certificate: map[string]string{ParamCertificateID: certID},
	}
	mustEvaluate(b, tmpl, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Evaluate(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseJITP(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(jitpTemplateBody, Options{Type: JITP}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCertificateParameters(b *testing.B) {
	cert := mustCertificate(b, certOptions{subject: lightBulb, dns: []string{"bulb.example.com"}})
	b.ReportAllocs()
	for b.Loop() {
		CertificateParameters(cert)
	}
}
