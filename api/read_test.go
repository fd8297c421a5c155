package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func TestListCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 12 {
		if r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), fmt.Sprintf("dev-%d", i%3))}); r.status != 201 {
			t.Fatal(string(r.body))
		}
	}
	seen := map[string]bool{}
	path := "/v1/certificates?limit=5"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.do("GET", path, e.auditor, nil)
		var page struct {
			Certificates []struct{ CertificateID, CertificatePEM string }
			NextCursor   string
		}
		r.json(t, &page)
		for _, c := range page.Certificates {
			if seen[c.CertificateID] || c.CertificatePEM != "" {
				t.Fatalf("certificate %s seen twice or listed with its PEM", c.CertificateID)
			}
			seen[c.CertificateID] = true
		}
		if page.NextCursor == "" {
			break
		}
		path = "/v1/certificates?limit=5&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if len(seen) != 12 {
		t.Errorf("listed %d certificates, want 12", len(seen))
	}
	var byCN struct{ Certificates []struct{ CommonName string } }
	e.do("GET", "/v1/certificates?commonName=dev-1&status=active", e.admin, nil).json(t, &byCN)
	if len(byCN.Certificates) != 4 {
		t.Errorf("commonName=dev-1 listed %d, want 4", len(byCN.Certificates))
	}
	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	var none struct{ Certificates []any }
	e.do("GET", "/v1/certificates?createdAfter="+future, e.admin, nil).json(t, &none)
	if len(none.Certificates) != 0 {
		t.Errorf("createdAfter the future listed %d, want 0", len(none.Certificates))
	}
	for _, q := range []string{"limit=0", "limit=x", "status=LOST", "createdAfter=yesterday", "cursor=bm9wZQ", "colour=red", "caId=12"} {
		if r := e.doInvalid("GET", "/v1/certificates?"+q, e.admin, nil); r.status != 400 {
			t.Errorf("GET ?%s = %d, want 400", q, r.status)
		}
	}
	if r := e.do("GET", "/v1/certificates/"+strings.Repeat("0", 64), e.admin, nil); r.status != 404 {
		t.Errorf("unknown certificate = %d, want 404", r.status)
	}
	if r := e.doInvalid("GET", "/v1/certificates/xyz", e.admin, nil); r.status != 400 {
		t.Errorf("malformed certificate ID = %d, want 400", r.status)
	}
}

