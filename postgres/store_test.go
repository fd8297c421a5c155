package postgres_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

var ctx = context.Background()

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mustCA records a CA row (no key involved: the store never sees keys).
func mustCA(tb testing.TB, db *postgres.DB) *imprint.CA {
	tb.Helper()
	der := []byte(randomHex(32))
	sum := sha256.Sum256(der)
	c := &imprint.CA{
		ID: hex.EncodeToString(sum[:]), Name: "root-" + randomHex(4), Role: imprint.CARoot,
		Status: imprint.CAActive, Subject: "CN=Test Root", CommonName: "Test Root", Serial: randomHex(16),
		KeyAlgorithm: imprint.KeyECDSAP256, KeyURI: "softkms:path=ca/x.key", DER: der,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		Profile: imprint.DefaultProfile(),
	}
	if err := db.CreateCA(ctx, c, imprint.SystemActor); err != nil {
		tb.Fatalf("CreateCA() error = %v", err)
	}
	return c
}

func newCert(caID, cn string) imprint.Certificate {
	der := []byte(randomHex(300))
	sum := sha256.Sum256(der)
	now := time.Now().UTC().Truncate(time.Microsecond)
	return imprint.Certificate{
		ID: hex.EncodeToString(sum[:]), Serial: randomHex(16), CAID: caID, Subject: "CN=" + cn,
		CommonName: cn, SANs: []string{"dns:" + cn + ".example"}, KeyAlgorithm: imprint.KeyECDSAP256,
		NotBefore: now, NotAfter: now.Add(24 * time.Hour), Status: imprint.CertificateActive, DER: der,
		CreatedAt: now, UpdatedAt: now,
	}
}

func TestCreateAndReadCertificate(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	c := newCert(ca.ID, "device-1")
	actor := imprint.Actor{TokenID: "t1", Name: "line-7", Role: imprint.RoleFactory}
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c}, actor, nil); err != nil {
		t.Fatalf("CreateCertificates() error = %v", err)
	}
	got, err := db.Certificate(ctx, c.ID)
	if err != nil {
		t.Fatalf("Certificate() error = %v", err)
	}
	if got.Serial != c.Serial || got.CommonName != "device-1" || string(got.DER) != string(c.DER) ||
		got.Status != imprint.CertificateActive || len(got.SANs) != 1 || !got.NotAfter.Equal(c.NotAfter) {
		t.Errorf("Certificate() = %+v, want the recorded %+v", got, c)
	}
	bySerial, err := db.CertificateBySerial(ctx, ca.ID, c.Serial)
	if err != nil || bySerial.ID != c.ID {
		t.Errorf("CertificateBySerial() = %v, %v; want %s", bySerial, err, c.ID)
	}
	events, err := db.EventsFor(ctx, "certificate", c.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != imprint.EventCertificateIssued || events[0].Actor.Name != "line-7" ||
		events[0].Actor.Role != imprint.RoleFactory || events[0].Actor.TokenID != "t1" {
		t.Errorf("EventsFor() = %+v, want one certificate.issued by line-7", events)
	}
	if _, err := db.Certificate(ctx, randomHex(32)); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("Certificate(unknown) kind = %v, want NotFound", imprint.ErrorKind(err))
	}
}

