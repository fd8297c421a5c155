package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

func rsaKey(t *testing.T, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tamperedCSR returns a CSR whose signature does not verify.
func tamperedCSR(t *testing.T) string {
	block, _ := pem.Decode([]byte(csrPEM(t, p256(t), "device-x")))
	der := block.Bytes
	der[len(der)-5] ^= 0xff // inside the signature
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// opensslCSR makes a CSR with openssl, for key types Go cannot sign CSRs
// with. The last of genkey's arguments goes after "-out file".
func opensslCSR(t *testing.T, genkey ...string) string {
	t.Helper()
	needOpenSSL(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	args := append(genkey[:len(genkey)-1:len(genkey)-1], "-out", key, genkey[len(genkey)-1])
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %v: %v: %s", genkey, err, out)
	}
	out, err := exec.Command("openssl", "req", "-new", "-key", key, "-subj", "/CN=legacy").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v: %s", err, out)
	}
	return string(out)
}

func TestBadInputIsRefusedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	patterned := e.do("POST", "/v1/cas", e.admin, map[string]any{"name": "line-a", "profile": map[string]any{
		"validityDays": 365, "keyTypes": []string{"EC-P256"}, "commonNamePattern": "dev-[0-9]+", "sanTypes": []string{"dns"}}})
	if patterned.status != http.StatusCreated {
		t.Fatalf("POST /v1/cas = %d %s", patterned.status, patterned.body)
	}
	var lineA struct{ CAID string }
	patterned.json(t, &lineA)

	big := `{"csr":"` + strings.Repeat("A", 1<<20) + `"}`
	tooMany := make([]string, 1001)
	for i := range tooMany {
		tooMany[i] = "x"
	}
	tests := []struct {
		name, path string
		body       any
		status     int
		code, msg  string
	}{
		{"malformed PEM", "/v1/certificates", map[string]string{"csr": "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n"}, 400, "invalid", "csr"},
		{"wrong PEM block", "/v1/certificates", map[string]string{"csr": "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"}, 400, "invalid", "CERTIFICATE REQUEST"},
		{"bad signature", "/v1/certificates", map[string]string{"csr": tamperedCSR(t)}, 400, "invalid", "signature"},
		{"RSA-1024", "/v1/certificates", map[string]string{"csr": csrPEM(t, rsaKey(t, 1024), "d")}, 400, "invalid", "1024 bits"},
		{"P-224", "/v1/certificates", map[string]string{"csr": csrPEM(t, p224, "d")}, 400, "invalid", "P-224"},
		{"DSA", "/v1/certificates", map[string]string{"csr": opensslCSR(t, "dsaparam", "-noout", "-genkey", "1024")}, 400, "invalid", ""},
		{"no common name", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "")}, 400, "invalid", "common name"},
		{"common name off pattern", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "laptop"), "caId": lineA.CAID}, 403, "forbidden", "pattern"},
		{"key type off profile", "/v1/certificates", map[string]string{"csr": csrPEM(t, rsaKey(t, 2048), "dev-1"), "caId": lineA.CAID}, 400, "invalid", "RSA-2048"},
		{"validity over profile", "/v1/certificates", map[string]any{"csr": csrPEM(t, p256(t), "dev-1"), "caId": lineA.CAID, "validityDays": 400}, 400, "invalid", "validityDays"},
		{"unknown CA", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "d"), "caId": strings.Repeat("ab", 32)}, 404, "not_found", "CA"},
		{"malformed CA ID", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "d"), "caId": "nope"}, 400, "invalid", "caId"},
		{"unknown field", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "d"), "colour": "red"}, 400, "invalid", `"colour"`},
		{"wrong type", "/v1/certificates", map[string]any{"csr": 42}, 400, "invalid", `"csr"`},
		{"not JSON", "/v1/certificates", "csr=abc", 400, "invalid", "JSON"},
		{"empty body", "/v1/certificates", "", 400, "invalid", "empty"},
		{"body over 1 MiB", "/v1/certificates", big, 413, "too_large", "1048576"},
		{"batch over 1000", "/v1/certificates/batch", map[string]any{"csrs": tooMany}, 400, "invalid", "at most 1000"},
		{"batch from an unknown CA", "/v1/certificates/batch", map[string]any{"csrs": []string{csrPEM(t, p256(t), "d")}, "caId": strings.Repeat("cd", 32)}, 404, "not_found", "CA"},
		{"empty batch", "/v1/certificates/batch", map[string]any{"csrs": []string{}}, 400, "invalid", "at least one"},
		{"unknown key type", "/v1/keys-and-certificate", map[string]string{"commonName": "d", "keyType": "DSA-1024"}, 400, "invalid", "keyType"},
		{"ECDSA with SHA-1", "/v1/certificates", map[string]string{"csr": sha1CSR(t, p256(t), x509.ECDSAWithSHA1)}, 400, "invalid", "SHA-1"},
		{"RSA with SHA-1", "/v1/certificates", map[string]string{"csr": sha1CSR(t, rsaKey(t, 2048), x509.SHA1WithRSA)}, 400, "invalid", "SHA-1"},
		{"openssl req -sha1", "/v1/certificates", map[string]string{"csr": opensslSHA1CSR(t)}, 400, "invalid", "SHA-1"},
		{"SHA-1 in a batch", "/v1/certificates/batch", map[string]any{"csrs": []string{sha1CSR(t, p256(t), x509.ECDSAWithSHA1)}}, 200, "", ""},
		{"bidi override in the common name", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "dev-\u202egnp.exe")}, 400, "invalid", "common name"},
		{"bidi isolate in the common name", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "dev\u2066-1")}, 400, "invalid", "common name"},
		{"left-to-right mark in the common name", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "dev\u200e-1")}, 400, "invalid", "common name"},
		{"bidi in another subject attribute", "/v1/certificates", map[string]string{"csr": csrSubjectPEM(t, pkix.Name{CommonName: "dev-1", Organization: []string{"Acme\u202e"}})}, 400, "invalid", "subject"},
		{"NUL in another subject attribute", "/v1/certificates", map[string]string{"csr": csrSubjectPEM(t, pkix.Name{CommonName: "dev-1", Organization: []string{"Ac\x00me"}})}, 400, "invalid", "subject"},
		{"bidi in keys-and-certificate", "/v1/keys-and-certificate", map[string]string{"commonName": "dev\u202e1", "keyType": "EC-P256"}, 400, "invalid", "common name"},
		{"JSON body not UTF-8", "/v1/certificates", []byte("{\"csr\":\"\xff\"}"), 400, "invalid", "UTF-8"},
		{"JSON body with a lone surrogate", "/v1/keys-and-certificate", `{"commonName":"dev\ud800","keyType":"EC-P256"}`, 400, "invalid", "surrogate"},
		{"JSON body with a NUL escape", "/v1/keys-and-certificate", `{"commonName":"dev\u0000","keyType":"EC-P256"}`, 400, "invalid", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doInvalid("POST", tt.path, e.factory, tt.body)
			if tt.status == 200 { // a batch answers each item
				var got struct{ Issued, Failed int }
				r.json(t, &got)
				if r.status != 200 || got.Issued != 0 || got.Failed != 1 {
					t.Errorf("POST %s = %d %s, want 200 with its one item failed", tt.path, r.status, r.body)
				}
				return
			}
			code, msg := r.errorCode(t)
			if r.status != tt.status || code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("POST %s = %d %s %q, want %d %s containing %q", tt.path, r.status, code, msg, tt.status, tt.code, tt.msg)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 0 {
		t.Errorf("certificates stored after bad requests = %d, want 0", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.issued'`); n != 0 {
		t.Errorf("issue events after bad requests = %d, want 0", n)
	}
}

// sha1CSR returns a CSR signed with alg, a SHA-1 algorithm.
func sha1CSR(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "legacy-1"}, SignatureAlgorithm: alg}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// opensslSHA1CSR makes an EC P-256 CSR signed with SHA-1 by openssl itself.
func opensslSHA1CSR(t *testing.T) string {
	t.Helper()
	needOpenSSL(t)
	key := filepath.Join(t.TempDir(), "key.pem")
	if out, err := exec.Command("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl ecparam: %v: %s", err, out)
	}
	out, err := exec.Command("openssl", "req", "-new", "-sha1", "-key", key, "-subj", "/CN=legacy-2").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req -sha1: %v: %s", err, out)
	}
	return string(out)
}

