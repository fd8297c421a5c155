package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

const allowAllPublish = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`

func publishTo(topic string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:us-east-1:123456789012:topic/%s"}]}`, topic)
}

// mustPolicy creates a policy and fails the test unless it is created.
func (e *env) mustPolicy(name, document string) {
	e.t.Helper()
	if r := e.do("POST", "/v1/policies", e.admin, map[string]string{"policyName": name, "policyDocument": document}); r.status != 201 {
		e.t.Fatalf("create policy %s = %d %s", name, r.status, r.body)
	}
}

// mustAttach attaches a policy to a target ("certificate/<id>" or
// "thinggroup/<name>").
func (e *env) mustAttach(name, target string) {
	e.t.Helper()
	if r := e.do("PUT", "/v1/policies/"+name+"/targets/"+target, e.admin, nil); r.status != 204 {
		e.t.Fatalf("attach %s to %s = %d %s", name, target, r.status, r.body)
	}
}

// sql runs statements directly: the registry's own API is not used here.
func (e *env) sql(stmt string, args ...any) {
	e.t.Helper()
	if _, err := pgtest.Conn(e.t, e.dbURL).Exec(ctx, stmt, args...); err != nil {
		e.t.Fatalf("%s: %v", stmt, err)
	}
}

// mustThing records a thing with attributes, attached to the certificates
// given.
func (e *env) mustThing(name string, attrs map[string]string, certIDs ...string) {
	e.t.Helper()
	if attrs == nil {
		attrs = map[string]string{}
	}
	a, _ := json.Marshal(attrs)
	e.sql(`INSERT INTO things (name, attributes) VALUES ($1, $2)`, name, string(a))
	for _, id := range certIDs {
		e.sql(`INSERT INTO thing_principals (thing_name, certificate_id) VALUES ($1, $2)`, name, id)
	}
}

func TestPolicyCRUDAndVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/policies", e.admin, map[string]string{"policyName": "sensor", "policyDocument": allowAllPublish})
	var p struct {
		PolicyName       string `json:"policyName"`
		DefaultVersionID int    `json:"defaultVersionId"`
		PolicyDocument   string `json:"policyDocument"`
		CreatedAt        string `json:"createdAt"`
		UpdatedAt        string `json:"updatedAt"`
	}
	r.json(t, &p)
	if r.status != 201 || p.PolicyName != "sensor" || p.DefaultVersionID != 1 || p.PolicyDocument != allowAllPublish || p.CreatedAt == "" {
		t.Fatalf("POST /v1/policies = %d %s, want 201 with version 1", r.status, r.body)
	}
	// The document may also be sent as a JSON object.
	if r := e.do("POST", "/v1/policies", e.admin, `{"policyName":"as-object","policyDocument":`+allowAllPublish+`}`); r.status != 201 {
		t.Errorf("create with an object document = %d %s, want 201", r.status, r.body)
	}
	for name, want := range map[string]struct {
		body   any
		token  string
		status int
	}{
		"duplicate":   {map[string]string{"policyName": "sensor", "policyDocument": allowAllPublish}, e.admin, 409},
		"bad name":    {map[string]string{"policyName": "no spaces", "policyDocument": allowAllPublish}, e.admin, 400},
		"no document": {map[string]string{"policyName": "p2"}, e.admin, 400},
		"auditor":     {map[string]string{"policyName": "p3", "policyDocument": allowAllPublish}, e.auditor, 403},
		"factory":     {map[string]string{"policyName": "p4", "policyDocument": allowAllPublish}, e.factory, 403},
	} {
		do := e.do
		if want.status == 400 {
			do = e.doInvalid // bad on purpose
		}
		if r := do("POST", "/v1/policies", want.token, want.body); r.status != want.status {
			t.Errorf("%s: POST /v1/policies = %d %s, want %d", name, r.status, r.body, want.status)
		}
	}
	if r := e.do("GET", "/v1/policies/sensor", e.auditor, nil); r.status != 200 || !strings.Contains(string(r.body), `"defaultVersionId":1`) {
		t.Errorf("GET /v1/policies/sensor = %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/policies/nope", e.admin, nil); r.status != 404 {
		t.Errorf("GET unknown policy = %d, want 404", r.status)
	}
	if r := e.do("GET", "/v1/policies/sensor", e.factory, nil); r.status != 403 {
		t.Errorf("factory GET policy = %d, want 403", r.status)
	}
	// Pages by name.
	var page struct {
		Policies []struct {
			PolicyName string `json:"policyName"`
		} `json:"policies"`
		NextCursor string `json:"nextCursor"`
	}
	e.do("GET", "/v1/policies?limit=1", e.admin, nil).json(t, &page)
	if len(page.Policies) != 1 || page.Policies[0].PolicyName != "as-object" || page.NextCursor == "" {
		t.Errorf("first page = %+v", page)
	}
	cursor := page.NextCursor
	page.NextCursor = ""
	e.do("GET", "/v1/policies?limit=1&cursor="+cursor, e.admin, nil).json(t, &page)
	if len(page.Policies) != 1 || page.Policies[0].PolicyName != "sensor" || page.NextCursor != "" {
		t.Errorf("second page = %+v", page)
	}

	// Versions: up to 5, default rules, delete rules.
	for i := 2; i <= 5; i++ {
		path := "/v1/policies/sensor/versions"
		if i == 3 {
			path += "?setAsDefault=true"
		}
		r := e.do("POST", path, e.admin, map[string]string{"policyDocument": publishTo(fmt.Sprintf("v%d", i))})
		if r.status != 201 || !strings.Contains(string(r.body), fmt.Sprintf(`"versionId":%d`, i)) {
			t.Fatalf("create version %d = %d %s", i, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/policies/sensor/versions", e.admin, map[string]string{"policyDocument": publishTo("v6")}); r.status != 409 {
		t.Errorf("a sixth version = %d %s, want 409", r.status, r.body)
	}
	if r := e.do("GET", "/v1/policies/sensor", e.admin, nil); !strings.Contains(string(r.body), `"defaultVersionId":3`) ||
		!strings.Contains(string(r.body), "topic/v3") {
		t.Errorf("after setAsDefault: %s, want version 3 the default", r.body)
	}
	if r := e.do("DELETE", "/v1/policies/sensor/versions/3", e.admin, nil); r.status != 409 {
		t.Errorf("delete the default version = %d, want 409", r.status)
	}
	if r := e.do("PATCH", "/v1/policies/sensor", e.admin, map[string]int{"defaultVersionId": 5}); r.status != 200 ||
		!strings.Contains(string(r.body), `"defaultVersionId":5`) {
		t.Errorf("PATCH default 5 = %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/policies/sensor", e.admin, map[string]int{"defaultVersionId": 9}); r.status != 404 {
		t.Errorf("PATCH default 9 = %d, want 404", r.status)
	}
	if r := e.do("DELETE", "/v1/policies/sensor/versions/3", e.admin, nil); r.status != 204 {
		t.Errorf("delete version 3 = %d %s, want 204", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/policies/sensor/versions/3", e.admin, nil); r.status != 404 {
		t.Errorf("delete version 3 again = %d, want 404", r.status)
	}
	// Room again for a version; IDs are never reused.
	if r := e.do("POST", "/v1/policies/sensor/versions", e.admin, map[string]string{"policyDocument": publishTo("v6")}); r.status != 201 ||
		!strings.Contains(string(r.body), `"versionId":6`) {
		t.Errorf("version after a delete = %d %s, want 201 version 6", r.status, r.body)
	}
	var versions struct {
		Versions []struct {
			VersionID int  `json:"versionId"`
			IsDefault bool `json:"isDefaultVersion"`
		} `json:"versions"`
	}
	e.do("GET", "/v1/policies/sensor/versions", e.auditor, nil).json(t, &versions)
	var ids []int
	for _, v := range versions.Versions {
		ids = append(ids, v.VersionID)
		if v.IsDefault != (v.VersionID == 5) {
			t.Errorf("version %d isDefaultVersion = %v", v.VersionID, v.IsDefault)
		}
	}
	if !slices.Equal(ids, []int{1, 2, 4, 5, 6}) {
		t.Errorf("versions = %v, want [1 2 4 5 6]", ids)
	}
	if r := e.do("GET", "/v1/policies/sensor/versions/2", e.auditor, nil); r.status != 200 || !strings.Contains(string(r.body), "topic/v2") {
		t.Errorf("GET version 2 = %d %s", r.status, r.body)
	}
	if r := e.doInvalid("GET", "/v1/policies/sensor/versions/x", e.admin, nil); r.status != 404 {
		t.Errorf("GET version x = %d, want 404", r.status)
	}
	if r := e.do("DELETE", "/v1/policies/sensor", e.admin, nil); r.status != 204 {
		t.Errorf("DELETE policy = %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/policies/sensor", e.admin, nil); r.status != 404 {
		t.Errorf("DELETE policy again = %d, want 404", r.status)
	}
	// created, 5 versions created, default set, version deleted, deleted.
	for typ, want := range map[string]int{"policy.created": 2, "policy.version_created": 5,
		"policy.default_version_set": 1, "policy.version_deleted": 1, "policy.deleted": 1} {
		if n := e.count(`SELECT count(*) FROM audit_events WHERE resource_type = 'policy' AND type = '` + typ + `'`); n != want {
			t.Errorf("%s events = %d, want %d", typ, n, want)
		}
	}
}

func TestPolicyDocumentProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publsh","Resource":"*"},
		{"Effect":"Maybe","Action":"iot:Connect","Resource":"*"}]}`
	r := e.do("POST", "/v1/policies", e.admin, map[string]string{"policyName": "broken", "policyDocument": bad})
	var body struct {
		Error struct {
			Code     string
			Problems []struct{ Path, Message string }
		}
	}
	r.json(t, &body)
	var paths []string
	for _, p := range body.Error.Problems {
		paths = append(paths, p.Path)
	}
	if r.status != 400 || body.Error.Code != "invalid" || !slices.Contains(paths, "Statement[0].Action") && !slices.Contains(paths, "Statement[0].Action[0]") ||
		!slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, "Statement[1].Effect") }) {
		t.Errorf("bad document = %d %s, want 400 with both problems and their paths", r.status, r.body)
	}
	// 2,048 characters besides whitespace is the limit; whitespace is free.
	fill := func(n int) string {
		doc := publishTo("")
		return strings.Replace(doc, `topic/"`, `topic/`+strings.Repeat("a", n-len(doc))+`"`, 1)
	}
	if r := e.do("POST", "/v1/policies", e.admin, map[string]string{"policyName": "at-limit", "policyDocument": fill(2048) + strings.Repeat(" \n", 500)}); r.status != 201 {
		t.Errorf("a document of 2,048 characters = %d %s, want 201", r.status, r.body)
	}
	r = e.do("POST", "/v1/policies", e.admin, map[string]string{"policyName": "too-big", "policyDocument": fill(2049)})
	r.json(t, &body)
	if r.status != 400 || body.Error.Code != "invalid" || len(body.Error.Problems) != 1 || !strings.Contains(body.Error.Problems[0].Message, "2048") {
		t.Errorf("a document of 2,049 characters = %d %s, want 400 naming the limit", r.status, r.body)
	}
	if r := e.do("POST", "/v1/policies/at-limit/versions", e.admin, map[string]string{"policyDocument": fill(2049)}); r.status != 400 {
		t.Errorf("a version of 2,049 characters = %d %s, want 400", r.status, r.body)
	}
	if r := e.do("POST", "/v1/policies/at-limit/versions", e.admin, map[string]string{"policyDocument": "{"}); r.status != 400 {
		t.Errorf("a version that is not JSON = %d %s, want 400", r.status, r.body)
	}
	if r := e.doInvalid("POST", "/v1/policies/at-limit/versions?setAsDefault=maybe", e.admin, map[string]string{"policyDocument": allowAllPublish}); r.status != 400 {
		t.Errorf("setAsDefault=maybe = %d, want 400", r.status)
	}
}

func TestPolicyAttachments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert := e.issueOne("dev-1")
	e.sql(`INSERT INTO thing_groups (name) VALUES ('plant-a')`)
	e.mustPolicy("pub", allowAllPublish)
	e.mustAttach("pub", "certificate/"+cert.CertificateID)
	e.mustAttach("pub", "certificate/"+strings.ToUpper(cert.CertificateID)) // again: no change
	e.mustAttach("pub", "thinggroup/plant-a")
	for path, want := range map[string]int{
		"/v1/policies/pub/targets/certificate/" + strings.Repeat("0", 64): 404,
		"/v1/policies/pub/targets/certificate/xyz":                        400,
		"/v1/policies/pub/targets/thinggroup/no%20spaces":                 400,
		"/v1/policies/pub/targets/thinggroup/nope":                        404,
		"/v1/policies/nope/targets/thinggroup/plant-a":                    404,
	} {
		if r := e.doInvalid("PUT", path, e.admin, nil); r.status != want {
			t.Errorf("PUT %s = %d %s, want %d", path, r.status, r.body, want)
		}
	}
	if r := e.do("PUT", "/v1/policies/pub/targets/thinggroup/plant-a", e.auditor, nil); r.status != 403 {
		t.Errorf("auditor attach = %d, want 403", r.status)
	}
	var targets struct {
		Targets []struct {
			TargetType string `json:"targetType"`
			TargetID   string `json:"targetId"`
		} `json:"targets"`
	}
	e.do("GET", "/v1/policies/pub/targets", e.auditor, nil).json(t, &targets)
	if len(targets.Targets) != 2 || targets.Targets[0].TargetType != "certificate" || targets.Targets[0].TargetID != cert.CertificateID ||
		targets.Targets[1].TargetType != "thinggroup" || targets.Targets[1].TargetID != "plant-a" {
		t.Errorf("targets = %+v", targets)
	}
	if r := e.do("GET", "/v1/certificates/"+cert.CertificateID+"/policies", e.auditor, nil); r.status != 200 ||
		!strings.Contains(string(r.body), `"policyName":"pub"`) {
		t.Errorf("certificate policies = %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/v1/certificates/"+strings.Repeat("0", 64)+"/policies", e.admin, nil); r.status != 404 {
		t.Errorf("unknown certificate's policies = %d, want 404", r.status)
	}
	if r := e.do("DELETE", "/v1/policies/pub", e.admin, nil); r.status != 409 {
		t.Errorf("delete an attached policy = %d %s, want 409", r.status, r.body)
	}
	for _, target := range []string{"certificate/" + cert.CertificateID, "thinggroup/plant-a"} {
		if r := e.do("DELETE", "/v1/policies/pub/targets/"+target, e.admin, nil); r.status != 204 {
			t.Errorf("detach from %s = %d %s", target, r.status, r.body)
		}
		if r := e.do("DELETE", "/v1/policies/pub/targets/"+target, e.admin, nil); r.status != 404 {
			t.Errorf("detach from %s again = %d, want 404", target, r.status)
		}
	}
	if r := e.do("GET", "/v1/policies/pub/targets", e.admin, nil); r.status != 200 || !strings.Contains(string(r.body), `"targets":[]`) {
		t.Errorf("targets after detach = %d %s", r.status, r.body)
	}
	if r := e.do("DELETE", "/v1/policies/pub", e.admin, nil); r.status != 204 {
		t.Errorf("delete a detached policy = %d %s, want 204", r.status, r.body)
	}
	if a, d := e.count(`SELECT count(*) FROM audit_events WHERE type = 'policy.attached'`),
		e.count(`SELECT count(*) FROM audit_events WHERE type = 'policy.detached'`); a != 2 || d != 2 {
		t.Errorf("attached, detached events = %d, %d, want 2, 2 (attaching again records nothing)", a, d)
	}
}

// TestEffectivePolicies checks inheritance: a thing's groups and their
// ancestors give their policies to a certificate attached to the thing.
func TestEffectivePolicies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert, other := e.issueOne("dev-1"), e.issueOne("dev-2")
	e.sql(`INSERT INTO thing_groups (name) VALUES ('root'), ('unrelated')`)
	e.sql(`INSERT INTO thing_groups (name, parent) VALUES ('mid', 'root')`)
	e.sql(`INSERT INTO thing_groups (name, parent) VALUES ('leaf', 'mid')`)
	e.mustThing("dev-1", nil, cert.CertificateID)
	e.mustThing("dev-2", nil, other.CertificateID)
	e.sql(`INSERT INTO thing_group_members (group_name, thing_name) VALUES ('leaf', 'dev-1'), ('leaf', 'dev-2')`)
	for _, p := range []struct{ name, target string }{
		{"on-cert", "certificate/" + cert.CertificateID},
		{"on-root", "thinggroup/root"},
		{"on-root", "certificate/" + cert.CertificateID}, // twice over: listed once
		{"on-mid", "thinggroup/mid"},
		{"on-leaf", "thinggroup/leaf"},
		{"on-unrelated", "thinggroup/unrelated"},
	} {
		if r := e.do("GET", "/v1/policies/"+p.name, e.admin, nil); r.status == 404 {
			e.mustPolicy(p.name, publishTo(p.name))
		}
		e.mustAttach(p.name, p.target)
	}
	effective := func(id, thing string) []string {
		t.Helper()
		r := e.do("GET", "/v1/certificates/"+id+"/effective-policies?thingName="+thing, e.auditor, nil)
		var out struct {
			EffectivePolicies []struct {
				PolicyName     string `json:"policyName"`
				PolicyDocument string `json:"policyDocument"`
			} `json:"effectivePolicies"`
		}
		r.json(t, &out)
		if r.status != 200 {
			t.Fatalf("effective policies = %d %s", r.status, r.body)
		}
		names := []string{}
		for _, p := range out.EffectivePolicies {
			names = append(names, p.PolicyName)
		}
		return names
	}
	if got := effective(cert.CertificateID, "dev-1"); !slices.Equal(got, []string{"on-cert", "on-leaf", "on-mid", "on-root"}) {
		t.Errorf("effective with its thing = %v, want the certificate's and the three groups'", got)
	}
	if got := effective(cert.CertificateID, ""); !slices.Equal(got, []string{"on-cert", "on-root"}) {
		t.Errorf("effective without a thing = %v, want the certificate's only", got)
	}
	// dev-2 is in the same groups, but this certificate is not attached to it.
	if got := effective(cert.CertificateID, "dev-2"); !slices.Equal(got, []string{"on-cert", "on-root"}) {
		t.Errorf("effective with another's thing = %v, want the certificate's only", got)
	}
	if got := effective(other.CertificateID, "dev-2"); !slices.Equal(got, []string{"on-leaf", "on-mid", "on-root"}) {
		t.Errorf("effective of the other certificate = %v", got)
	}
	if r := e.do("GET", "/v1/certificates/"+strings.Repeat("0", 64)+"/effective-policies", e.admin, nil); r.status != 404 {
		t.Errorf("unknown certificate = %d, want 404", r.status)
	}
	if r := e.do("GET", "/v1/certificates/"+cert.CertificateID+"/effective-policies", e.factory, nil); r.status != 403 {
		t.Errorf("factory = %d, want 403", r.status)
	}
	// /v1/authorize takes the group policies too: the thing is the one the
	// certificate is attached to.
	res := e.authorize(map[string]any{"principal": cert.CertificateID,
		"authInfos": []map[string]any{{"actionType": "PUBLISH", "resources": []string{"topic/on-mid"}}}})
	if res[0].AuthDecision != "ALLOWED" || !slices.Equal(res[0].allowed(), []string{"on-mid"}) {
		t.Errorf("publish allowed by the mid group = %+v", res[0])
	}
}

type authResult struct {
	AuthInfo struct {
		ActionType string   `json:"actionType"`
		Resources  []string `json:"resources"`
	} `json:"authInfo"`
	Allowed struct{ Policies []policyRef } `json:"allowed"`
	Denied  struct {
		ImplicitDeny struct{ Policies []policyRef } `json:"implicitDeny"`
		ExplicitDeny struct{ Policies []policyRef } `json:"explicitDeny"`
	} `json:"denied"`
	AuthDecision         string   `json:"authDecision"`
	MissingContextValues []string `json:"missingContextValues"`
}

type policyRef struct {
	PolicyName string `json:"policyName"`
	PolicyARN  string `json:"policyArn"`
}

func names(refs []policyRef) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.PolicyName)
	}
	return out
}

func (r authResult) allowed() []string { return names(r.Allowed.Policies) }
func (r authResult) denied() []string  { return names(r.Denied.ExplicitDeny.Policies) }

func (e *env) authorize(body any) []authResult {
	e.t.Helper()
	r := e.do("POST", "/v1/authorize", e.auditor, body)
	if r.status != 200 {
		e.t.Fatalf("POST /v1/authorize = %d %s", r.status, r.body)
	}
	var out struct {
		AuthResults []authResult `json:"authResults"`
	}
	r.json(e.t, &out)
	return out.AuthResults
}

// TestAuthorizeAWSExamples reproduces the decisions documented for AWS IoT's
// example policies (testdata/aws-examples/policy-*.json, the examples of the design
// documents, copied into the module), each attached to a real certificate, with real things where
// the policy reads one.
func TestAuthorizeAWSExamples(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const arn = "arn:aws:iot:us-east-1:123456789012:"
	type check struct {
		clientID, thingName string
		action, resource    string
		want                string // authDecision
	}
	type example struct {
		policy string
		thing  string // a thing named so and attached to the certificate, if any
		checks []check
	}
	examples := []example{
		{"policy-claim-certificate", "", []check{
			{"any-client", "", "CONNECT", arn + "client/any-client", "ALLOWED"},
			{"c", "", "PUBLISH", arn + "topic/$aws/certificates/create/json", "ALLOWED"},
			{"c", "", "RECEIVE", arn + "topic/$aws/provisioning-templates/templateName/provision/json/accepted", "ALLOWED"},
			{"c", "", "SUBSCRIBE", arn + "topicfilter/$aws/certificates/create/json/accepted", "ALLOWED"},
			{"c", "", "PUBLISH", arn + "topic/$aws/provisioning-templates/other/provision/json", "IMPLICIT_DENY"},
			{"c", "", "SUBSCRIBE", arn + "topicfilter/devices/#", "IMPLICIT_DENY"},
			{"c", "", "PUBLISH", arn + "topicfilter/$aws/certificates/create/json", "IMPLICIT_DENY"}, // publish is on topics
		}},
		{"policy-clientid-variable", "", []check{
			{"sensor-7", "", "CONNECT", arn + "client/sensor-7", "ALLOWED"},
			{"sensor-7", "", "PUBLISH", arn + "topic/my/topic/sensor-7", "ALLOWED"},
			{"sensor-7", "", "PUBLISH", arn + "topic/my/topic/sensor-8", "IMPLICIT_DENY"},
			{"sensor-7", "", "CONNECT", arn + "client/sensor-8", "IMPLICIT_DENY"},
		}},
		{"policy-connect-isattached", "attached-thing", []check{
			{"attached-thing", "", "CONNECT", arn + "client/attached-thing", "ALLOWED"},
			// A thing the certificate is not attached to: denied.
			{"stranger-thing", "", "CONNECT", arn + "client/stranger-thing", "IMPLICIT_DENY"},
		}},
		{"policy-deny-receive", "", []check{
			{"c", "", "SUBSCRIBE", arn + "topicfilter/device/update", "ALLOWED"},
			{"c", "", "RECEIVE", arn + "topic/device/update", "EXPLICIT_DENY"},
		}},
		{"policy-literal-plus", "plus-thing", []check{
			{"plus-thing", "", "CONNECT", arn + "client/plus-thing", "ALLOWED"},
			{"plus-thing", "", "SUBSCRIBE", arn + "topicfilter/some/+/topic", "ALLOWED"},
			{"plus-thing", "", "SUBSCRIBE", arn + "topicfilter/some/abc/topic", "IMPLICIT_DENY"},
		}},
		{"policy-publish-thingname-prefix", "pub-thing", []check{
			{"pub-thing", "", "CONNECT", arn + "client/pub-thing", "ALLOWED"},
			{"other-client", "", "CONNECT", arn + "client/other-client", "IMPLICIT_DENY"},
			{"pub-thing", "", "PUBLISH", arn + "topic/pub-thing/a/b/c", "ALLOWED"},
			{"pub-thing", "", "PUBLISH", arn + "topic/other-thing/a", "IMPLICIT_DENY"},
			{"pub-thing", "", "PUBLISH", arn + "topic/pub-thing", "IMPLICIT_DENY"},
		}},
		{"policy-star-level", "star-thing", []check{
			{"star-thing", "", "CONNECT", arn + "client/star-thing", "ALLOWED"},
			{"star-thing", "", "SUBSCRIBE", arn + "topicfilter/some/string1/topic", "ALLOWED"},
			{"star-thing", "", "SUBSCRIBE", arn + "topicfilter/some/string2/topic", "ALLOWED"},
			{"star-thing", "", "SUBSCRIBE", arn + "topicfilter/some/a/b/topic", "ALLOWED"},
			{"star-thing", "", "SUBSCRIBE", arn + "topicfilter/some/topic", "IMPLICIT_DENY"},
		}},
	}
	const dir = "../testdata/aws-examples"
	files, _ := filepath.Glob(filepath.Join(dir, "policy-*.json"))
	if len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("the AWS examples are required when CI is set: none in %s", dir)
		}
		t.Skipf("AWS examples not found in %s (CI unset)", dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		if !slices.ContainsFunc(examples, func(ex example) bool { return ex.policy == name }) {
			t.Errorf("%s has no checks here", f)
		}
	}
	e.mustThing("stranger-thing", nil)
	for _, ex := range examples {
		t.Run(ex.policy, func(t *testing.T) {
			doc, err := os.ReadFile(filepath.Join(dir, ex.policy+".json"))
			if err != nil {
				t.Fatal(err)
			}
			cert := e.issueOne(ex.policy)
			e.mustPolicy(ex.policy, string(doc))
			e.mustAttach(ex.policy, "certificate/"+cert.CertificateID)
			if ex.thing != "" {
				e.mustThing(ex.thing, map[string]string{"model": "m1"}, cert.CertificateID)
			}
			for _, c := range ex.checks {
				res := e.authorize(map[string]any{"principal": arn + "cert/" + cert.CertificateID, "clientId": c.clientID,
					"thingName": c.thingName, "authInfos": []map[string]any{{"actionType": c.action, "resources": []string{c.resource}}}})
				got := res[0]
				if got.AuthDecision != c.want {
					t.Errorf("%s %s as %s: authDecision = %s, want %s (%+v)", c.action, c.resource, c.clientID, got.AuthDecision, c.want, got)
				}
				wantAllowed, wantDenied := []string{}, []string{}
				switch c.want {
				case "ALLOWED":
					wantAllowed = []string{ex.policy}
				case "EXPLICIT_DENY":
					wantDenied = []string{ex.policy}
				}
				if !slices.Equal(got.allowed(), wantAllowed) || !slices.Equal(got.denied(), wantDenied) {
					t.Errorf("%s %s: allowed %v, denied %v; want %v, %v", c.action, c.resource, got.allowed(), got.denied(), wantAllowed, wantDenied)
				}
				if c.want == "IMPLICIT_DENY" && !slices.Equal(names(got.Denied.ImplicitDeny.Policies), []string{ex.policy}) {
					t.Errorf("%s %s: implicitDeny policies = %v, want [%s]", c.action, c.resource, names(got.Denied.ImplicitDeny.Policies), ex.policy)
				}
				if got.AuthInfo.ActionType != c.action || len(got.Allowed.Policies) > 0 && got.Allowed.Policies[0].PolicyARN == "" {
					t.Errorf("authResult = %+v, want its authInfo and policy ARNs", got)
				}
			}
		})
	}
}

// TestAuthorizeTraps checks what surprises AWS IoT users: a deny on a topic
// filter does not stop a wider subscription, a missing variable denies, and
// the thing's attributes are read only when the certificate holds the thing.
func TestAuthorizeTraps(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert := e.issueOne("trap-1")
	e.mustPolicy("filters", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["iot:Subscribe"],"Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/*"},
		{"Effect":"Allow","Action":["iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/*"},
		{"Effect":"Deny","Action":["iot:Subscribe"],"Resource":"arn:aws:iot:us-east-1:123456789012:topicfilter/a/restricted/*"},
		{"Effect":"Deny","Action":["iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/a/restricted/*"}]}`)
	e.mustPolicy("by-model", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
		"Resource":"arn:aws:iot:us-east-1:123456789012:topic/models/${iot:Connection.Thing.Attributes[model]}/*"}]}`)
	e.mustPolicy("extra", allowAllPublish)
	e.mustAttach("filters", "certificate/"+cert.CertificateID)
	e.mustAttach("by-model", "certificate/"+cert.CertificateID)
	e.mustThing("trap-thing", map[string]string{"model": "m7"}, cert.CertificateID)
	e.mustThing("not-mine", map[string]string{"model": "m9"})
	infos := []map[string]any{
		{"actionType": "SUBSCRIBE", "resources": []string{"topicfilter/a/#"}},
		{"actionType": "SUBSCRIBE", "resources": []string{"topicfilter/a/restricted/x"}},
		{"actionType": "RECEIVE", "resources": []string{"topic/a/restricted/x"}},
		{"actionType": "RECEIVE", "resources": []string{"topic/a/open", "topic/a/restricted/y"}},
		{"actionType": "PUBLISH", "resources": []string{"topic/models/m7/temp"}},
		{"actionType": "PUBLISH", "resources": []string{"topic/models/m9/temp"}},
	}
	res := e.authorize(map[string]any{"principal": cert.CertificateID, "clientId": "trap-thing", "authInfos": infos})
	want := []string{"ALLOWED", "EXPLICIT_DENY", "EXPLICIT_DENY", "EXPLICIT_DENY", "ALLOWED", "IMPLICIT_DENY"}
	for i, r := range res {
		if r.AuthDecision != want[i] {
			t.Errorf("authInfos[%d] %v: authDecision = %s, want %s", i, infos[i], r.AuthDecision, want[i])
		}
	}
	if !slices.Equal(res[1].denied(), []string{"filters"}) || !slices.Equal(res[1].allowed(), []string{"filters"}) {
		t.Errorf("explicit deny: allowed %v denied %v, want filters in both", res[1].allowed(), res[1].denied())
	}
	// Speaking for a thing the certificate does not hold: the attribute does
	// not resolve, and is reported missing.
	res = e.authorize(map[string]any{"principal": cert.CertificateID, "thingName": "not-mine", "authInfos": infos[5:]})
	if res[0].AuthDecision != "IMPLICIT_DENY" || !slices.Contains(res[0].MissingContextValues, "iot:Connection.Thing.Attributes[model]") {
		t.Errorf("another's thing = %+v, want IMPLICIT_DENY with the attribute missing", res[0])
	}
	// policyNamesToAdd and policyNamesToSkip.
	res = e.authorize(map[string]any{"principal": cert.CertificateID, "clientId": "trap-thing",
		"policyNamesToAdd": []string{"extra"}, "policyNamesToSkip": []string{"by-model"}, "authInfos": infos[4:]})
	if res[0].AuthDecision != "ALLOWED" || !slices.Equal(res[0].allowed(), []string{"extra"}) ||
		res[1].AuthDecision != "ALLOWED" {
		t.Errorf("with extra, without by-model = %+v", res)
	}
	for name, body := range map[string]map[string]any{
		"cognito":       {"principal": cert.CertificateID, "cognitoIdentityPoolId": "us-east-1:x", "authInfos": infos[:1]},
		"no authInfos":  {"principal": cert.CertificateID, "authInfos": []any{}},
		"eleven":        {"principal": cert.CertificateID, "authInfos": slices.Repeat(infos[:1], 11)},
		"bad action":    {"principal": cert.CertificateID, "authInfos": []map[string]any{{"actionType": "DANCE", "resources": []string{"x"}}}},
		"bad principal": {"principal": "cert/abc", "authInfos": infos[:1]},
	} {
		if r := e.doInvalid("POST", "/v1/authorize", e.admin, body); r.status != 400 {
			t.Errorf("%s: /v1/authorize = %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/authorize", e.admin, map[string]any{"principal": strings.Repeat("0", 64), "authInfos": infos[:1]}); r.status != 404 {
		t.Errorf("unknown certificate = %d, want 404", r.status)
	}
	if r := e.do("POST", "/v1/authorize", e.admin, map[string]any{"principal": cert.CertificateID, "policyNamesToAdd": []string{"nope"}, "authInfos": infos[:1]}); r.status != 404 {
		t.Errorf("unknown policy to add = %d, want 404", r.status)
	}
	if r := e.do("POST", "/v1/authorize", e.factory, map[string]any{"principal": cert.CertificateID, "authInfos": infos[:1]}); r.status != 403 {
		t.Errorf("factory = %d, want 403", r.status)
	}
}