func TestCreateCertificatesDuplicateFailsOnlyItsOwnRequest(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	first := newCert(ca.ID, "a")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{first}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	// Many concurrent requests, one of them a duplicate: group commit must
	// fail only the duplicate.
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newCert(ca.ID, fmt.Sprintf("d%d", i))
			if i == 17 {
				c = first
			}
			errs[i] = db.CreateCertificates(ctx, []imprint.Certificate{c}, imprint.SystemActor, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i == 17 {
			if imprint.ErrorKind(err) != imprint.Conflict {
				t.Errorf("duplicate: error kind = %v (%v), want Conflict", imprint.ErrorKind(err), err)
			}
		} else if err != nil {
			t.Errorf("request %d: error = %v, want nil", i, err)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM certificates`); n != 40 {
		t.Errorf("certificates = %d, want 40", n)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE type = 'certificate.issued'`); n != 40 {
		t.Errorf("issued events = %d, want 40 (one per certificate, none for the duplicate)", n)
	}
}

func TestConcurrentCreateNeverLosesARow(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	const workers, perWorker = 16, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				batch := []imprint.Certificate{newCert(ca.ID, fmt.Sprintf("w%d-%d", w, i))}
				if i%10 == 0 {
					batch = append(batch, newCert(ca.ID, fmt.Sprintf("w%d-%d-b", w, i)))
				}
				if err := db.CreateCertificates(ctx, batch, imprint.SystemActor, nil); err != nil {
					t.Errorf("CreateCertificates() error = %v", err)
				}
			}
		}()
	}
	wg.Wait()
	want := workers * (perWorker + perWorker/10)
	if n := count(t, db, `SELECT count(*) FROM certificates`); n != want {
		t.Errorf("certificates = %d, want %d", n, want)
	}
	if n := count(t, db, `SELECT count(DISTINCT serial) FROM certificates`); n != want {
		t.Errorf("distinct serials = %d, want %d", n, want)
	}
}

func count(tb testing.TB, db *postgres.DB, sql string) int {
	tb.Helper()
	n, err := db.CountForTest(ctx, sql)
	if err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestCertificatesFiltersAndPages(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca1, ca2 := mustCA(t, db), mustCA(t, db)
	var all []imprint.Certificate
	for i := range 25 {
		caID := ca1.ID
		if i%5 == 0 {
			caID = ca2.ID
		}
		c := newCert(caID, fmt.Sprintf("dev-%02d", i))
		c.CreatedAt = time.Now().UTC().Add(time.Duration(i) * time.Millisecond).Truncate(time.Microsecond)
		all = append(all, c)
	}
	if err := db.CreateCertificates(ctx, all, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	// Page through everything 7 at a time: each row once, in order.
	seen := map[string]bool{}
	cursor := ""
	pages := 0
	for {
		page, next, err := db.Certificates(ctx, imprint.CertificateFilter{Limit: 7, After: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, c := range page {
			if seen[c.ID] {
				t.Fatalf("certificate %s seen twice", c.ID)
			}
			seen[c.ID] = true
			if c.DER != nil {
				t.Errorf("listing returned DER; listings are summaries")
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 25 || pages != 4 {
		t.Errorf("paged %d certificates in %d pages, want 25 in 4", len(seen), pages)
	}
	tests := []struct {
		name string
		f    imprint.CertificateFilter
		want int
	}{
		{"by CA", imprint.CertificateFilter{CAID: ca2.ID}, 5},
		{"by common name", imprint.CertificateFilter{CommonName: "dev-03"}, 1},
		{"by status", imprint.CertificateFilter{Status: imprint.CertificateRevoked}, 0},
		{"created after", imprint.CertificateFilter{CreatedAfter: all[19].CreatedAt}, 5},
		{"created before", imprint.CertificateFilter{CreatedBefore: all[3].CreatedAt}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := db.Certificates(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("Certificates(%+v) = %d rows, want %d", tt.f, len(got), tt.want)
			}
		})
	}
	if _, _, err := db.Certificates(ctx, imprint.CertificateFilter{After: "not a cursor!"}); imprint.ErrorKind(err) != imprint.Invalid {
		t.Errorf("malformed cursor: kind = %v, want Invalid", imprint.ErrorKind(err))
	}
}

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	key, req := sha(t, "key-1"), sha(t, "body")
	if rec, err := db.IdempotentRecord(ctx, "tok", key); err != nil || rec != nil {
		t.Fatalf("IdempotentRecord() before any request = %v, %v; want nil, nil", rec, err)
	}
	c := newCert(ca.ID, "idem")
	resp := &imprint.IdempotentResponse{TokenID: "tok", KeyHash: key, RequestHash: req, StatusCode: 201, Body: []byte(`{"ok":true}`)}
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c}, imprint.SystemActor, resp); err != nil {
		t.Fatal(err)
	}
	rec, err := db.IdempotentRecord(ctx, "tok", key)
	if err != nil || rec == nil || rec.StatusCode != 201 || string(rec.Body) != `{"ok":true}` || string(rec.RequestHash) != string(req) {
		t.Fatalf("IdempotentRecord() after completion = %+v, %v; want the stored 201 response", rec, err)
	}
	// Another token's key space is its own.
	if rec, err := db.IdempotentRecord(ctx, "tok2", key); err != nil || rec != nil {
		t.Fatalf("other token's record = %v, %v; want nil, nil", rec, err)
	}
	// A second completion for the key fails, and takes its certificate with it.
	again := &imprint.IdempotentResponse{TokenID: "tok", KeyHash: key, RequestHash: req, StatusCode: 201, Body: []byte(`{}`)}
	c2 := newCert(ca.ID, "idem-2")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c2}, imprint.SystemActor, again); imprint.ErrorKind(err) != imprint.Conflict {
		t.Errorf("second completion: kind = %v (%v), want Conflict", imprint.ErrorKind(err), err)
	}
	if _, err := db.Certificate(ctx, c2.ID); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("certificate of a failed transaction was stored (err = %v)", err)
	}
	// A claim left by an earlier version (no response) reads as absent and
	// is taken by the first completion.
	stale := sha(t, "stale")
	if err := db.ExecForTest(ctx, `INSERT INTO idempotency_keys (token_id, key_hash, request_hash) VALUES ('tok', $1, $2)`,
		stale, req); err != nil {
		t.Fatal(err)
	}
	if rec, err := db.IdempotentRecord(ctx, "tok", stale); err != nil || rec != nil {
		t.Fatalf("record of a stale claim = %v, %v; want nil, nil", rec, err)
	}
	c3 := newCert(ca.ID, "idem-3")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c3}, imprint.SystemActor,
		&imprint.IdempotentResponse{TokenID: "tok", KeyHash: stale, RequestHash: req, StatusCode: 201, Body: []byte(`{"c":3}`)}); err != nil {
		t.Fatalf("completion over a stale claim: %v", err)
	}
	if rec, err := db.IdempotentRecord(ctx, "tok", stale); err != nil || rec == nil || string(rec.Body) != `{"c":3}` {
		t.Fatalf("record after completing a stale claim = %+v, %v", rec, err)
	}
}