// csrSubjectPEM returns a P-256 CSR with the given subject.
func csrSubjectPEM(t *testing.T, subject pkix.Name) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subject}, p256(t))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	csr := map[string]string{"csr": csrPEM(t, p256(t), "d")}
	tests := []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"no token", "POST", "/v1/certificates", "", csr, 401},
		{"malformed token", "POST", "/v1/certificates", "secret", csr, 401},
		{"unknown token", "POST", "/v1/certificates", "imp_0123456789abcdef_" + strings.Repeat("A", 43), csr, 401},
		{"right ID, wrong secret", "POST", "/v1/certificates", e.factory[:len(e.factory)-4] + "AAAA", csr, 401},
		{"factory creates a CA", "POST", "/v1/cas", e.factory, map[string]string{"name": "x"}, 403},
		{"auditor issues", "POST", "/v1/certificates", e.auditor, csr, 403},
		{"auditor reads", "GET", "/v1/cas", e.auditor, nil, 200},
		{"factory issues", "POST", "/v1/certificates", e.factory, csr, 201},
		{"public health", "GET", "/healthz", "", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.do(tt.method, tt.path, tt.token, tt.body); r.status != tt.status {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.status)
			}
		})
	}
	r := e.do("GET", "/v1/cas", "", nil)
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without a WWW-Authenticate header")
	}
}

