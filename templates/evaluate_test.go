package templates

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
)

// conditionalTemplate uses every extension: Conditions, Condition on a
// resource, Fn::If and AWS::NoValue.
const conditionalTemplate = `{
	"Parameters": {
		"Serial": {"Type": "String"},
		"Region": {"Type": "String", "Default": "eu"},
		"Tier": {"Type": "String", "Default": ""}
	},
	"Conditions": {
		"InEU": {"Fn::Equals": [{"Ref": "Region"}, "eu"]},
		"HasTier": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Tier"}, ""]}]},
		"PremiumEU": {"Fn::And": [{"Condition": "InEU"}, {"Fn::Equals": [{"Ref": "Tier"}, "premium"]}]},
		"Anywhere": {"Fn::Or": [{"Condition": "InEU"}, {"Fn::Not": [{"Condition": "InEU"}]}]}
	},
	"Resources": {
		"thing": {
			"Type": "AWS::IoT::Thing",
			"Properties": {
				"ThingName": {"Fn::Join": ["-", [{"Fn::If": ["InEU", "eu", "world"]}, {"Ref": "Serial"}]]},
				"AttributePayload": {"tier": {"Fn::If": ["HasTier", {"Ref": "Tier"}, {"Ref": "AWS::NoValue"}]}},
				"ThingTypeName": {"Fn::If": ["PremiumEU", "premium", {"Ref": "AWS::NoValue"}]},
				"ThingGroups": ["all", {"Fn::If": ["InEU", "eu-devices", {"Ref": "AWS::NoValue"}]}, "all"]
			}
		},
		"certificate": {"Type": "AWS::IoT::Certificate", "Condition": "Anywhere",
			"Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": {"Fn::If": ["InEU", "active", "Inactive"]}}},
		"premiumPolicy": {"Type": "AWS::IoT::Policy", "Condition": "PremiumEU", "Properties": {"PolicyName": "premium"}},
		"basePolicy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyName": "base"}}
	}
}`

func TestConditions(t *testing.T) {
	tmpl := mustParse(t, conditionalTemplate, Options{})
	tests := []struct {
		name       string
		params     map[string]string
		thingName  string
		typeName   string
		attributes map[string]string
		groups     []string
		status     imprint.CertificateStatus
		policies   []string
	}{
		{"defaults", map[string]string{"Serial": "1"}, "eu-1", "", map[string]string{}, []string{"all", "eu-devices"}, imprint.CertificateActive, []string{"base"}},
		{"premium EU", map[string]string{"Serial": "2", "Tier": "premium"}, "eu-2", "premium", map[string]string{"tier": "premium"}, []string{"all", "eu-devices"}, imprint.CertificateActive, []string{"premium", "base"}},
		{"premium US", map[string]string{"Serial": "3", "Tier": "premium", "Region": "us"}, "world-3", "", map[string]string{"tier": "premium"}, []string{"all"}, imprint.CertificateInactive, []string{"base"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustEvaluate(t, tmpl, Input{Parameters: tt.params, Certificate: map[string]string{ParamCertificateID: certID}})
			th := p.Thing
			if th.Name != tt.thingName || th.TypeName != tt.typeName {
				t.Errorf("Evaluate() thing = %q of type %q, want %q of type %q", th.Name, th.TypeName, tt.thingName, tt.typeName)
			}
			if !maps.Equal(th.Attributes, tt.attributes) || th.Attributes == nil {
				t.Errorf("Evaluate() attributes = %v, want %v", th.Attributes, tt.attributes)
			}
			if !slices.Equal(th.Groups, tt.groups) {
				t.Errorf("Evaluate() groups = %q, want %q", th.Groups, tt.groups)
			}
			if p.Certificate == nil || p.Certificate.Status != tt.status {
				t.Errorf("Evaluate() certificate = %+v, want status %s", p.Certificate, tt.status)
			}
			var names []string
			for _, pol := range p.Policies {
				names = append(names, pol.Name)
			}
			if !slices.Equal(names, tt.policies) {
				t.Errorf("Evaluate() policies = %q, want %q", names, tt.policies)
			}
		})
	}
}

func TestConditionalResourceLeftOut(t *testing.T) {
	const body = `{"Parameters": {"Make": {"Type": "String"}},
		"Conditions": {"MakeThing": {"Fn::Equals": [{"Ref": "Make"}, "yes"]}},
		"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Condition": "MakeThing", "Properties": {"ThingName": "t"}}, ` + okCert + `}}`
	tmpl := mustParse(t, body, Options{})
	in := Input{Parameters: map[string]string{"Make": "no"}, Certificate: map[string]string{ParamCertificateID: certID}}
	if p := mustEvaluate(t, tmpl, in); p.Thing != nil {
		t.Errorf("Evaluate(Make=no) thing = %+v, want nil", p.Thing)
	}
	in.Parameters["Make"] = "yes"
	if p := mustEvaluate(t, tmpl, in); p.Thing == nil || p.Thing.Name != "t" {
		t.Errorf("Evaluate(Make=yes) thing = %+v, want t", p.Thing)
	}
}

