package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/postgres"
)

type tokenBody struct {
	TokenID    string     `json:"tokenId"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	RevokedBy  string     `json:"revokedBy"`
	Token      string     `json:"token"`
}

type tokenPage struct {
	Tokens     []tokenBody `json:"tokens"`
	NextCursor string      `json:"nextCursor"`
}

func (e *env) tokenNamed(name string) tokenBody {
	e.t.Helper()
	r := e.do("GET", "/v1/tokens?name="+name, e.admin, nil)
	var p tokenPage
	r.json(e.t, &p)
	if r.status != http.StatusOK || len(p.Tokens) != 1 {
		e.t.Fatalf("GET /v1/tokens?name=%s = %d %s, want one token", name, r.status, r.body)
	}
	return p.Tokens[0]
}

func TestTokensCreateListRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/tokens", e.admin, map[string]string{"name": "line-2", "role": "factory"})
	var created tokenBody
	r.json(t, &created)
	if r.status != http.StatusCreated || !strings.HasPrefix(created.Token, imprint.TokenPrefix+created.TokenID+"_") ||
		created.Role != "factory" || created.LastUsedAt != nil || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /v1/tokens = %d %s (Cache-Control %q), want 201 with the bearer string", r.status, r.body,
			r.header.Get("Cache-Control"))
	}
	secret := created.Token
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'token.created' AND resource_id = '` +
		created.TokenID + `' AND actor_name = 'admin'`); n != 1 {
		t.Errorf("token.created events by admin = %d, want 1", n)
	}
	for _, bad := range []struct{ body, why string }{
		{`{"name":"line-3","role":"root"}`, "role"},
		{`{"name":"no spaces","role":"factory"}`, "name"},
		{`{"name":"line-2","role":"factory"}`, "already exists"},
		{`{"name":"line-3","role":"factory","secret":"x"}`, "unknown field"},
	} {
		if r := e.doInvalid("POST", "/v1/tokens", e.admin, bad.body); r.status/100 != 4 || !strings.Contains(string(r.body), bad.why) {
			t.Errorf("POST /v1/tokens %s = %d %s, want 4xx naming %q", bad.body, r.status, r.body, bad.why)
		}
	}

	// The listing shows every token, never a secret or hash.
	r = e.do("GET", "/v1/tokens", e.admin, nil)
	var page tokenPage
	r.json(t, &page)
	if r.status != http.StatusOK || len(page.Tokens) != 4 {
		t.Fatalf("GET /v1/tokens = %d %s, want 4 tokens", r.status, r.body)
	}
	for _, leak := range []string{secret, secret[len(secret)-43:], e.factory[len(e.factory)-43:], `"hash"`, `"token"`} {
		if strings.Contains(string(r.body), leak) {
			t.Errorf("GET /v1/tokens shows %q", leak)
		}
	}
	// Paging by name.
	r = e.do("GET", "/v1/tokens?limit=3", e.admin, nil)
	r.json(t, &page)
	if len(page.Tokens) != 3 || page.NextCursor == "" {
		t.Fatalf("GET /v1/tokens?limit=3 = %s, want 3 tokens and a cursor", r.body)
	}
	r = e.do("GET", "/v1/tokens?limit=3&cursor="+page.NextCursor, e.admin, nil)
	page = tokenPage{}
	r.json(t, &page)
	if len(page.Tokens) != 1 || page.Tokens[0].Name != "line-2" || page.NextCursor != "" {
		t.Errorf("second page = %s, want line-2 alone", r.body)
	}

	// Using the token records when.
	if r := e.do("GET", "/v1/cas", secret, nil); r.status != http.StatusOK {
		t.Fatalf("GET /v1/cas with the new token = %d %s", r.status, r.body)
	}
	if got := e.tokenNamed("line-2"); got.LastUsedAt == nil || time.Since(*got.LastUsedAt) > time.Minute {
		t.Errorf("lastUsedAt after a use = %v, want about now", got.LastUsedAt)
	}

	// Revoked, it fails on the very next request, though verified a moment ago.
	r = e.do("POST", "/v1/tokens/"+created.TokenID+"/revoke", e.admin, nil)
	var revoked tokenBody
	r.json(t, &revoked)
	if r.status != http.StatusOK || revoked.RevokedAt == nil || revoked.RevokedBy != "admin" {
		t.Fatalf("revoke = %d %s, want 200, revoked by admin", r.status, r.body)
	}
	if r := e.do("GET", "/v1/cas", secret, nil); r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1/cas with the revoked token = %d %s, want 401", r.status, r.body)
	}
	if n := e.count(`SELECT count(*) FROM audit_events ev, api_tokens t
		WHERE ev.type = 'token.revoked' AND ev.resource_id = t.id AND t.id = '` + created.TokenID + `'
		  AND ev.actor_name = 'admin' AND (ev.txid::text::numeric % 4294967296)::text = t.xmin::text`); n != 1 {
		t.Errorf("token.revoked events in the revocation's transaction = %d, want 1", n)
	}
	if got := e.do("GET", "/v1/tokens/"+created.TokenID, e.admin, nil); got.status != http.StatusOK ||
		!strings.Contains(string(got.body), `"revokedAt"`) {
		t.Errorf("GET /v1/tokens/{id} of the revoked token = %d %s", got.status, got.body)
	}
	if r := e.do("POST", "/v1/tokens/"+created.TokenID+"/revoke", e.admin, nil); r.status != http.StatusConflict ||
		!strings.Contains(string(r.body), "already revoked") {
		t.Errorf("revoking again = %d %s, want 409 already revoked", r.status, r.body)
	}
	if r := e.do("GET", "/v1/tokens?revoked=true", e.admin, nil); !strings.Contains(string(r.body), "line-2") ||
		strings.Contains(string(r.body), "audit") {
		t.Errorf("GET /v1/tokens?revoked=true = %s, want line-2 alone", r.body)
	}
}

func TestTokensErrorsAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.tokenNamed("admin")
	for _, c := range []struct {
		method, path, token string
		status              int
		says                string
	}{
		{"GET", "/v1/tokens", e.auditor, http.StatusForbidden, "role auditor"},
		{"GET", "/v1/tokens", e.factory, http.StatusForbidden, "role factory"},
		{"GET", "/v1/tokens/" + admin.TokenID, e.auditor, http.StatusForbidden, "role auditor"},
		{"POST", "/v1/tokens/" + admin.TokenID + "/revoke", e.factory, http.StatusForbidden, "role factory"},
		{"POST", "/v1/tokens", e.auditor, http.StatusForbidden, "role auditor"},
		{"GET", "/v1/tokens", "", http.StatusUnauthorized, "Bearer"},
		{"GET", "/v1/tokens/nothex", e.admin, http.StatusBadRequest, "16 hexadecimal digits"},
		{"GET", "/v1/tokens/0123456789abcdef", e.admin, http.StatusNotFound, "not found"},
		{"POST", "/v1/tokens/0123456789abcdef/revoke", e.admin, http.StatusNotFound, "not found"},
		{"GET", "/v1/tokens?role=root", e.admin, http.StatusBadRequest, "role"},
		{"GET", "/v1/tokens?revoked=maybe", e.admin, http.StatusBadRequest, "revoked"},
		{"GET", "/v1/tokens?limit=0", e.admin, http.StatusBadRequest, "limit"},
		{"GET", "/v1/tokens?secret=1", e.admin, http.StatusBadRequest, "secret"},
		// The only admin token cannot go.
		{"POST", "/v1/tokens/" + admin.TokenID + "/revoke", e.admin, http.StatusConflict, "last active admin"},
	} {
		r := e.doInvalid(c.method, c.path, c.token, nil)
		if _, msg := r.errorCode(t); r.status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%s %s = %d %s, want %d saying %q", c.method, c.path, r.status, r.body, c.status, c.says)
		}
	}
	// With a second admin, the first may revoke itself, and is then refused.
	r := e.do("POST", "/v1/tokens", e.admin, map[string]string{"name": "admin-2", "role": "admin"})
	var second tokenBody
	r.json(t, &second)
	if r := e.do("POST", "/v1/tokens/"+admin.TokenID+"/revoke", e.admin, nil); r.status != http.StatusOK {
		t.Fatalf("an admin revoking itself = %d %s, want 200", r.status, r.body)
	}
	if r := e.do("GET", "/v1/tokens", e.admin, nil); r.status != http.StatusUnauthorized {
		t.Errorf("the revoked admin's next request = %d, want 401", r.status)
	}
	if r := e.do("POST", "/v1/tokens/"+second.TokenID+"/revoke", second.Token, nil); r.status != http.StatusConflict {
		t.Errorf("revoking the last admin = %d %s, want 409", r.status, r.body)
	}
}