func TestBatchFailsOnlyBadItems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	csrs := make([]string, 50)
	for i := range csrs {
		csrs[i] = csrPEM(t, p256(t), "dev")
	}
	csrs[7] = "garbage"
	csrs[31] = tamperedCSR(t)
	r := e.do("POST", "/v1/certificates/batch", e.factory, map[string]any{"csrs": csrs})
	if r.status != 200 {
		t.Fatalf("batch = %d %s", r.status, r.body)
	}
	var got struct {
		Issued, Failed int
		ChainPEM       string
		Results        []struct {
			Index          int
			CertificateID  string
			CertificatePEM string
			Error          *struct{ Code, Message string }
		}
	}
	r.json(t, &got)
	if got.Issued != 48 || got.Failed != 2 || len(got.Results) != 50 {
		t.Fatalf("batch issued %d failed %d results %d, want 48, 2, 50", got.Issued, got.Failed, len(got.Results))
	}
	for i, it := range got.Results {
		bad := i == 7 || i == 31
		if it.Index != i || bad != (it.Error != nil) || bad == (it.CertificateID != "") {
			t.Errorf("result %d = %+v", i, it)
		}
	}
	if !strings.Contains(got.Results[31].Error.Message, "signature") {
		t.Errorf("item 31 reason = %q, want the signature named", got.Results[31].Error.Message)
	}
	opensslVerify(t, got.Results[0].CertificatePEM, got.ChainPEM)
	if n := e.count(`SELECT count(*) FROM certificates`); n != 48 {
		t.Errorf("certificates stored = %d, want 48", n)
	}
}

func TestKeysAndCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/keys-and-certificate", e.factory, map[string]string{"commonName": "no-keys-1", "keyType": "Ed25519"},
		"Idempotency-Key", "kc-1")
	if r.status != 201 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("keys-and-certificate = %d %s (Cache-Control %q)", r.status, r.body, r.header.Get("Cache-Control"))
	}
	var got issued
	r.json(t, &got)
	opensslVerify(t, got.CertificatePEM, got.ChainPEM)
	kb, _ := pem.Decode([]byte(got.PrivateKeyPEM))
	key, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatalf("private key: %v", err)
	}
	cb, _ := pem.Decode([]byte(got.CertificatePEM))
	cert, _ := x509.ParseCertificate(cb.Bytes)
	if !key.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
		t.Fatal("the private key does not match the certificate")
	}
	// The key is nowhere in the database.
	keyB64 := strings.Join(strings.Split(strings.TrimSpace(got.PrivateKeyPEM), "\n")[1:2], "")
	for _, q := range []string{
		`SELECT count(*) FROM idempotency_keys WHERE position(convert_to('` + keyB64 + `', 'UTF8') in response) > 0`,
		`SELECT count(*) FROM audit_events WHERE data::text LIKE '%` + keyB64 + `%'`,
	} {
		if n := e.count(q); n != 0 {
			t.Errorf("private key found in the database: %s", q)
		}
	}
	// A retry cannot get the key again: 409 naming the certificate.
	r2 := e.do("POST", "/v1/keys-and-certificate", e.factory, map[string]string{"commonName": "no-keys-1", "keyType": "Ed25519"},
		"Idempotency-Key", "kc-1")
	if code, msg := r2.errorCode(t); r2.status != 409 || code != "conflict" || !strings.Contains(msg, got.CertificateID) {
		t.Errorf("replay = %d %s, want 409 naming %s", r2.status, r2.body, got.CertificateID)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 1 {
		t.Errorf("certificates = %d, want 1", n)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]string{"csr": csrPEM(t, p256(t), "idem-1")}
	first := e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "order-42/unit-1")
	again := e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "order-42/unit-1")
	if first.status != 201 || again.status != 201 || string(first.body) != string(again.body) {
		t.Fatalf("replay = %d %s, want the first response %d %s", again.status, again.body, first.status, first.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Error("replay lacks Idempotent-Replayed: true")
	}
	other := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "idem-2")},
		"Idempotency-Key", "order-42/unit-1")
	if code, _ := other.errorCode(t); other.status != 409 || code != "conflict" {
		t.Errorf("same key, other body = %d %s, want 409", other.status, other.body)
	}
	// A failed request does not burn its key: the corrected retry issues.
	bad := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": "junk"}, "Idempotency-Key", "k2")
	good := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "idem-3")}, "Idempotency-Key", "k2")
	if bad.status != 400 || good.status != 201 {
		t.Errorf("bad then corrected = %d, %d; want 400, 201", bad.status, good.status)
	}
	// Keys belong to their token.
	if r := e.do("POST", "/v1/certificates", e.admin, body, "Idempotency-Key", "order-42/unit-1"); r.status != 201 || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another token's same key = %d (replayed %q), want a fresh 201", r.status, r.header.Get("Idempotent-Replayed"))
	}
	if r := e.doInvalid("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", strings.Repeat("k", 300)); r.status != 400 {
		t.Errorf("overlong key = %d, want 400", r.status)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 3 {
		t.Errorf("certificates = %d, want 3", n)
	}
}

func TestConcurrentIssuanceCountsInTheDatabase(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const workers, each = 16, 15
	csrs := make([]string, workers*each)
	for i := range csrs {
		csrs[i] = csrPEM(t, p256(t), "par")
	}
	errs := make(chan string, len(csrs))
	done := make(chan struct{})
	for w := range workers {
		go func() {
			for i := range each {
				r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrs[w*each+i]})
				if r.status != 201 {
					errs <- string(r.body)
				}
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for msg := range errs {
		t.Errorf("issue failed: %s", msg)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != workers*each {
		t.Errorf("certificates = %d, want %d", n, workers*each)
	}
	if n := e.count(`SELECT count(DISTINCT serial) FROM certificates`); n != workers*each {
		t.Errorf("distinct serials = %d, want %d", n, workers*each)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.issued'`); n != workers*each {
		t.Errorf("issue events = %d, want %d", n, workers*each)
	}
}

// specQueryParams returns the query parameters openapi.yaml gives each
// operation, keyed "METHOD /path" as chi.Walk names routes. It reads the
// file as it is written: paths at indent 2, methods at 4, and parameters as
// "- name: x" followed by "in: query".
func specQueryParams(t *testing.T) map[string][]string {
	t.Helper()
	params := map[string][]string{}
	var inPaths bool
	var path, op, name string
	for _, line := range strings.Split(string(mustSpec(t)), "\n") {
		trimmed := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " "))
		switch {
		case trimmed == "":
		case indent == 0:
			inPaths = trimmed == "paths:"
		case !inPaths:
		case indent == 2:
			path, op = strings.Trim(strings.TrimSuffix(trimmed, ":"), `"`), ""
		case indent == 4:
			op = strings.ToUpper(strings.TrimSuffix(trimmed, ":")) + " " + path
		case strings.HasPrefix(trimmed, "- name: "):
			name = strings.TrimPrefix(trimmed, "- name: ")
		case trimmed == "in: query" && op != "":
			params[op] = append(params[op], name)
		}
	}
	if len(params) == 0 {
		t.Fatal("openapi.yaml: no query parameters found")
	}
	return params
}