// TestEvaluateErrors covers values that break a rule only once the
// parameters are known.
func TestEvaluateErrors(t *testing.T) {
	tests := []struct {
		name   string
		typ    Type
		body   string
		params map[string]string
		path   string
		text   string
	}{
		{"thing name", "", withThing(`"ThingName": {"Ref": "Name"}`), map[string]string{"Name": "a b"}, "Resources.thing.Properties.ThingName.Ref", `the thing name "a b" contains " "`},
		{"empty thing name", "", withThing(`"ThingName": {"Ref": "Name"}`), map[string]string{"Name": ""}, "Resources.thing.Properties.ThingName.Ref", "the thing name is empty"},
		{"long thing name", "", withThing(`"ThingName": {"Fn::Join": ["", [{"Ref": "Name"}, {"Ref": "Name"}]]}`), map[string]string{"Name": strings.Repeat("n", 65)}, "Resources.thing.Properties.ThingName.Fn::Join", "longer than 128"},
		{"group", "", withThing(`"ThingName": "t", "ThingGroups": {"Fn::Split": [",", {"Ref": "Name"}]}`), map[string]string{"Name": "a,b c"}, "Resources.thing.Properties.ThingGroups.Fn::Split", `thing group name "b c"`},
		{"too many groups", "", withThing(`"ThingName": "t", "ThingGroups": {"Fn::Split": [",", {"Ref": "Name"}]}`), map[string]string{"Name": "a,b,c,d,e,f,g,h,i,j,k"}, "Resources.thing.Properties.ThingGroups.Fn::Split", "at most 10 groups, not 11"},
		{"attribute value", "", withThing(`"ThingName": "t", "AttributePayload": {"k": {"Ref": "Name"}}`), map[string]string{"Name": "<script>"}, "Resources.thing.Properties.AttributePayload.k.Ref", "attribute value"},
		{"certificate ID", "", withCert(`"CertificateId": {"Ref": "Name"}`), map[string]string{"Name": "xyz"}, "Resources.r.Properties.CertificateId.Ref", "64 hexadecimal digits"},
		{"status", "", withCert(`"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": {"Ref": "Name"}`), map[string]string{"Name": "PENDING"}, "Resources.r.Properties.Status.Ref", "ACTIVE or INACTIVE"},
		{"policy name", "", withPolicy(`"PolicyName": {"Ref": "Name"}`), map[string]string{"Name": "a policy"}, "Resources.r.Properties.PolicyName.Ref", "policy name"},
		{"computed policy", "", withPolicy(`"PolicyDocument": {"Ref": "Doc"}`), map[string]string{"Doc": `{"Version": "2012-10-17"}`}, "Resources.r.Properties.PolicyDocument", "Statement is required"},
		{"computed policy not JSON", "", withPolicy(`"PolicyDocument": {"Ref": "Doc"}`), map[string]string{"Doc": `{`}, "Resources.r.Properties.PolicyDocument", "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := mustParse(t, tt.body, Options{Type: tt.typ})
			_, err := tmpl.Evaluate(Input{Parameters: tt.params, Certificate: map[string]string{ParamCertificateID: certID}})
			if ps := problemsOf(t, err); !hasProblem(ps, tt.path, tt.text) {
				t.Errorf("Evaluate() problems = %v, want %q at %s", ps, tt.text, tt.path)
			}
		})
	}
}

func TestGroupsLeftOut(t *testing.T) {
	body := `{"Parameters": {"G": {"Type": "String", "Default": ""}},
		"Conditions": {"HasGroups": {"Fn::Not": [{"Fn::Equals": [{"Ref": "G"}, ""]}]}},
		"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": "t",
			"ThingGroups": {"Fn::If": ["HasGroups", {"Fn::Split": [",", {"Ref": "G"}]}, {"Ref": "AWS::NoValue"}]}}}}}`
	tmpl := mustParse(t, body, Options{})
	if p := mustEvaluate(t, tmpl, Input{}); p.Thing.Groups != nil {
		t.Errorf("Evaluate() groups = %q, want nil", p.Thing.Groups)
	}
	if p := mustEvaluate(t, tmpl, Input{Parameters: map[string]string{"G": "a,b"}}); !slices.Equal(p.Thing.Groups, []string{"a", "b"}) {
		t.Errorf("Evaluate() groups = %q, want [a b]", p.Thing.Groups)
	}
}

