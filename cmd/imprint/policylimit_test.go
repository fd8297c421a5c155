package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// policyOfLength returns a policy document of exactly n characters and no
// whitespace.
func policyOfLength(t *testing.T, n int) string {
	t.Helper()
	head := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/`
	tail := `"}]}`
	if n < len(head)+len(tail)+1 {
		t.Fatalf("policyOfLength(%d): too short", n)
	}
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// TestServePolicyLimit: IMPRINT_POLICY_MAX_CHARACTERS is the one limit of a
// policy document, whether it comes to the policy API or inside a
// provisioning template, above AWS IoT's 2,048 as below it.
func TestServePolicyLimit(t *testing.T) {
	t.Parallel()
	const limit = 3000
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "policy limit", "IMPRINT_LOG_LEVEL": "warn",
		"IMPRINT_POLICY_MAX_CHARACTERS": strconv.Itoa(limit)}
	s := startServe(t, env)
	defer s.stop()
	template := func(name, doc string) string {
		body := `{"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"x"}},` +
			`"policy":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":` + strconv.Quote(doc) + `}}}}`
		b, _ := json.Marshal(map[string]string{"name": name, "type": "FLEET_PROVISIONING", "body": body})
		return string(b)
	}
	policy := func(name, doc string) string {
		b, _ := json.Marshal(map[string]string{"policyName": name, "policyDocument": doc})
		return string(b)
	}
	tests := []struct {
		name, path, body string
		want             int
	}{
		{"policy over 2,048, within the limit", "/v1/policies", policy("p1", policyOfLength(t, 2500)), 201},
		{"policy at the limit", "/v1/policies", policy("p2", policyOfLength(t, limit)), 201},
		{"policy over the limit", "/v1/policies", policy("p3", policyOfLength(t, limit+1)), 400},
		{"template policy over 2,048, within the limit", "/v1/provisioning-templates", template("t1", policyOfLength(t, 2500)), 201},
		{"template policy at the limit", "/v1/provisioning-templates", template("t2", policyOfLength(t, limit)), 201},
		{"template policy over the limit", "/v1/provisioning-templates", template("t3", policyOfLength(t, limit+1)), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, s.url+tt.path, s.token, tt.body)
			if status != tt.want {
				t.Fatalf("POST %s = %d %s, want %d", tt.path, status, body, tt.want)
			}
			if tt.want == 400 && !strings.Contains(string(body), "the limit is "+strconv.Itoa(limit)) {
				t.Errorf("POST %s = %s, want a problem naming the limit %d", tt.path, body, limit)
			}
		})
	}
	// The template's problem is under the path of its policy document.
	_, body := post(t, s.url+"/v1/provisioning-templates", s.token, template("t4", policyOfLength(t, limit+1)))
	var e struct {
		Error struct {
			Problems []struct{ Path, Message string }
		}
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Error.Problems) != 1 ||
		e.Error.Problems[0].Path != "Resources.policy.Properties.PolicyDocument" {
		t.Errorf("problems of a template with a long policy = %s, want one under Resources.policy.Properties.PolicyDocument", body)
	}
}
