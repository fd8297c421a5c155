package api_test

import (
	"strings"
	"testing"
)

// TestBadNamesHaveProblems: a name or attribute that breaks its rule is
// answered 400 with the problem under the field's path, saying which
// character or length is at fault, and nothing is stored.
func TestBadNamesHaveProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, path string
		body       map[string]any
		problems   [][2]string // path, a part of the message
	}{
		{"thing name", "/v1/things", map[string]any{"thingName": "a b"},
			[][2]string{{"thingName", `the thing name "a b" contains " "; allowed are letters, digits and :_-`}}},
		{"thing name too long", "/v1/things", map[string]any{"thingName": strings.Repeat("t", 129)},
			[][2]string{{"thingName", "is longer than 128 characters"}}},
		{"thing type of a thing", "/v1/things", map[string]any{"thingName": "t1", "thingTypeName": "a/b"},
			[][2]string{{"thingTypeName", `the thing type name "a/b" contains "/"`}}},
		{"attributes, every problem", "/v1/things", map[string]any{"thingName": "t1",
			"attributes": map[string]string{"a b": "v", "k": "x;y", "ok": "fine"}},
			[][2]string{{`attributes["a b"]`, `the attribute name "a b" contains " "`}, {"attributes.k", `the attribute value "x;y" contains ";"`}}},
		{"thing type name", "/v1/thing-types", map[string]any{"thingTypeName": "a.b"},
			[][2]string{{"thingTypeName", `the thing type name "a.b" contains "."`}}},
		{"thing group name", "/v1/thing-groups", map[string]any{"thingGroupName": "g#1"},
			[][2]string{{"thingGroupName", `the thing group name "g#1" contains "#"`}}},
		{"parent group name", "/v1/thing-groups", map[string]any{"thingGroupName": "g1", "parentGroupName": "p@1"},
			[][2]string{{"parentGroupName", `the thing group name "p@1" contains "@"`}}},
		{"policy name", "/v1/policies", map[string]any{"policyName": "p:1", "policyDocument": map[string]any{}},
			[][2]string{{"policyName", `the policy name "p:1" contains ":"; allowed are letters, digits and _+=,.@-`}}},
		{"template name", "/v1/provisioning-templates", map[string]any{"name": strings.Repeat("t", 37), "type": "JITP", "body": jitpBody},
			[][2]string{{"name", "the template name \"" + strings.Repeat("t", 37) + "\" is longer than 36 characters"}}},
		{"template type", "/v1/provisioning-templates", map[string]any{"name": "t1", "type": "jitp", "body": jitpBody},
			[][2]string{{"type", `must be JITP or FLEET_PROVISIONING, not "jitp"`}}},
		{"template description", "/v1/provisioning-templates", map[string]any{"name": "t1", "type": "JITP", "body": jitpBody, "description": strings.Repeat("d", 501)},
			[][2]string{{"description", "must be at most 500 characters"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doInvalid("POST", tt.path, e.admin, tt.body) // bad on purpose
			var body struct {
				Error struct {
					Code     string
					Problems []struct{ Path, Message string }
				}
			}
			r.json(t, &body)
			if r.status != 400 || body.Error.Code != "invalid" || len(body.Error.Problems) != len(tt.problems) {
				t.Fatalf("POST %s = %d %s, want 400 invalid with %d problems", tt.path, r.status, r.body, len(tt.problems))
			}
			for i, p := range tt.problems {
				got := body.Error.Problems[i]
				if got.Path != p[0] || !strings.Contains(got.Message, p[1]) {
					t.Errorf("problem %d = %+v, want under %q saying %q", i, got, p[0], p[1])
				}
			}
		})
	}
	for _, table := range []string{"things", "thing_types", "thing_groups", "policies", "provisioning_templates"} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != 0 {
			t.Errorf("rows in %s after bad requests = %d, want 0", table, n)
		}
	}
}

// TestMalformedNamesInPaths: a name in a path that breaks its rule cannot
// name anything, so every route answers it as it answers a malformed ID:
// 400 invalid naming the parameter, not 404.
func TestMalformedNamesInPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	type test struct{ method, path, says string }
	tests := []test{
		// The IDs, for comparison.
		{"GET", "/v1/certificates/nothex", "certificate ID"},
		{"GET", "/v1/cas/nothex", "CA ID"},
		{"GET", "/v1/tokens/nothex", "token ID"},
	}
	kinds := map[string]bool{}
	for _, op := range mustServedOperations(t, e.handler) {
		method, pattern, _ := strings.Cut(op, " ")
		for _, param := range []string{"name", "thing"} {
			if strings.Contains(pattern, "{"+param+"}") {
				kind, _, _ := strings.Cut(strings.TrimPrefix(pattern, "/v1/"), "/")
				kinds[kind] = true
				tests = append(tests, test{method, fillPath(pattern, param, "a%20b"), `path parameter "` + param + `"`})
			}
		}
	}
	for _, kind := range []string{"things", "thing-types", "thing-groups", "policies", "provisioning-templates"} {
		if !kinds[kind] {
			t.Errorf("no route of %s has a {name}", kind)
		}
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := e.doInvalid(tt.method, tt.path, e.admin, nil)
			code, msg := r.errorCode(t)
			if r.status != 400 || code != "invalid" || !strings.Contains(msg, tt.says) {
				t.Errorf("%s %s = %d %s %q, want 400 invalid saying %q", tt.method, tt.path, r.status, code, msg, tt.says)
			}
		})
	}
}