func TestEvaluateValues(t *testing.T) {
	body := withThing(`"ThingName": "t", "ThingGroups": {"Fn::Split": [",", {"Ref": "Name"}]}, "AttributePayload": {}`)
	p := mustEvaluate(t, mustParse(t, body, Options{}), Input{Parameters: map[string]string{"Name": "a,b,a"}})
	if want := []string{"a", "b"}; !slices.Equal(p.Thing.Groups, want) {
		t.Errorf("Evaluate() groups = %q, want %q (duplicates removed)", p.Thing.Groups, want)
	}
	if p.Thing.Attributes == nil || len(p.Thing.Attributes) != 0 {
		t.Errorf("Evaluate() attributes = %#v, want empty, not nil", p.Thing.Attributes)
	}
	if p.Certificate != nil || p.Policies != nil || p.DeviceConfiguration != nil {
		t.Errorf("Evaluate() = %+v, want only a thing", p)
	}
	upper := strings.ToUpper(certID)
	p = mustEvaluate(t, mustParse(t, withCert(`"CertificateId": {"Ref": "Name"}, "Status": "inactive"`), Options{}), Input{Parameters: map[string]string{"Name": upper}})
	if p.Certificate.ID != certID || p.Certificate.Status != imprint.CertificateInactive {
		t.Errorf("Evaluate() certificate = %+v, want %s INACTIVE", p.Certificate, certID)
	}
	doc := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`
	p = mustEvaluate(t, mustParse(t, withPolicy(`"PolicyDocument": {"Ref": "Doc"}`), Options{}), Input{Parameters: map[string]string{"Doc": doc}})
	if got := p.Policies[0]; got.Document != doc || got.Name != policyName(doc) || len(got.Name) != 40 {
		t.Errorf("Evaluate() policy = %+v, want the document named by its hash", got)
	}
}

// TestPolicyDocumentWithFunctions checks a policy document object with
// functions inside it.
func TestPolicyDocumentWithFunctions(t *testing.T) {
	body := withPolicy(`"PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
		"Action": {"Fn::Split": [",", "iot:Publish,iot:Receive"]},
		"Resource": [{"Fn::Sub": "arn:aws:iot:*:*:topic/devices/${Name}/*"}, "arn:aws:iot:*:*:client/${iot:ClientId}"]}]}`)
	p := mustEvaluate(t, mustParse(t, body, Options{}), Input{Parameters: map[string]string{"Name": "d1"}})
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":["arn:aws:iot:*:*:topic/devices/d1/*","arn:aws:iot:*:*:client/${iot:ClientId}"]}]}`
	if got := p.Policies[0].Document; got != want {
		t.Errorf("Evaluate() document = %s, want %s", got, want)
	}
	p = mustEvaluate(t, mustParse(t, body, Options{}), Input{Parameters: map[string]string{"Name": `q"uote`}})
	if got := p.Policies[0].Document; !strings.Contains(got, `devices/q\"uote/*`) {
		t.Errorf("Evaluate() document = %s, want the parameter escaped as JSON", got)
	}
}

// TestJITPDefaults checks that a Default rescues a certificate field the
// certificate lacks, and that the extension parameters work in JITP.
func TestJITPDefaults(t *testing.T) {
	const body = `{
		"Parameters": {"AWS::IoT::Certificate::OrganizationalUnit": {"Type": "String", "Default": "unclaimed"}},
		"Resources": {
			"thing": {"Type": "AWS::IoT::Thing", "Properties": {
				"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
				"AttributePayload": {"ou": {"Ref": "AWS::IoT::Certificate::OrganizationalUnit"}, "dns": {"Ref": "Imprint::Certificate::SAN::DNSName"}}}},
			` + okCert + `
		},
		"DeviceConfiguration": {"issuer": {"Ref": "Imprint::Certificate::Issuer::CommonName"}}
	}`
	tmpl := mustParse(t, body, Options{Type: JITP})
	cert := mustCertificate(t, certOptions{subject: lightBulb, dns: []string{"bulb42.example.com"}})
	p := mustEvaluate(t, tmpl, Input{Certificate: CertificateParameters(cert)})
	if want := map[string]string{"ou": "unclaimed", "dns": "bulb42.example.com"}; !maps.Equal(p.Thing.Attributes, want) {
		t.Errorf("Evaluate() attributes = %v, want %v", p.Thing.Attributes, want)
	}
	if got := p.DeviceConfiguration["issuer"]; got != "Imprint Test CA" {
		t.Errorf("Evaluate() issuer = %q, want %q", got, "Imprint Test CA")
	}
	bare := mustCertificate(t, certOptions{subject: lightBulb})
	_, err := tmpl.Evaluate(Input{Certificate: CertificateParameters(bare)})
	if ps := problemsOf(t, err); !hasProblem(ps, "Resources.thing.Properties.AttributePayload.dns.Ref", "the certificate has no DNS name") {
		t.Errorf("Evaluate(no DNS name) problems = %v, want the DNS name missing", ps)
	}
}

// TestEvaluateConcurrent evaluates one template from many goroutines; run
// with -race it shows that evaluation does not write to the template.
func TestEvaluateConcurrent(t *testing.T) {
	tmpl := mustParse(t, conditionalTemplate, Options{})
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 100 {
				serial := itoa(g*1000 + i)
				region := []string{"eu", "us"}[i%2]
				p, err := tmpl.Evaluate(Input{
					Parameters:  map[string]string{"Serial": serial, "Region": region},
					Certificate: map[string]string{ParamCertificateID: certID},
				})
				if err == nil && p.Thing.Name != map[string]string{"eu": "eu-", "us": "world-"}[region]+serial {
					err = errors.New("thing name " + p.Thing.Name + " for serial " + serial + " in " + region)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("Evaluate() concurrently: %v", err)
		}
	}
}
