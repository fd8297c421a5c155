package api_test

import (
	"net/url"
	"strings"
	"testing"
)

// jitpBody is a JITP template in the AWS IoT form: the thing is named after
// the certificate's common name, with a country attribute and a policy.
const jitpBody = `{
  "Parameters": {
    "AWS::IoT::Certificate::CommonName": {"Type": "String"},
    "AWS::IoT::Certificate::Country": {"Type": "String", "Default": "DE"},
    "AWS::IoT::Certificate::Id": {"Type": "String"}
  },
  "Resources": {
    "thing": {
      "Type": "AWS::IoT::Thing",
      "Properties": {
        "ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
        "AttributePayload": {"version": "v1", "country": {"Ref": "AWS::IoT::Certificate::Country"}}
      }
    },
    "certificate": {
      "Type": "AWS::IoT::Certificate",
      "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "Active"}
    },
    "policy": {
      "Type": "AWS::IoT::Policy",
      "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"}
    }
  }
}`

func TestProvisioningTemplates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	create := func(name, typ, body string) response {
		return e.do("POST", "/v1/provisioning-templates", e.admin, map[string]any{"name": name, "type": typ, "body": body,
			"description": "line A"})
	}
	if r := create("line-a", "JITP", jitpBody); r.status != 201 {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	if r := create("line-a", "JITP", jitpBody); r.status != 409 {
		t.Errorf("create a second line-a = %d, want 409", r.status)
	}
	// Every fault at once, each with its JSON path.
	bad := `{"Resources": {"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "Nope"}, "Colour": "red"}},
		"x": {"Type": "AWS::S3::Bucket"}}}`
	r := create("broken", "JITP", bad)
	var problems struct {
		Error struct {
			Problems []struct{ Path, Message string }
		}
	}
	r.json(t, &problems)
	if len(problems.Error.Problems) < 3 || problems.Error.Problems[0].Path == "" {
		t.Errorf("problems = %+v, want each fault with its path", problems.Error.Problems)
	}
	code, msg := r.errorCode(t)
	if r.status != 400 || code != "invalid" || !strings.Contains(msg, "Resources.thing.Properties.ThingName") ||
		!strings.Contains(msg, "Resources.x") || !strings.Contains(msg, "Colour") {
		t.Errorf("create a broken template = %d %s", r.status, r.body)
	}
	for name, body := range map[string]map[string]any{
		"bad name":    {"name": "no spaces", "type": "JITP", "body": jitpBody},
		"long name":   {"name": strings.Repeat("a", 37), "type": "JITP", "body": jitpBody},
		"bad type":    {"name": "t1", "type": "OTHER", "body": jitpBody},
		"no body":     {"name": "t1", "type": "JITP"},
		"bad hook":    {"name": "t1", "type": "FLEET_PROVISIONING", "body": "{}", "preProvisioningHook": map[string]any{"url": "ftp://x", "secret": "0123456789abcdef"}},
		"csr in jitp": {"name": "t1", "type": "JITP", "body": `{"Resources":{"c":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateSigningRequest":"x"}}}}`},
	} {
		if r := e.doInvalid("POST", "/v1/provisioning-templates", e.admin, body); r.status != 400 {
			t.Errorf("%s: create = %d %s, want 400", name, r.status, r.body)
		}
	}
	// Versions: add, set default, limits, delete rules.
	v := e.do("POST", "/v1/provisioning-templates/line-a/versions?setAsDefault=true", e.admin,
		map[string]string{"body": strings.Replace(jitpBody, `"v1"`, `"v2"`, 1)})
	if v.status != 201 || !strings.Contains(string(v.body), `"versionId":2`) {
		t.Fatalf("add version = %d %s", v.status, v.body)
	}
	for i := 3; i <= 5; i++ {
		if r := e.do("POST", "/v1/provisioning-templates/line-a/versions", e.admin, map[string]string{"body": jitpBody}); r.status != 201 {
			t.Fatalf("add version %d = %d %s", i, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/provisioning-templates/line-a/versions", e.admin, map[string]string{"body": jitpBody}); r.status != 409 {
		t.Errorf("a sixth version = %d %s, want 409", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/provisioning-templates/line-a/versions/2", e.admin, nil); r.status != 409 {
		t.Errorf("delete the default version = %d, want 409", r.status)
	}
	if r := e.do("DELETE", "/v1/provisioning-templates/line-a/versions/1", e.admin, nil); r.status != 204 {
		t.Errorf("delete version 1 = %d %s", r.status, r.body)
	}
	var vs struct {
		Versions []struct {
			VersionID int
			IsDefault bool
		}
	}
	e.do("GET", "/v1/provisioning-templates/line-a/versions", e.auditor, nil).json(t, &vs)
	if len(vs.Versions) != 4 || vs.Versions[0].VersionID != 2 || !vs.Versions[0].IsDefault {
		t.Errorf("versions = %+v", vs.Versions)
	}
	if r := e.do("PATCH", "/v1/provisioning-templates/line-a", e.admin, map[string]any{"defaultVersionId": 4, "enabled": false,
		"description": "line A, v4"}); r.status != 200 || !strings.Contains(string(r.body), `"defaultVersionId":4`) ||
		!strings.Contains(string(r.body), `"enabled":false`) {
		t.Errorf("patch = %d %s", r.status, r.body)
	}
	for name, body := range map[string]any{
		"type change":        map[string]any{"type": "FLEET_PROVISIONING"},
		"no such version":    map[string]any{"defaultVersionId": 99},
		"control characters": map[string]any{"description": "a\x01b"},
	} {
		if r := e.doInvalid("PATCH", "/v1/provisioning-templates/line-a", e.admin, body); r.status != 400 && r.status != 404 {
			t.Errorf("%s: patch = %d %s, want 400 or 404", name, r.status, r.body)
		}
	}
	// The dry run: the plan, nothing applied.
	c := e.issueOne("sensor-77")
	r = e.do("POST", "/v1/provisioning-templates/line-a:preview", e.admin, map[string]any{"certificatePem": c.CertificatePEM})
	var plan struct {
		Thing struct {
			Name       string
			Attributes map[string]string
		}
		Certificate struct{ ID, Status string }
		Policies    []struct{ Document string }
	}
	r.json(t, &plan)
	if r.status != 200 || plan.Thing.Name != "sensor-77" || plan.Thing.Attributes["country"] != "DE" ||
		plan.Certificate.ID != c.CertificateID || plan.Certificate.Status != "ACTIVE" || len(plan.Policies) != 1 {
		t.Errorf("preview = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/v1/provisioning-templates/line-a:preview", e.admin, map[string]any{"parameters": map[string]string{}}); r.status != 400 {
		t.Errorf("preview without the certificate's parameters = %d %s, want 400", r.status, r.body)
	}
	// A CA provisioning with the template keeps it from being deleted.
	if r := e.do("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]any{"provisioningTemplate": "line-a"}); r.status != 200 ||
		!strings.Contains(string(r.body), `"provisioningTemplate":"line-a"`) {
		t.Fatalf("point the CA at the template = %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/provisioning-templates/line-a", e.admin, nil); r.status != 409 {
		t.Errorf("delete a template in use = %d, want 409", r.status)
	}
	e.do("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]any{"provisioningTemplate": ""})
	if r := e.do("DELETE", "/v1/provisioning-templates/line-a", e.admin, nil); r.status != 204 {
		t.Errorf("delete = %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/provisioning-templates/line-a", e.admin, nil); r.status != 404 {
		t.Errorf("get after delete = %d, want 404", r.status)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE resource_type = 'provisioning_template'`); n < 8 {
		t.Errorf("template audit events = %d, want every change recorded", n)
	}
}

func TestTemplateListAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 5 {
		name := "fleet-" + string(rune('a'+i))
		r := e.do("POST", "/v1/provisioning-templates", e.admin, map[string]any{"name": name, "type": "FLEET_PROVISIONING",
			"body":                `{"Parameters":{"SerialNumber":{"Type":"String"}},"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Ref":"SerialNumber"}}}}}`,
			"preProvisioningHook": map[string]any{"url": "https://hooks.example.com/check", "secret": "0123456789abcdef"}})
		if r.status != 201 || strings.Contains(string(r.body), "0123456789abcdef") {
			t.Fatalf("create %s = %d %s (the hook secret must not come back)", name, r.status, r.body)
		}
	}
	names, path := []string{}, "/v1/provisioning-templates?limit=2"
	for range 5 {
		var p struct {
			Templates  []struct{ Name string }
			NextCursor string
		}
		e.do("GET", path, e.auditor, nil).json(t, &p)
		for _, x := range p.Templates {
			names = append(names, x.Name)
		}
		if p.NextCursor == "" {
			break
		}
		path = "/v1/provisioning-templates?limit=2&cursor=" + url.QueryEscape(p.NextCursor)
	}
	if strings.Join(names, ",") != "fleet-a,fleet-b,fleet-c,fleet-d,fleet-e" {
		t.Errorf("listed %v", names)
	}
	if r := e.doInvalid("POST", "/v1/provisioning-templates", e.factory, map[string]any{"name": "x"}); r.status != 403 {
		t.Errorf("factory creates a template = %d, want 403", r.status)
	}
	r := e.do("POST", "/v1/provisioning-templates/fleet-a:preview", e.auditor, map[string]any{"parameters": map[string]string{"SerialNumber": "SN-1"}})
	if r.status != 200 || !strings.Contains(string(r.body), `"Name":"SN-1"`) {
		t.Errorf("fleet preview = %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/cas/"+e.issueOne("x").CAID, e.admin, map[string]any{"provisioningTemplate": "fleet-a"}); r.status != 400 {
		t.Errorf("a CA with a fleet template = %d %s, want 400 (CAs take JITP templates)", r.status, r.body)
	}
}
