package policy

import (
	"net/netip"
	"testing"
)

// conditionAllows compiles a policy that allows iot:Publish on everything
// under condition, and reports whether it allows req.
func conditionAllows(t *testing.T, condition string, req *Request) bool {
	t.Helper()
	p := mustCompile(t, "c", doc(`{"Effect":"Allow","Action":"iot:Publish","Resource":"*","Condition":`+condition+`}`))
	r := *req
	r.Action, r.Resource = ActionPublish, "topic/x"
	return Decide(&r, p).Allowed()
}

func TestConditionOperators(t *testing.T) {
	full := fullRequest()
	empty := &Request{}
	tests := []struct {
		name      string
		condition string
		req       *Request
		want      bool
	}{
		{"StringEquals", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}`, full, true},
		{"StringEquals other", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"fan"}}`, full, false},
		{"StringEquals any of list", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":["fan","lamp"]}}`, full, true},
		{"StringEquals is case-sensitive", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"LAMP"}}`, full, false},
		{"StringEquals star is literal", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"*"}}`, full, false},
		{"StringEquals missing key", `{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}`, empty, false},
		{"StringEquals variable value", `{"StringEquals":{"iot:Connection.Thing.ThingName":"${iot:ClientId}"}}`, &Request{ClientID: "a", Thing: attachedThing("a")}, true},
		{"StringEquals variable value differs", `{"StringEquals":{"iot:Connection.Thing.ThingName":"${iot:ClientId}"}}`, &Request{ClientID: "b", Thing: attachedThing("a")}, false},
		{"StringEquals key names ignore case", `{"StringEquals":{"IOT:connection.thing.THINGTYPENAME":"lamp"}}`, full, true},
		{"StringNotEquals", `{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"fan"}}`, full, true},
		{"StringNotEquals same", `{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}`, full, false},
		{"StringNotEquals none of list", `{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":["fan","lamp"]}}`, full, false},
		{"StringNotEquals missing key", `{"StringNotEquals":{"iot:Connection.Thing.ThingTypeName":"lamp"}}`, empty, true},
		{"StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"iot:Connection.Thing.ThingTypeName":"LaMp"}}`, full, true},
		{"StringEqualsIgnoreCase variable", `{"StringEqualsIgnoreCase":{"iot:Connection.Thing.ThingName":"${iot:ClientId}"}}`, &Request{ClientID: "ABC", Thing: attachedThing("abc")}, true},
		{"StringNotEqualsIgnoreCase", `{"StringNotEqualsIgnoreCase":{"iot:Connection.Thing.ThingTypeName":"LAMP"}}`, full, false},
		{"StringNotEqualsIgnoreCase other", `{"StringNotEqualsIgnoreCase":{"iot:Connection.Thing.ThingTypeName":"FAN"}}`, full, true},
		{"StringLike", `{"StringLike":{"iot:ClientId":"client-*"}}`, full, true},
		{"StringLike question", `{"StringLike":{"iot:ClientId":"client-?"}}`, full, true},
		{"StringLike no match", `{"StringLike":{"iot:ClientId":"device-*"}}`, full, false},
		{"StringLike escape", `{"StringLike":{"iot:ClientId":"client${*}"}}`, &Request{ClientID: "client*"}, true},
		{"StringLike escape literal", `{"StringLike":{"iot:ClientId":"client${*}"}}`, &Request{ClientID: "client-1"}, false},
		{"StringNotLike", `{"StringNotLike":{"iot:ClientId":"device-*"}}`, full, true},
		{"StringNotLike match", `{"StringNotLike":{"iot:ClientId":"client-*"}}`, full, false},
		{"NumericEquals", `{"NumericEquals":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, true},
		{"NumericEquals string value", `{"NumericEquals":{"iot:Connection.Thing.Attributes[Floor]":"3.0"}}`, full, true},
		{"NumericEquals other", `{"NumericEquals":{"iot:Connection.Thing.Attributes[Floor]":4}}`, full, false},
		{"NumericEquals not a number", `{"NumericEquals":{"iot:Connection.Thing.Attributes[color]":4}}`, full, false},
		{"NumericNotEquals", `{"NumericNotEquals":{"iot:Connection.Thing.Attributes[Floor]":4}}`, full, true},
		{"NumericNotEquals same", `{"NumericNotEquals":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, false},
		{"NumericNotEquals not a number", `{"NumericNotEquals":{"iot:Connection.Thing.Attributes[color]":4}}`, full, false},
		{"NumericLessThan", `{"NumericLessThan":{"iot:Connection.Thing.Attributes[Floor]":4}}`, full, true},
		{"NumericLessThan equal", `{"NumericLessThan":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, false},
		{"NumericLessThanEquals", `{"NumericLessThanEquals":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, true},
		{"NumericLessThanEquals less", `{"NumericLessThanEquals":{"iot:Connection.Thing.Attributes[Floor]":2.5}}`, full, false},
		{"NumericGreaterThan", `{"NumericGreaterThan":{"iot:Connection.Thing.Attributes[Floor]":-1}}`, full, true},
		{"NumericGreaterThan equal", `{"NumericGreaterThan":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, false},
		{"NumericGreaterThanEquals", `{"NumericGreaterThanEquals":{"iot:Connection.Thing.Attributes[Floor]":3}}`, full, true},
		{"NumericGreaterThanEquals more", `{"NumericGreaterThanEquals":{"iot:Connection.Thing.Attributes[Floor]":3.5}}`, full, false},
		{"Bool true", `{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}`, full, true},
		{"Bool JSON true", `{"Bool":{"iot:Connection.Thing.IsAttached":true}}`, full, true},
		{"Bool false", `{"Bool":{"iot:Connection.Thing.IsAttached":"false"}}`, full, false},
		{"Bool false without thing", `{"Bool":{"iot:Connection.Thing.IsAttached":"False"}}`, empty, true},
		{"Null true when absent", `{"Null":{"iot:Connection.Thing.ThingTypeName":"true"}}`, empty, true},
		{"Null true when present", `{"Null":{"iot:Connection.Thing.ThingTypeName":"true"}}`, full, false},
		{"Null false when present", `{"Null":{"iot:Certificate.SerialNumber":"false","iot:Certificate.Subject.CommonName":"false"}}`, full, true},
		{"Null false when absent", `{"Null":{"iot:Certificate.SerialNumber":"false"}}`, empty, false},
		{"Null treats unusable value as absent", `{"Null":{"iot:Certificate.Subject.Surname":"true"}}`, full, true},
		{"IpAddress CIDR", `{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}`, full, true},
		{"IpAddress single", `{"IpAddress":{"aws:SourceIp":"192.0.2.7"}}`, full, true},
		{"IpAddress outside", `{"IpAddress":{"aws:SourceIp":["198.51.100.0/24","2001:db8::/32"]}}`, full, false},
		{"IpAddress IPv6", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, &Request{SourceIP: netip.MustParseAddr("2001:db8::1")}, true},
		{"IpAddress mapped prefix", `{"IpAddress":{"aws:SourceIp":"::ffff:192.0.2.0/120"}}`, full, true},
		{"IpAddress missing", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, empty, false},
		{"IpAddress on a SAN", `{"IpAddress":{"iot:Certificate.Subject.AlternativeName.IPAddress":"192.0.2.0/30"}}`, full, true},
		{"NotIpAddress", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, full, true},
		{"NotIpAddress inside", `{"NotIpAddress":{"aws:SourceIp":"192.0.0.0/8"}}`, full, false},
		{"StringEquals on an IP", `{"StringEquals":{"aws:SourceIp":"192.0.2.7"}}`, full, true},
		{"IfExists absent", `{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"fan"}}`, empty, true},
		{"IfExists present", `{"StringEqualsIfExists":{"iot:Connection.Thing.ThingTypeName":"fan"}}`, full, false},
		{"NumericLessThanIfExists absent", `{"NumericLessThanIfExists":{"iot:Connection.Thing.Attributes[Floor]":1}}`, empty, true},
		{"every condition must hold", `{"StringEquals":{"iot:ClientId":"client-1","iot:Connection.Thing.ThingTypeName":"fan"}}`, full, false},
		{"every operator must hold", `{"StringEquals":{"iot:ClientId":"client-1"},"Bool":{"iot:Connection.Thing.IsAttached":"true"}}`, full, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := conditionAllows(t, tc.condition, tc.req); got != tc.want {
				t.Errorf("Decide() allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestConditionSetOperators(t *testing.T) {
	org := func(orgs ...string) *Request {
		return &Request{Certificate: &Certificate{Subject: Name{Organization: orgs}}}
	}
	const allOf = `{"ForAllValues:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","AnyCompany"]}}`
	const anyOf = `{"ForAnyValue:StringEquals":{"iot:Certificate.Subject.Organization.List":["Example Corp","AnyCompany"]}}`
	tests := []struct {
		name      string
		condition string
		req       *Request
		want      bool
	}{
		{"all: every value listed", allOf, org("AnyCompany", "Example Corp"), true},
		{"all: one value not listed", allOf, org("Example Corp", "Other"), false},
		{"all: no value", allOf, org(), true},
		{"all: only the first five count", allOf, org("AnyCompany", "AnyCompany", "AnyCompany", "AnyCompany", "AnyCompany", "Other"), true},
		{"all: unusable values are left out", allOf, org("AnyCompany", "Wild*"), true},
		{"any: one value listed", anyOf, org("Other", "AnyCompany"), true},
		{"any: none listed", anyOf, org("Other"), false},
		{"any: no value", anyOf, org(), false},
		{"any: sixth value does not count", anyOf, org("1", "2", "3", "4", "5", "AnyCompany"), false},
		{"all not-equals", `{"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":["LastWill"]}}`, &Request{ConnectAttributes: []string{"PersistentConnect"}}, true},
		{"all not-equals listed", `{"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":["LastWill"]}}`, &Request{ConnectAttributes: []string{"PersistentConnect", "LastWill"}}, false},
		{"any like", `{"ForAnyValue:StringLike":{"iot:ConnectAttributes":["Persistent*"]}}`, &Request{ConnectAttributes: []string{"LastWill", "PersistentConnect"}}, true},
		{"no prefix: any value", `{"StringEquals":{"iot:ConnectAttributes":"LastWill"}}`, &Request{ConnectAttributes: []string{"PersistentConnect", "LastWill"}}, true},
		{"no prefix negated: no value", `{"StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}`, &Request{ConnectAttributes: []string{"PersistentConnect", "LastWill"}}, false},
		{"no prefix negated: none listed", `{"StringNotEquals":{"iot:ConnectAttributes":"LastWill"}}`, &Request{ConnectAttributes: []string{"PersistentConnect"}}, true},
		{"any on a single-valued key", `{"ForAnyValue:StringEquals":{"iot:ClientId":["a","b"]}}`, &Request{ClientID: "b"}, true},
		{"available keys", `{"ForAnyValue:StringEquals":{"iot:Certificate.AvailableKeys":"iot:Certificate.Subject.Organization"}}`, org("X"), true},
		{"available keys without the key", `{"ForAnyValue:StringEquals":{"iot:Certificate.AvailableKeys":"iot:Certificate.Subject.CommonName"}}`, org("X"), false},
		{"any IP on SANs", `{"ForAnyValue:IpAddress":{"iot:Certificate.Subject.AlternativeName.IPAddress.List":"10.0.0.0/8"}}`,
			&Request{Certificate: &Certificate{Subject: Name{AlternativeName: AlternativeName{IPAddress: []string{"192.0.2.1", "10.1.2.3"}}}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := conditionAllows(t, tc.condition, tc.req); got != tc.want {
				t.Errorf("Decide() allowed = %v, want %v", got, tc.want)
			}
		})
	}
}
