package policy

import (
	"net/netip"
	"testing"
)

// The three policies of a typical connected device: it connects as its
// thing, publishes below its thing name, and subscribes to and receives its
// commands and shadow.
const (
	benchConnect = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
		"Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}",
		"Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}]}`
	benchPublish = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iot:Publish","iot:RetainPublish"],"Resource":[
			"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/*",
			"arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
		{"Effect":"Deny","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/admin/*"}]}`
	benchSubscribe = `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":[
			"arn:aws:iot:us-east-1:123456789012:topicfilter/${iot:Connection.Thing.ThingName}/commands/*",
			"arn:aws:iot:us-east-1:123456789012:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]},
		{"Effect":"Allow","Action":"iot:Receive","Resource":[
			"arn:aws:iot:us-east-1:123456789012:topic/${iot:Connection.Thing.ThingName}/commands/*",
			"arn:aws:iot:us-east-1:123456789012:topic/$aws/things/${iot:Connection.Thing.ThingName}/shadow/*"]}]}`
)

func benchPolicies(b *testing.B) []*Policy {
	return []*Policy{
		mustCompile(b, "connect", benchConnect),
		mustCompile(b, "publish", benchPublish),
		mustCompile(b, "subscribe", benchSubscribe),
	}
}

func benchRequest() *Request {
	return &Request{
		Action:        ActionPublish,
		Resource:      "topic/thermostat-0042/telemetry/temperature",
		ClientID:      "thermostat-0042",
		CertificateID: "a0c01f5835079de0a7514643d68ef8414ab739a1e94ee4162977b02b12842847",
		SourceIP:      netip.MustParseAddr("192.0.2.10"),
		Thing: &Thing{
			Name:       "thermostat-0042",
			TypeName:   "thermostat",
			Attributes: map[string]string{"floor": "3"},
			Attached:   true,
		},
	}
}

// BenchmarkDecide decides a Publish of a connected device with three
// attached policies that use policy variables.
func BenchmarkDecide(b *testing.B) {
	policies := benchPolicies(b)
	req := benchRequest()
	if d := Decide(req, policies...); d.Result != Allowed {
		b.Fatalf("Decide() = %v, want ALLOWED", d.Result)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(req, policies...)
	}
}

// BenchmarkDecideDenied decides a Publish that no statement allows, so every
// statement for the action is evaluated.
func BenchmarkDecideDenied(b *testing.B) {
	policies := benchPolicies(b)
	req := benchRequest()
	req.Resource = "topic/thermostat-0043/telemetry/temperature"
	if d := Decide(req, policies...); d.Result != ImplicitDeny {
		b.Fatalf("Decide() = %v, want IMPLICIT_DENY", d.Result)
	}
	b.ReportAllocs()
	for b.Loop() {
		Decide(req, policies...)
	}
}

// BenchmarkExplain explains the same Publish, as TestAuthorization does.
func BenchmarkExplain(b *testing.B) {
	policies := benchPolicies(b)
	req := benchRequest()
	b.ReportAllocs()
	for b.Loop() {
		Explain(req, policies...)
	}
}

// BenchmarkCompile compiles the publish policy.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("publish", benchPublish); err != nil {
			b.Fatal(err)
		}
	}
}
