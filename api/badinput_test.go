package api_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
		{"common name off pattern", "/v1/certificates", map[string]string{"csr": csrPEM(t, p256(t), "laptop"), "caId": lineA.CAID}, 400, "invalid", "pattern"},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.doInvalid("POST", tt.path, e.factory, tt.body)
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

func TestAuthentication(t *testing.T) {
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