// TestIdempotentCompletionsRace commits many requests with one
// Idempotency-Key at once, as replicas serving concurrent retries would:
// exactly one records its certificate and response.
func TestIdempotentCompletionsRace(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	key, req := sha(t, "race"), sha(t, "body")
	const n = 12
	errs := make([]error, n)
	certs := make([]imprint.Certificate, n)
	var wg sync.WaitGroup
	for i := range n {
		certs[i] = newCert(ca.ID, fmt.Sprintf("race-%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateCertificates(ctx, []imprint.Certificate{certs[i]}, imprint.SystemActor,
				&imprint.IdempotentResponse{TokenID: "tok", KeyHash: key, RequestHash: req, StatusCode: 201, Body: []byte(fmt.Sprintf(`{"i":%d}`, i))})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("requests %d and %d both committed", winner, i)
		case err == nil:
			winner = i
		case imprint.ErrorKind(err) != imprint.Conflict:
			t.Errorf("request %d: kind = %v (%v), want Conflict", i, imprint.ErrorKind(err), err)
		}
	}
	if winner < 0 {
		t.Fatal("no request committed")
	}
	if n := count(t, db, `SELECT count(*) FROM certificates`); n != 1 {
		t.Errorf("certificates = %d, want 1", n)
	}
	if rec, err := db.IdempotentRecord(ctx, "tok", key); err != nil || rec == nil || string(rec.Body) != fmt.Sprintf(`{"i":%d}`, winner) {
		t.Errorf("recorded response = %+v, %v; want the winner's (%d)", rec, err, winner)
	}
}

