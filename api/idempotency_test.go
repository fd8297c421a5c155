package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// start sends a JSON request to base without waiting for its answer; the
// answer (status 0 and the error for a failed round trip) comes on the
// channel.
func (e *env) start(base, method, path, token string, body any, headers ...string) <-chan response {
	e.t.Helper()
	j, err := json.Marshal(body)
	if err != nil {
		e.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(j))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	out := make(chan response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- response{body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		out <- response{status: resp.StatusCode, header: resp.Header, body: data}
	}()
	return out
}

// lockCertificates holds an exclusive lock on the certificates table, so that
// every request that records a certificate waits, until release is called.
func (e *env) lockCertificates() (release func()) {
	e.t.Helper()
	conn := pgtest.Conn(e.t, e.dbURL)
	tx, err := conn.Begin(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE certificates IN ACCESS EXCLUSIVE MODE`); err != nil {
		e.t.Fatal(err)
	}
	return func() { tx.Rollback(ctx) } //nolint:errcheck // the connection may be gone with the database
}

// waitForLockWaiters waits until n sessions of the test database wait for the
// lock to copy certificates in, as the recording of an idempotent request
// does (pgx first reads the columns' types, then copies).
func (e *env) waitForLockWaiters(n int) {
	e.t.Helper()
	conn := pgtest.Conn(e.t, e.dbURL)
	waitFor(e.t, 20*time.Second, func() (bool, string) {
		var got int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'
			  AND query LIKE '%"certificates"%'`).Scan(&got); err != nil {
			e.t.Fatal(err)
		}
		return got >= n, fmt.Sprintf("%d sessions wait for a lock, want %d", got, n)
	})
}

// TestIdempotencyKeyFreeAfterDatabaseLoss cuts the database off while a
// request with an Idempotency-Key is recording its certificate: it fails, and
// its key is usable again as soon as the database is back.
func TestIdempotencyKeyFreeAfterDatabaseLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "warm")}); r.status != 201 {
		t.Fatalf("issue before = %d", r.status) // warms the token cache, so auth does not need the database
	}
	body := map[string]string{"csr": csrPEM(t, p256(t), "cut")}
	release := e.lockCertificates()
	defer release()
	inFlight := e.start(e.url, "POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "cut-1")
	e.waitForLockWaiters(1)

	u, _ := url.Parse(e.dbURL)
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin := pgtest.Conn(t, u.String())
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`); err != nil {
		t.Fatal(err)
	}
	// The request waiting on the lock goes first: were the lock's holder
	// ended first, the request could take the lock and commit before its
	// own end came.
	for _, which := range []string{`AND wait_event_type = 'Lock'`, ``} {
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 `+which, name); err != nil {
			t.Fatal(err)
		}
	}
	first := <-inFlight
	if first.status != 503 || strings.Contains(string(first.body), "BEGIN CERTIFICATE") {
		t.Fatalf("request that lost the database = %d %s, want 503 and no certificate", first.status, first.body)
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		r := e.do("GET", "/readyz", "", nil)
		return r.status == 200, fmt.Sprintf("readyz after the database came back = %d %s", r.status, r.body)
	})
	// The retry issues at once. (A 503 may still come from a pooled
	// connection the outage killed; a client retries that. Never a 409.)
	var retry response
	for range 5 {
		if retry = e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "cut-1"); retry.status != 503 {
			break
		}
	}
	if retry.status != 201 || retry.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("retry after the database came back = %d %s, want a fresh 201", retry.status, retry.body)
	}
	replay := e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "cut-1")
	if replay.status != 201 || replay.header.Get("Idempotent-Replayed") != "true" || string(replay.body) != string(retry.body) {
		t.Errorf("replay = %d %s, want the retry's answer", replay.status, replay.body)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 2 {
		t.Errorf("certificates = %d, want 2 (the one before and the retry's)", n)
	}
}

// TestIdempotentRetryWhileInFlight retries a request while the first is
// provably still running: 409, then the first's answer once it is done, and
// one certificate.
func TestIdempotentRetryWhileInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := map[string]string{"csr": csrPEM(t, p256(t), "busy")}
	release := e.lockCertificates()
	inFlight := e.start(e.url, "POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "busy-1")
	e.waitForLockWaiters(1)
	r := e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "busy-1")
	if code, msg := r.errorCode(t); r.status != 409 || code != "conflict" || !strings.Contains(msg, "still being processed") {
		t.Errorf("retry while in flight = %d %s, want 409 still being processed", r.status, r.body)
	}
	release()
	first := <-inFlight
	if first.status != 201 {
		t.Fatalf("first = %d %s", first.status, first.body)
	}
	again := e.do("POST", "/v1/certificates", e.factory, body, "Idempotency-Key", "busy-1")
	if again.status != 201 || again.header.Get("Idempotent-Replayed") != "true" || string(again.body) != string(first.body) {
		t.Errorf("retry after = %d %s, want the first answer replayed", again.status, again.body)
	}
	if n := e.count(`SELECT count(*) FROM certificates`); n != 1 {
		t.Errorf("certificates = %d, want 1", n)
	}
}

// TestIdempotentRetryOnTwoReplicas sends one request with one key to two
// replicas at once; both sign, both wait to record, one commits, and the
// other answers with the first's response: one certificate, two equal
// answers.
func TestIdempotentRetryOnTwoReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db2, err := postgres.Open(ctx, e.dbURL, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db2.Close)
	replica := httptest.NewServer(mustServer(t, log, db2, e.ca, loopbackAllowed).Handler)
	t.Cleanup(replica.Close)

	for _, path := range []string{"/v1/certificates", "/v1/certificates/batch"} {
		var body any = map[string]string{"csr": csrPEM(t, p256(t), "twin")}
		if strings.HasSuffix(path, "batch") {
			body = map[string][]string{"csrs": {csrPEM(t, p256(t), "twin-a"), csrPEM(t, p256(t), "twin-b")}}
		}
		before := e.count(`SELECT count(*) FROM certificates`)
		release := e.lockCertificates()
		a := e.start(e.url, "POST", path, e.factory, body, "Idempotency-Key", "twin-"+path)
		b := e.start(replica.URL, "POST", path, e.factory, body, "Idempotency-Key", "twin-"+path)
		e.waitForLockWaiters(2)
		release()
		ra, rb := <-a, <-b
		if ra.status/100 != 2 || ra.status != rb.status || string(ra.body) != string(rb.body) {
			t.Errorf("%s: answers = %d %s and %d %s, want one answer twice", path, ra.status, ra.body, rb.status, rb.body)
		}
		if ra.header.Get("Idempotent-Replayed") == rb.header.Get("Idempotent-Replayed") {
			t.Errorf("%s: Idempotent-Replayed = %q and %q, want it on one answer only", path,
				ra.header.Get("Idempotent-Replayed"), rb.header.Get("Idempotent-Replayed"))
		}
		want := 1
		if strings.HasSuffix(path, "batch") {
			want = 2
		}
		if n := e.count(`SELECT count(*) FROM certificates`) - before; n != want {
			t.Errorf("%s: certificates recorded = %d, want %d", path, n, want)
		}
	}
}
