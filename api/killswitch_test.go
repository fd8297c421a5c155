package api_test

import (
	"strings"
	"testing"
)

// TestRevokeThing is the kill switch over HTTP: every certificate of the
// thing is revoked at once, and openssl hears it from OCSP.
func TestRevokeThing(t *testing.T) {
	t.Parallel()
	needOpenSSL(t)
	e := newEnv(t)
	a, b, other := e.issueOne("pump-7"), e.issueOne("pump-7"), e.issueOne("pump-8")
	if r := e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "pump-7"}); r.status != 201 {
		t.Fatalf("create thing = %d %s", r.status, r.body)
	}
	for _, c := range []issued{a, b} {
		if r := e.do("PUT", "/v1/things/pump-7/principals/"+c.CertificateID, e.admin, nil); r.status/100 != 2 {
			t.Fatalf("attach = %d %s", r.status, r.body)
		}
	}
	if r := e.do("POST", "/v1/things/pump-7/revoke", e.factory, map[string]string{"reason": "keyCompromise"}); r.status != 403 {
		t.Errorf("factory revokes a thing = %d, want 403", r.status)
	}
	r := e.do("POST", "/v1/things/pump-7/revoke", e.admin, map[string]string{"reason": "keyCompromise"})
	var got struct {
		ThingName string
		Revoked   []struct{ CertificateID, Status string }
	}
	r.json(t, &got)
	if r.status != 200 || got.ThingName != "pump-7" || len(got.Revoked) != 2 {
		t.Fatalf("revoke thing = %d %s, want both certificates", r.status, r.body)
	}
	for _, c := range []issued{a, b} {
		if out := e.opensslOCSP(c); !strings.Contains(out, ": revoked") || !strings.Contains(out, "Reason: keyCompromise") {
			t.Errorf("openssl ocsp after the kill switch: %q", out)
		}
	}
	if out := e.opensslOCSP(other); !strings.Contains(out, ": good") {
		t.Errorf("another thing's certificate after the kill switch:\n%s", out)
	}
	r = e.do("POST", "/v1/things/pump-7/revoke", e.admin, map[string]string{"reason": "keyCompromise"})
	if r.json(t, &got); r.status != 200 || len(got.Revoked) != 0 {
		t.Errorf("revoke the thing again = %d %s, want 200 and nothing more", r.status, r.body)
	}
	if r := e.do("POST", "/v1/things/nope/revoke", e.admin, map[string]string{"reason": "keyCompromise"}); r.status != 404 {
		t.Errorf("revoke an unknown thing = %d, want 404", r.status)
	}
	if r := e.doInvalid("POST", "/v1/things/pump-7/revoke", e.admin, map[string]string{"reason": "bored"}); r.status != 400 {
		t.Errorf("revoke with a bad reason = %d, want 400", r.status)
	}
}
