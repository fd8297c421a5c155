package api_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBulkRevoke(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var certs []issued
	for i := range 24 {
		certs = append(certs, e.issueOne("bulk-"+string(rune('a'+i))))
	}
	caID := certs[0].CAID
	ids := []string{certs[0].CertificateID, certs[1].CertificateID, strings.Repeat("0", 64)}
	r := e.do("POST", "/v1/certificates/revoke", e.admin, map[string]any{"certificateIds": ids, "reason": "keyCompromise"})
	var job struct {
		JobID, Status                              string
		Matched, AlreadyRevoked, Revoked, NotFound int64
	}
	r.json(t, &job)
	if r.status != 200 || job.Status != "SUCCEEDED" || job.Matched != 2 || job.Revoked != 2 || job.NotFound != 1 {
		t.Fatalf("bulk by IDs = %d %s", r.status, r.body)
	}
	serials := []string{certs[2].Serial, strings.ToUpper(certs[3].Serial), certs[0].Serial}
	r = e.do("POST", "/v1/certificates/revoke", e.admin, map[string]any{"caId": caID, "serials": serials})
	r.json(t, &job)
	if r.status != 200 || job.Revoked != 2 || job.AlreadyRevoked != 1 || job.Matched != 3 {
		t.Fatalf("bulk by serials = %d %s", r.status, r.body)
	}
	// Everything the CA issued in a window: a compromised production lot.
	r = e.do("POST", "/v1/certificates/revoke", e.admin, map[string]any{"caId": caID,
		"issuedAfter": time.Now().Add(-time.Hour).Format(time.RFC3339), "issuedBefore": time.Now().Add(time.Minute).Format(time.RFC3339),
		"reason": "caCompromise"})
	r.json(t, &job)
	if r.status != 200 || job.Matched != 24 || job.AlreadyRevoked != 4 || job.Revoked != 20 {
		t.Fatalf("bulk by window = %d %s", r.status, r.body)
	}
	g := e.do("GET", "/v1/revocation-jobs/"+job.JobID, e.auditor, nil)
	if g.status != 200 || !strings.Contains(string(g.body), `"revoked":20`) {
		t.Errorf("GET job = %d %s", g.status, g.body)
	}
	if n := e.count(`SELECT count(*) FROM certificates WHERE status = 'REVOKED'`); n != 24 {
		t.Errorf("revoked certificates = %d, want 24", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.revoked'`); n != 24 {
		t.Errorf("revocation events = %d, want 24 (one per certificate)", n)
	}
	for name, body := range map[string]any{
		"nothing named":   map[string]any{"reason": "keyCompromise"},
		"both ways":       map[string]any{"certificateIds": ids[:1], "caId": caID, "serials": serials},
		"caId alone":      map[string]any{"caId": caID},
		"bad serial":      map[string]any{"caId": caID, "serials": []string{"xyz"}},
		"reversed window": map[string]any{"caId": caID, "issuedAfter": "2030-01-01T00:00:00Z", "issuedBefore": "2020-01-01T00:00:00Z"},
		"bad reason":      map[string]any{"certificateIds": ids[:1], "reason": "bored"},
		"malformed ID":    map[string]any{"certificateIds": []string{"abc"}},
		"unknown CA":      map[string]any{"caId": strings.Repeat("cd", 32), "serials": []string{"01"}},
	} {
		want := 400
		if name == "unknown CA" {
			want = 404
		}
		if r := e.doInvalid("POST", "/v1/certificates/revoke", e.admin, body); r.status != want {
			t.Errorf("%s: bulk revoke = %d %s, want %d", name, r.status, r.body, want)
		}
	}
	if r := e.doInvalid("GET", "/v1/revocation-jobs/rj_nope", e.admin, nil); r.status != 404 {
		t.Errorf("unknown job = %d, want 404", r.status)
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := p256(t)
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, key, "renew-1")})
	var old issued
	r.json(t, &old)
	r = e.do("POST", "/v1/certificates/"+old.CertificateID+"/renew", e.factory, map[string]string{"csr": csrPEM(t, key, "renew-1")})
	var renewed issued
	r.json(t, &renewed)
	if r.status != 201 || renewed.CertificateID == old.CertificateID || renewed.CAID != old.CAID {
		t.Fatalf("renew = %d %s", r.status, r.body)
	}
	opensslVerify(t, renewed.CertificatePEM, renewed.ChainPEM)
	var o, n struct {
		Status, RenewedFrom, SupersededBy string
		Revocation                        *struct{ Reason string }
	}
	e.do("GET", "/v1/certificates/"+old.CertificateID, e.admin, nil).json(t, &o)
	e.do("GET", "/v1/certificates/"+renewed.CertificateID, e.admin, nil).json(t, &n)
	if o.Status != "REVOKED" || o.Revocation == nil || o.Revocation.Reason != "superseded" || o.SupersededBy != renewed.CertificateID {
		t.Errorf("old after renewal = %+v, want REVOKED superseded by the new one", o)
	}
	if n.Status != "ACTIVE" || n.RenewedFrom != old.CertificateID {
		t.Errorf("renewal = %+v, want ACTIVE, renewed from the old one", n)
	}
	if r := e.do("POST", "/v1/certificates/"+renewed.CertificateID+"/renew", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "someone-else")}); r.status != 400 {
		t.Errorf("renew with another subject = %d %s, want 400", r.status, r.body)
	}
}

func TestCAStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.issueOne("ca-status")
	if r := e.do("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]string{"status": "INACTIVE"}); r.status != 200 {
		t.Fatalf("deactivate CA = %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/certificates", e.factory, map[string]string{"csr": csrPEM(t, p256(t), "x"), "caId": c.CAID})
	if code, _ := r.errorCode(t); r.status != 409 || code != "conflict" {
		t.Errorf("issue from an INACTIVE CA = %d %s, want 409", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]string{"status": "ACTIVE"}); r.status != 200 {
		t.Fatalf("activate CA = %d %s", r.status, r.body)
	}
	e.issueOne("ca-status-2")
	if r := e.doInvalid("PATCH", "/v1/cas/"+c.CAID, e.admin, map[string]string{"status": "GONE"}); r.status != 400 {
		t.Errorf("bad CA status = %d, want 400", r.status)
	}
}

func TestEventsListAndStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/v1/events/stream?type=certificate.revoked", nil)
	req.Header.Set("Authorization", "Bearer "+e.auditor)
	resp, err := e.client.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %v %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	<-lines // the stream's opening comment: subscribed
	c := e.issueOne("ev-1")
	e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{"reason": "keyCompromise"})
	var got []string
	for line := range lines {
		got = append(got, line)
		if strings.HasPrefix(line, "data: ") {
			break
		}
	}
	text := strings.Join(got, "\n")
	if !strings.Contains(text, "event: certificate.revoked") || !strings.Contains(text, c.CertificateID) || strings.Contains(text, "certificate.issued") {
		t.Fatalf("stream said:\n%s", text)
	}
	// The log lists an event once no older transaction on the server still
	// runs (another session can delay that): wait for what is asserted.
	var page struct {
		Events []struct {
			Type, ResourceID string
			Actor            struct{ Name, Role string }
		}
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		e.do("GET", "/v1/events?resourceId="+c.CertificateID, e.auditor, nil).json(t, &page)
		return len(page.Events) == 2, fmt.Sprintf("events of the certificate = %+v", page.Events)
	})
	if page.Events[0].Type != "certificate.issued" || page.Events[1].Type != "certificate.revoked" ||
		page.Events[1].Actor.Role != "admin" {
		t.Errorf("events of the certificate = %+v", page.Events)
	}
	// Page through the whole log one event at a time: each once, in order.
	waitFor(t, 10*time.Second, func() (bool, string) {
		seen, path := map[int64]bool{}, "/v1/events?limit=1"
		for range 100 {
			var p struct {
				Events     []struct{ ID int64 }
				NextCursor string
			}
			e.do("GET", path, e.admin, nil).json(t, &p)
			for _, ev := range p.Events {
				if seen[ev.ID] {
					t.Fatalf("event %d listed twice", ev.ID)
				}
				seen[ev.ID] = true
			}
			if p.NextCursor == "" {
				break
			}
			path = "/v1/events?limit=1&cursor=" + p.NextCursor
		}
		want := e.count(`SELECT count(*) FROM audit_events`)
		return len(seen) == want, fmt.Sprintf("paged %d events, the log holds %d", len(seen), want)
	})
	for _, q := range []string{"type=nope", "after=yesterday", "cursor=-1", "cursor=1.x", "limit=0", "colour=red"} {
		if r := e.doInvalid("GET", "/v1/events?"+q, e.admin, nil); r.status != 400 {
			t.Errorf("GET /v1/events?%s = %d, want 400", q, r.status)
		}
	}
	if r := e.do("GET", "/v1/events", e.factory, nil); r.status != 403 {
		t.Errorf("factory reads events = %d, want 403", r.status)
	}
}

func TestWebhooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const secret = "a-long-enough-secret"
	var mu sync.Mutex
	var bodies []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig := r.Header.Get("Imprint-Signature")
		ts, v1, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		if !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, r.Header.Get("Imprint-Event")+" "+string(body))
		mu.Unlock()
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer bad.Close()
	r := e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": good.URL, "events": []string{"certificate.revoked"}, "secret": secret})
	var hook struct{ WebhookID string }
	r.json(t, &hook)
	if r.status != 201 {
		t.Fatalf("create webhook = %d %s", r.status, r.body)
	}
	r = e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": bad.URL, "events": []string{"*"}, "secret": secret})
	var failing struct{ WebhookID string }
	r.json(t, &failing)
	c := e.issueOne("hook-1")
	e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{"reason": "keyCompromise"})
	waitFor(t, 10*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) > 0, "no delivery received"
	})
	mu.Lock()
	received := append([]string(nil), bodies...)
	mu.Unlock()
	if len(received) != 1 || !strings.HasPrefix(received[0], "certificate.revoked ") || !strings.Contains(received[0], c.CertificateID) {
		t.Fatalf("deliveries received = %q, want one signed certificate.revoked", received)
	}
	type delivery struct {
		Status     string
		Attempts   int
		LastStatus int
	}
	deliveries := func(hookID string) []delivery {
		var ds struct{ Deliveries []delivery }
		e.do("GET", "/v1/webhooks/"+hookID+"/deliveries", e.auditor, nil).json(t, &ds)
		return ds.Deliveries
	}
	// The dispatcher records the outcome after the receiver has answered:
	// wait for the recorded state rather than assert it at once.
	waitFor(t, 10*time.Second, func() (bool, string) {
		ds := deliveries(hook.WebhookID)
		return len(ds) == 1 && ds[0].Status == "DELIVERED" && ds[0].LastStatus == 200,
			fmt.Sprintf("deliveries of the good webhook = %+v, want one DELIVERED with 200", ds)
	})
	waitFor(t, 10*time.Second, func() (bool, string) {
		ds := deliveries(failing.WebhookID)
		return len(ds) >= 2 && ds[0].Status == "PENDING" && ds[0].LastStatus == 500 && ds[0].Attempts >= 1,
			fmt.Sprintf("deliveries of the failing webhook = %+v, want pending retries after a 500", ds)
	})
	if n := e.count(`SELECT count(*) FROM webhooks WHERE secret LIKE '%` + secret + `%'`); n != 0 {
		t.Error("a webhook secret is stored in clear")
	}
	for name, body := range map[string]any{
		"short secret": map[string]any{"url": good.URL, "events": []string{"*"}, "secret": "short"},
		"bad event":    map[string]any{"url": good.URL, "events": []string{"thing.exploded"}, "secret": secret},
		"no url":       map[string]any{"events": []string{"*"}, "secret": secret},
		"credentials":  map[string]any{"url": "https://u:p@example.com/", "events": []string{"*"}, "secret": secret},
	} {
		if r := e.doInvalid("POST", "/v1/webhooks", e.admin, body); r.status != 400 {
			t.Errorf("%s: create webhook = %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := e.do("DELETE", "/v1/webhooks/"+failing.WebhookID, e.admin, nil); r.status != 204 {
		t.Errorf("delete webhook = %d", r.status)
	}
	if r := e.do("DELETE", "/v1/webhooks/"+failing.WebhookID, e.admin, nil); r.status != 404 {
		t.Errorf("delete webhook again = %d, want 404", r.status)
	}
}
