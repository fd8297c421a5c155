package api_test

import (
	"strings"
	"testing"
)

// TestStoredCertificateThatDoesNotParseIsInternal breaks the DER of a
// recorded certificate: the fault is Imprint's own data, not the client's
// request, so it is an internal error (500 with a request ID), not a 400.
func TestStoredCertificateThatDoesNotParseIsInternal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.issueOne("broken-der")
	e.sql(`UPDATE certificates SET der = '\x3000' WHERE id = $1`, c.CertificateID)
	r := e.do("POST", "/v1/authorize", e.auditor, map[string]any{
		"principal": c.CertificateID, "clientId": "broken-der",
		"authInfos": []map[string]any{{"actionType": "CONNECT", "resources": []string{"arn:aws:iot:us-east-1:123456789012:client/broken-der"}}},
	})
	code, msg := r.errorCode(t)
	if r.status != 500 || code != "internal" || strings.Contains(msg, "parse") {
		t.Errorf("authorize with a stored certificate that does not parse = %d %s, want 500 internal without details", r.status, r.body)
	}
}