func TestCAs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var list struct {
		CAs []struct {
			CAID, Name, Role, ParentID, CertificatePEM string
			Profile                                    *struct{ ValidityDays int }
		}
	}
	e.do("GET", "/v1/cas", e.auditor, nil).json(t, &list)
	if len(list.CAs) != 2 || list.CAs[0].Role != "root" || list.CAs[1].Role != "issuing" ||
		list.CAs[1].ParentID != list.CAs[0].CAID || list.CAs[1].Profile.ValidityDays != 3650 {
		t.Fatalf("GET /v1/cas = %+v, want the root then the default issuing CA", list)
	}
	issuing := list.CAs[1].CAID
	chain := e.do("GET", "/v1/cas/"+issuing+"/chain", e.factory, nil)
	if chain.status != 200 || strings.Count(string(chain.body), "BEGIN CERTIFICATE") != 2 ||
		chain.header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Errorf("chain = %d %q", chain.status, chain.header.Get("Content-Type"))
	}
	der := e.do("GET", "/ca/"+issuing+".crt", "", nil)
	if der.status != 200 || der.header.Get("Content-Type") != "application/pkix-cert" {
		t.Errorf("public CA certificate = %d %q", der.status, der.header.Get("Content-Type"))
	}
	created := e.do("POST", "/v1/cas", e.admin, map[string]any{"name": "product-b", "keyType": "EC-P384",
		"profile": map[string]any{"validityDays": 30, "keyTypes": []string{"EC-P256", "Ed25519"}, "sanTypes": []string{"uri"}}})
	if created.status != http.StatusCreated {
		t.Fatalf("POST /v1/cas = %d %s", created.status, created.body)
	}
	var b struct{ CAID, KeyAlgorithm string }
	created.json(t, &b)
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "b-1"), "caId": b.CAID})
	var got issued
	r.json(t, &got)
	if r.status != 201 || got.CAID != b.CAID || b.KeyAlgorithm != "EC-P384" {
		t.Fatalf("issue from product-b = %d %s", r.status, r.body)
	}
	opensslVerify(t, got.CertificatePEM, got.ChainPEM)
	for name, body := range map[string]any{
		"duplicate name": map[string]any{"name": "product-b"},
		"bad name":       map[string]any{"name": "no spaces"},
		"bad key type":   map[string]any{"name": "c", "keyType": "RSA-2048"},
		"bad profile":    map[string]any{"name": "d", "profile": map[string]any{"validityDays": 0, "keyTypes": []string{"EC-P256"}}},
		"bad pattern":    map[string]any{"name": "e", "profile": map[string]any{"validityDays": 1, "keyTypes": []string{"EC-P256"}, "commonNamePattern": "("}},
	} {
		r := e.doInvalid("POST", "/v1/cas", e.admin, body)
		if want := map[bool]int{true: 409, false: 400}[name == "duplicate name"]; r.status != want {
			t.Errorf("%s: POST /v1/cas = %d %s, want %d", name, r.status, r.body, want)
		}
	}
	if r := e.do("GET", "/v1/cas/"+strings.Repeat("a", 64), e.admin, nil); r.status != 404 {
		t.Errorf("unknown CA = %d, want 404", r.status)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'ca.created'`); n != 3 {
		t.Errorf("ca.created events = %d, want 3", n)
	}
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("GET", "/readyz", "", nil); r.status != 200 {
		t.Fatalf("readyz = %d %s", r.status, r.body)
	}
	e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "m")})
	m := e.do("GET", "/metrics", "", nil)
	for _, want := range []string{"imprint_certificates_issued_total{ca=", `imprint_http_request_duration_seconds_bucket{method="POST",route="/v1/certificates"`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if r := e.doInvalid("DELETE", "/v1/cas", e.admin, nil); r.status != 405 {
		t.Errorf("DELETE /v1/cas = %d, want 405", r.status)
	}
	// A method not allowed goes through the one error table, on /v1 and
	// off it: counted like every error.
	if r := e.doInvalid("DELETE", "/healthz", "", nil); r.status != 405 {
		t.Errorf("DELETE /healthz = %d, want 405", r.status)
	} else if code, _ := r.errorCode(t); code != "method_not_allowed" {
		t.Errorf("DELETE /healthz: code = %q, want method_not_allowed", code)
	}
	if m := e.do("GET", "/metrics", "", nil); !strings.Contains(string(m.body), `imprint_errors_total{code="method_not_allowed"} 2`) {
		t.Errorf("metrics lack imprint_errors_total{code=\"method_not_allowed\"} 2")
	}
	if r := e.doInvalid("GET", "/v2/nothing", e.admin, nil); r.status != 404 {
		t.Errorf("unknown path = %d, want 404", r.status)
	}
}

// TestDatabaseDown cuts the database off: readiness and issuing answer 503,
// and no certificate is handed out.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	csr := map[string]string{"csr": csrPEM(t, p256(t), "down")}
	if r := e.do("POST", "/v1/certificates", e.factory, csr); r.status != 201 {
		t.Fatalf("issue before = %d", r.status) // warms the token cache, so auth does not need the database
	}
	u, _ := url.Parse(e.dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin := pgtest.Conn(t, u.String())
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/readyz", "", nil); r.status != 503 {
		t.Errorf("readyz with the database down = %d %s, want 503", r.status, r.body)
	}
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "down-2")})
	if code, _ := r.errorCode(t); r.status != 503 || code != "unavailable" || strings.Contains(string(r.body), "BEGIN CERTIFICATE") {
		t.Errorf("issue with the database down = %d %s, want 503 and no certificate", r.status, r.body)
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		r := e.do("GET", "/readyz", "", nil)
		return r.status == 200, fmt.Sprintf("readyz after the database came back = %d %s", r.status, r.body)
	})
	if n := e.count(`SELECT count(*) FROM certificates`); n != 1 {
		t.Errorf("certificates = %d, want 1 (only the one issued before)", n)
	}
}