// fillPath fills the route pattern's parameters: the one named bad with
// value, the others with a well-formed name.
func fillPath(pattern, bad, value string) string {
	return pathParamRE.ReplaceAllStringFunc(pattern, func(p string) string {
		if p == "{"+bad+"}" {
			return value
		}
		return "x"
	})
}

// TestBadTextInParameters walks every route: a path parameter or a query
// parameter (each one openapi.yaml lists) holding a NUL byte, invalid UTF-8
// or too much text is answered 400 naming the parameter, never 500 and
// never a store lookup. Listings refuse junk cursors; routes that do not
// page refuse limit and cursor.
func TestBadTextInParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	query := specQueryParams(t)
	long := strings.Repeat("a", 1025)
	for _, op := range mustServedOperations(t, e.handler) {
		method, pattern, _ := strings.Cut(op, " ")
		if strings.HasPrefix(pattern, "/ocsp/") {
			continue // OCSP answers in its own format (RFC 6960): unauthorized for an unknown CA
		}
		token := ""
		if strings.HasPrefix(pattern, "/v1/") {
			token = e.admin
		}
		check := func(t *testing.T, path, want string) {
			t.Helper()
			r := e.doInvalid(method, path, token, nil)
			code, msg := r.errorCode(t)
			if r.status != 400 || code != "invalid" || !strings.Contains(msg, want) {
				t.Errorf("%s %.80s = %d %s %.80q, want 400 invalid with %s", method, path, r.status, code, msg, want)
			}
		}
		for _, m := range pathParamRE.FindAllString(pattern, -1) {
			param := strings.Trim(m, "{}")
			for _, v := range []string{"a%00b", "%ff", "a%C3", long} {
				t.Run(op+" "+param+"="+v[:min(len(v), 5)], func(t *testing.T) { check(t, fillPath(pattern, param, v), `"`+param+`"`) })
			}
		}
		for _, param := range query[op] {
			for _, v := range []string{"a%00b", "%ff", "a%C3", long} {
				path := fillPath(pattern, "", "") + "?" + param + "=" + v
				t.Run(op+" ?"+param+"="+v[:min(len(v), 5)], func(t *testing.T) { check(t, path, `"`+param+`"`) })
			}
		}
		if method != "GET" || !strings.HasPrefix(pattern, "/v1/") {
			continue
		}
		path := fillPath(pattern, "", "")
		if slices.Contains(query[op], "cursor") {
			for _, junk := range []string{"junk", "x", "bm9wZQ", "sensor-1", "-1", "MTIzNDU2"} {
				t.Run(op+" ?cursor="+junk, func(t *testing.T) { check(t, path+"?cursor="+junk, "cursor") })
			}
			continue
		}
		for _, p := range []string{"limit=1", "cursor=x"} {
			t.Run(op+" ?"+p, func(t *testing.T) {
				r := e.doInvalid(method, path+"?"+p, token, nil)
				code, msg := r.errorCode(t)
				if r.status != 400 || code != "invalid" || !strings.Contains(msg, "does not page") {
					t.Errorf("%s %s?%s = %d %s %.80q, want 400 saying the route does not page", method, path, p, r.status, code, msg)
				}
			})
		}
	}
}