// TestTokenRevocationReachesReplicas runs two API handlers on one database,
// each with its own token cache fed by its own listener, as two replicas
// are. A token both have verified (and cached) and that one revokes fails on
// that one at once and on the other within moments.
func TestTokenRevocationReachesReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, b := replica(t, e), replica(t, e)
	victim := e.token("line-9", imprint.RoleFactory)
	for _, url := range []string{a, b} {
		if status := get(t, url+"/v1/cas", victim); status != http.StatusOK {
			t.Fatalf("GET %s/v1/cas = %d, want 200", url, status)
		}
	}
	id, _, _ := imprint.ParseToken(victim)
	req, _ := http.NewRequest("POST", a+"/v1/tokens/"+id+"/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke through the first replica = %v, %v", resp, err)
	}
	resp.Body.Close()
	if status := get(t, a+"/v1/cas", victim); status != http.StatusUnauthorized {
		t.Errorf("the revoking replica's next answer to the token = %d, want 401", status)
	}
	waitFor(t, 5*time.Second, func() (bool, string) {
		status := get(t, b+"/v1/cas", victim)
		return status == http.StatusUnauthorized, fmt.Sprintf("the other replica answers %d to the revoked token, want 401", status)
	})
}

// TestNewCAReachesTheOtherReplica creates an issuing CA through one server:
// another, with a CA of its own on the same database and keys, both built
// by the one constructor, serves the new CA and issues with it as soon as
// the creation's notification reaches it.
func TestNewCAReachesTheOtherReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := postgres.Open(ctx, e.dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	auth, err := ca.New(ctx, ca.Config{DataDir: e.dataDir, Passphrase: []byte(testPassphrase),
		PublicURL: "http://imprint.test", Log: log}, db)
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewServer(mustServer(t, log, db, auth, loopbackAllowed).Handler)
	t.Cleanup(other.Close)

	r := e.do("POST", "/v1/cas", e.admin, map[string]string{"name": "line-9"})
	var created struct{ CAID string }
	if r.json(t, &created); r.status != http.StatusCreated || created.CAID == "" {
		t.Fatalf("POST /v1/cas = %d %s", r.status, r.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for status := get(t, other.URL+"/v1/cas/"+created.CAID, e.auditor); status != http.StatusOK; status = get(t, other.URL+"/v1/cas/"+created.CAID, e.auditor) {
		if time.Now().After(deadline) {
			t.Fatalf("the other replica still answers %d for the new CA after 5 s, want 200", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	issued := <-e.start(other.URL, "POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "dev-9"), "caId": created.CAID})
	if issued.status != http.StatusCreated || !strings.Contains(string(issued.body), created.CAID) {
		t.Errorf("issue with the new CA on the other replica = %d %s, want 201 from it", issued.status, issued.body)
	}
}

// replica starts another server on e's database and CA, built as
// `imprint serve` builds one, and returns its URL once its notification
// listener listens.
func replica(t *testing.T, e *env) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := postgres.Open(ctx, e.dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	srv := httptest.NewServer(mustServer(t, log, db, e.ca, loopbackAllowed).Handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