func sha(tb testing.TB, s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func TestTokens(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	tok, secret, err := imprint.NewToken("line-1", imprint.RoleFactory)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(ctx, tok, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	id, hash, ok := imprint.ParseToken(secret)
	if !ok || id != tok.ID {
		t.Fatalf("ParseToken() = %q, %v; want %q", id, ok, tok.ID)
	}
	got, err := db.Token(ctx, id)
	if err != nil || !got.Matches(hash) || got.Role != imprint.RoleFactory {
		t.Fatalf("Token() = %+v, %v; want the factory token matching its secret", got, err)
	}
	if n := count(t, db, `SELECT count(*) FROM api_tokens WHERE hash = sha256(convert_to('`+secret+`', 'UTF8'))`); n != 0 {
		t.Errorf("the whole bearer string is stored hashed as-is; want only the secret's hash")
	}
	if n := count(t, db, `SELECT count(*) FROM api_tokens WHERE position(convert_to('`+secret[len(secret)-20:]+`', 'UTF8') in hash) > 0`); n != 0 {
		t.Errorf("the token secret is stored in clear")
	}
	dup, _, _ := imprint.NewToken("line-1", imprint.RoleAdmin)
	err = db.CreateToken(ctx, dup, imprint.SystemActor)
	if imprint.ErrorKind(err) != imprint.Conflict || imprint.ErrorMessage(err) != `a token named "line-1" already exists` {
		t.Errorf("duplicate name: %v %q, want Conflict saying the name is taken", imprint.ErrorKind(err), imprint.ErrorMessage(err))
	}
	// The whole error is what the command line prints: no SQL in it.
	if err != nil && (strings.Contains(err.Error(), "SQLSTATE") || strings.Contains(err.Error(), "api_tokens") || strings.Contains(err.Error(), "insert")) {
		t.Errorf("duplicate name error = %q, want no SQL", err)
	}
	if n, err := db.CountTokens(ctx); err != nil || n != 1 {
		t.Errorf("CountTokens() = %d, %v; want 1", n, err)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE type = 'token.created'`); n != 1 {
		t.Errorf("token.created events = %d, want 1", n)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	mustCA(t, db)
	if _, err := db.CountForTest(ctx, `WITH d AS (DELETE FROM audit_events RETURNING 1) SELECT count(*) FROM d`); err == nil {
		t.Error("deleting audit events succeeded; the log must be append-only")
	}
	if _, err := db.CountForTest(ctx, `WITH u AS (UPDATE audit_events SET type = 'x' RETURNING 1) SELECT count(*) FROM u`); err == nil {
		t.Error("updating audit events succeeded; the log must be append-only")
	}
}

func TestMigrationsDownAndUpAndConcurrentReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := postgres.Open(ctx, url, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, dirty, err := db.MigrationVersion(ctx)
	if err != nil || v == 0 || dirty {
		t.Fatalf("MigrationVersion() = %d, %v, %v; want the latest, clean", v, dirty, err)
	}
	latest := v
	for range latest {
		if err := db.MigrateDown(ctx); err != nil {
			t.Fatalf("MigrateDown() error = %v", err)
		}
	}
	if v, _, _ := db.MigrationVersion(ctx); v != 0 {
		t.Fatalf("after all downs, version = %d, want 0", v)
	}
	// Five replicas start at once: one migrates, the others wait and succeed.
	var wg sync.WaitGroup
	errs := make([]error, 5)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := postgres.Open(ctx, url, log)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			errs[i] = r.MigrateUp(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: MigrateUp() error = %v", i, err)
		}
	}
	if v, dirty, _ := db.MigrationVersion(ctx); v != latest || dirty {
		t.Errorf("after concurrent ups, version = %d (dirty %v), want %d", v, dirty, latest)
	}
	if err := db.MigrateUp(ctx); err != nil {
		t.Errorf("MigrateUp() on a current database = %v, want nil (no change is success)", err)
	}
}

func TestDatabaseDownIsUnavailable(t *testing.T) {
	t.Parallel()
	db, err := postgres.Open(ctx, pgtest.URL(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Ping(ctx); imprint.ErrorKind(err) != imprint.Unavailable {
		t.Errorf("Ping() on a closed pool: kind = %v (%v), want Unavailable", imprint.ErrorKind(err), err)
	}
	if _, err := postgres.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", slog.Default()); imprint.ErrorKind(err) != imprint.Unavailable {
		t.Errorf("Open() of an unreachable server: kind = %v (%v), want Unavailable", imprint.ErrorKind(err), err)
	}
}

// TestBothWritePaths records a small group (one INSERT of arrays) and a large
// one (COPY), with SANs that need quoting, and reads them back unchanged.
func TestBothWritePaths(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	odd := []string{`uri:urn:x:"quoted"`, `dns:back\slash.example`, "email:a,b@example.com", "uri:urn:{braces}", "dns:"}
	for _, n := range []int{3, 300} {
		batch := make([]imprint.Certificate, n)
		for i := range batch {
			batch[i] = newCert(ca.ID, fmt.Sprintf("p%d-%d", n, i))
			batch[i].SANs = odd
		}
		batch[0].SANs = nil
		if err := db.CreateCertificates(ctx, batch, imprint.Actor{Name: "n", Role: imprint.RoleAdmin}, nil); err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		for _, want := range []imprint.Certificate{batch[0], batch[n-1]} {
			got, err := db.Certificate(ctx, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.SANs) != fmt.Sprint(want.SANs) && !(len(want.SANs) == 0 && len(got.SANs) == 0) {
				t.Errorf("%d rows: SANs = %q, want %q", n, got.SANs, want.SANs)
			}
		}
	}
	if n := count(t, db, `SELECT count(*) FROM audit_events WHERE type = 'certificate.issued' AND actor_token IS NULL`); n != 303 {
		t.Errorf("issue events without a token = %d, want 303", n)
	}
}

// TestRenewalGrace checks that a renewed certificate stays ACTIVE through
// its grace and is revoked as superseded once the grace has passed by the
// time RevokeSuperseded is given.
func TestRenewalGrace(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t)
	db, err := postgres.Open(ctx, dbURL, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	ca := mustCA(t, db)
	old := newCert(ca.ID, "grace")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{old}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	renewal := newCert(ca.ID, "grace")
	const grace = time.Hour
	if _, err := db.RenewCertificate(ctx, old.ID, renewal, grace, imprint.ProofAdmin, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	var revokeAfter, renewedAt time.Time
	if err := pgtest.Conn(t, dbURL).QueryRow(ctx, `SELECT revoke_after, updated_at FROM certificates WHERE id = $1`, old.ID).
		Scan(&revokeAfter, &renewedAt); err != nil {
		t.Fatal(err)
	}
	if got := revokeAfter.Sub(renewedAt); got != grace {
		t.Fatalf("revoke_after - renewal time = %v, want the grace, %v", got, grace)
	}
	if n, err := db.RevokeSuperseded(ctx, revokeAfter.Add(-time.Microsecond), 10); err != nil || n != 0 {
		t.Fatalf("RevokeSuperseded() within the grace = %d, %v; want 0", n, err)
	}
	if got, _ := db.Certificate(ctx, old.ID); got.Status != imprint.CertificateActive || got.SupersededBy != renewal.ID {
		t.Fatalf("old certificate within the grace = %s superseded by %q", got.Status, got.SupersededBy)
	}
	if _, err := db.RenewCertificate(ctx, old.ID, newCert(ca.ID, "grace"), 0, imprint.ProofAdmin, imprint.SystemActor); imprint.ErrorKind(err) != imprint.Conflict {
		t.Errorf("renewing twice: kind = %v, want Conflict", imprint.ErrorKind(err))
	}
	if n, err := db.RevokeSuperseded(ctx, revokeAfter, 10); err != nil || n != 1 {
		t.Fatalf("RevokeSuperseded() after the grace = %d, %v; want 1", n, err)
	}
	got, _ := db.Certificate(ctx, old.ID)
	if got.Status != imprint.CertificateRevoked || got.Revocation.Reason != imprint.ReasonSuperseded {
		t.Errorf("old certificate after the grace = %s %+v, want REVOKED superseded", got.Status, got.Revocation)
	}
	if n := count(t, db, `SELECT count(*) FROM crl_dirty WHERE ca_id = '`+ca.ID+`'`); n != 1 {
		t.Errorf("the CA's CRL is not marked out of date after the revocation")
	}
	if n, err := db.RevokeSuperseded(ctx, revokeAfter.Add(grace), 10); err != nil || n != 0 {
		t.Errorf("RevokeSuperseded() again = %d, %v; want 0", n, err)
	}
}