// TestBadTextInBodies sends text the store must never hold: invalid UTF-8
// (which encoding/json would store as U+FFFD), NUL and lone-surrogate
// escapes, and bidirectional formatting characters in names and the
// descriptions shown next to them. Each is refused with 400 and nothing is
// stored.
func TestBadTextInBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cas, events := e.count(`SELECT count(*) FROM cas`), e.count(`SELECT count(*) FROM audit_events`)
	tests := []struct {
		name, path string
		body       any
		msg        string
	}{
		{"description not UTF-8", "/v1/thing-types", []byte("{\"thingTypeName\":\"t1\",\"description\":\"caf\xe9\"}"), "UTF-8"},
		{"truncated UTF-8", "/v1/thing-groups", []byte("{\"thingGroupName\":\"g3\",\"description\":\"caf\xc3\"}"), "UTF-8"},
		{"overlong UTF-8", "/v1/thing-groups", []byte("{\"thingGroupName\":\"g4\",\"description\":\"\xc0\xaf\"}"), "UTF-8"},
		{"surrogate encoded as UTF-8", "/v1/thing-types", []byte("{\"thingTypeName\":\"t3\",\"description\":\"\xed\xa0\x80\"}"), "UTF-8"},
		{"lone surrogate escape", "/v1/thing-types", `{"thingTypeName":"t4","description":"a\udc00b"}`, "surrogate"},
		{"unpaired high surrogate", "/v1/thing-types", `{"thingTypeName":"t5","description":"a\ud800\u0041"}`, "surrogate"},
		{"NUL escape", "/v1/cas", `{"name":"nul","organization":"Ac\u0000me"}`, "NUL"},
		{"CA organization not UTF-8", "/v1/cas", []byte("{\"name\":\"org\",\"organization\":\"\xff\"}"), "UTF-8"},
		{"template description not UTF-8", "/v1/provisioning-templates",
			[]byte("{\"name\":\"t1\",\"type\":\"JITP\",\"description\":\"\xfe\",\"body\":" + strconvQuote(jitpBody) + "}"), "UTF-8"},
		{"webhook URL not UTF-8", "/v1/webhooks", []byte("{\"url\":\"http://127.0.0.1/\xff\",\"events\":[\"*\"],\"secret\":\"0123456789abcdef\"}"), "UTF-8"},
		{"bidi in a thing name", "/v1/things", map[string]string{"thingName": "a\u202eb"}, "thingName"},
		{"bidi in a thing group name", "/v1/thing-groups", map[string]string{"thingGroupName": "a\u2066b"}, "thingGroupName"},
		{"bidi in a thing type name", "/v1/thing-types", map[string]string{"thingTypeName": "\u200ft"}, "thingTypeName"},
		{"bidi in a policy name", "/v1/policies", map[string]any{"policyName": "p\u061c", "policyDocument": map[string]any{}}, "policy name"},
		{"bidi in a template name", "/v1/provisioning-templates", map[string]any{"name": "t\u202a1", "type": "JITP", "body": jitpBody}, "name"},
		{"bidi in a CA name", "/v1/cas", map[string]string{"name": "line\u202e"}, "name"},
		{"bidi in a CA common name", "/v1/cas", map[string]string{"name": "line-b", "commonName": "Line \u202eB"}, "commonName"},
		{"bidi in a CA organization", "/v1/cas", map[string]string{"name": "line-c", "organization": "Acme \u2067"}, "organization"},
		{"bidi in a thing type description", "/v1/thing-types", map[string]string{"thingTypeName": "t2", "description": "a\u202eb"}, "description"},
		{"bidi in a thing group description", "/v1/thing-groups", map[string]string{"thingGroupName": "g2", "description": "\u200eb"}, "description"},
		{"bidi in a template description", "/v1/provisioning-templates",
			map[string]any{"name": "t2", "type": "JITP", "description": "x\u2069", "body": jitpBody}, "description"},
		{"bidi in a webhook URL", "/v1/webhooks", map[string]any{"url": "http://127.0.0.1/\u202eexe", "events": []string{"*"}, "secret": "0123456789abcdef"}, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doInvalid("POST", tt.path, e.admin, tt.body)
			code, msg := r.errorCode(t)
			if r.status != 400 || code != "invalid" || !strings.Contains(msg, tt.msg) {
				t.Errorf("POST %s = %d %s %q, want 400 invalid containing %q", tt.path, r.status, code, msg, tt.msg)
			}
		})
	}
	for table, want := range map[string]int{"thing_types": 0, "thing_groups": 0, "things": 0, "policies": 0,
		"provisioning_templates": 0, "webhooks": 0, "cas": cas} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != want {
			t.Errorf("rows in %s after bad requests = %d, want %d", table, n, want)
		}
	}
	if n := e.count(`SELECT count(*) FROM audit_events`); n != events {
		t.Errorf("audit events after bad requests = %d, want %d", n, events)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestThingGroupOwnParent: a group cannot be its own parent (it could never
// be deleted: it would always have a child). A group's parent cannot change,
// so no longer cycle can form.
func TestThingGroupOwnParent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": "g1", "parentGroupName": "g1"})
	if code, msg := r.errorCode(t); r.status != 400 || code != "invalid" || !strings.Contains(msg, "own parent") {
		t.Errorf("POST self-parent group = %d %s %q, want 400 saying a group cannot be its own parent", r.status, code, msg)
	}
	if n := e.count(`SELECT count(*) FROM thing_groups`); n != 0 {
		t.Errorf("thing groups = %d, want 0", n)
	}
	// The store refuses it too, for callers other than the API.
	err := e.db.CreateThingGroup(ctx, &imprint.ThingGroup{Name: "g2", Parent: "g2"}, imprint.SystemActor)
	if imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("CreateThingGroup(own parent) error = %v, want Invalid", err)
	}
	// One stored before the rule can be deleted.
	pgtest.Conn(t, e.dbURL).Exec(ctx, `INSERT INTO thing_groups (name, parent) VALUES ('old', 'old')`)
	if r := e.do("DELETE", "/v1/thing-groups/old", e.admin, nil); r.status != 204 {
		t.Errorf("DELETE a group that is its own parent = %d %s, want 204", r.status, r.body)
	}
	// A real child still blocks the delete.
	e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": "top"})
	e.do("POST", "/v1/thing-groups", e.admin, map[string]string{"thingGroupName": "sub", "parentGroupName": "top"})
	if r := e.do("DELETE", "/v1/thing-groups/top", e.admin, nil); r.status != 409 {
		t.Errorf("DELETE a group with a child = %d %s, want 409", r.status, r.body)
	}
}

// TestPatchThingWithNothingToChange: {} and null change nothing, so they
// are refused as other PATCHes refuse them: no new version, no event.
func TestPatchThingWithNothingToChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("POST", "/v1/things", e.admin, map[string]any{"thingName": "s1", "attributes": map[string]string{"a": "1"}}); r.status != 201 {
		t.Fatalf("POST thing = %d %s", r.status, r.body)
	}
	for _, body := range []string{`{}`, `null`, `{"merge":true}`, `{"expectedVersion":1}`} {
		r := e.doInvalid("PATCH", "/v1/things/s1", e.admin, body)
		if code, msg := r.errorCode(t); r.status != 400 || code != "invalid" || !strings.Contains(msg, "nothing to change") {
			t.Errorf("PATCH %s = %d %s %q, want 400 nothing to change", body, r.status, code, msg)
		}
	}
	if n := e.count(`SELECT version FROM things WHERE name = 's1'`); n != 1 {
		t.Errorf("version after empty PATCHes = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'thing.updated'`); n != 0 {
		t.Errorf("thing.updated events after empty PATCHes = %d, want 0", n)
	}
	if r := e.do("PATCH", "/v1/things/s1", e.admin, `{"attributes":{}}`); r.status != 200 {
		t.Errorf("PATCH clearing attributes = %d %s, want 200", r.status, r.body)
	}
}
