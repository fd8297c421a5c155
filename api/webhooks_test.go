package api_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres/pgtest"
	"github.com/imprint-iot/imprint/webhooks"
)

// internalURLs are webhook and hook URLs that lead to internal addresses,
// literal or in the other notations resolvers accept.
var internalURLs = []string{
	"http://169.254.169.254/latest/meta-data/",
	"http://[fd00:ec2::254]/latest/meta-data/",
	"http://metadata.google.internal/computeMetadata/v1/",
	"http://localhost:5432/",
	"http://api.localhost/",
	"http://0x7f000001/",
	"http://2130706433/",
	"http://017700000001/",
	"http://127.1/",
	"http://127.0.0.1:5432/",
	"http://10.0.0.1/",
	"http://172.16.0.1/",
	"http://192.168.1.1/",
	"http://100.64.0.1/",
	"http://0.0.0.0/",
	"http://[::]/",
	"http://[::1]:5432/",
	"http://[::ffff:127.0.0.1]/",
	"http://[::ffff:a9fe:a9fe]/",
	"http://[64:ff9b::a9fe:a9fe]/",
	"http://[fe80::1%25eth0]/",
	"http://224.0.0.1/",
	"http://255.255.255.255/",
	"https://169.254.169.254/",
}

// TestOutboundURLsRefused checks that webhooks and pre-provisioning hooks
// cannot be pointed at internal addresses without the allow list.
func TestOutboundURLsRefused(t *testing.T) {
	t.Parallel()
	e := newEnvAllowing(t, nil)
	const secret = "a-long-enough-secret"
	for _, u := range internalURLs {
		r := e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": u, "events": []string{"*"}, "secret": secret})
		if code, msg := r.errorCode(t); r.status != 400 || code != "invalid" || !strings.Contains(msg, "url host") {
			t.Errorf("create a webhook to %s = %d %s, want 400 about the url host", u, r.status, r.body)
		}
		r = e.do("POST", "/v1/provisioning-templates", e.admin, map[string]any{"name": "fleet", "type": "FLEET_PROVISIONING",
			"body":                `{"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"x"}}}}`,
			"preProvisioningHook": map[string]any{"url": u, "secret": secret}})
		if code, msg := r.errorCode(t); r.status != 400 || code != "invalid" || !strings.Contains(msg, "preProvisioningHook: url host") {
			t.Errorf("create a template hooked to %s = %d %s, want 400 about the url host", u, r.status, r.body)
		}
	}
	if n := e.count(`SELECT count(*) FROM webhooks`); n != 0 {
		t.Errorf("%d webhooks stored, want none", n)
	}
	// A template with a public hook, which PATCH may not point inwards.
	r := e.do("POST", "/v1/provisioning-templates", e.admin, map[string]any{"name": "fleet", "type": "FLEET_PROVISIONING",
		"body":                `{"Resources":{"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":"x"}}}}`,
		"preProvisioningHook": map[string]any{"url": "https://hooks.example.com/check", "secret": secret}})
	if r.status != 201 {
		t.Fatalf("create a template with a public hook = %d %s", r.status, r.body)
	}
	r = e.do("PATCH", "/v1/provisioning-templates/fleet", e.admin, map[string]any{
		"preProvisioningHook": map[string]any{"url": "https://169.254.169.254/", "secret": secret}})
	if code, _ := r.errorCode(t); r.status != 400 || code != "invalid" {
		t.Errorf("point a hook at 169.254.169.254 = %d %s, want 400", r.status, r.body)
	}

	// The allow list lets loopback in, and nothing else.
	e = newEnv(t)
	r = e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": "http://127.0.0.1:9/", "events": []string{"*"}, "secret": secret})
	if r.status != 201 {
		t.Errorf("create a webhook to 127.0.0.1 with 127.0.0.0/8 allowed = %d %s, want 201", r.status, r.body)
	}
	r = e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": "http://169.254.169.254/", "events": []string{"*"}, "secret": secret})
	if r.status != 400 {
		t.Errorf("create a webhook to 169.254.169.254 with 127.0.0.0/8 allowed = %d %s, want 400", r.status, r.body)
	}
}

// TestWebhookRefusedByPolicy checks the dial-time check: a webhook stored
// while its address was allowed (or whose name has since resolved to
// loopback) is not delivered, and its deliveries say "refused by policy"
// without the address or port.
func TestWebhookRefusedByPolicy(t *testing.T) {
	t.Parallel()
	e := newEnvAllowing(t, nil)
	var received atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { received.Add(1) }))
	defer receiver.Close()
	_, port, _ := net.SplitHostPort(receiver.Listener.Addr().String())
	box, err := webhooks.NewSecretBox(bytes.Repeat([]byte{7}, 32)) // newEnv's key
	if err != nil {
		t.Fatal(err)
	}
	// The name of the local machine, which resolves to loopback; the
	// dialer sees the address.
	hook := &imprint.Webhook{ID: "wh_00000000000000000000100b", URL: strings.Replace(receiver.URL, "127.0.0.1", "localhost", 1),
		EventTypes: []string{"*"}, SealedSecret: box.Seal("a-long-enough-secret"), Enabled: true}
	if err := e.db.CreateWebhook(ctx, hook, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	c := e.issueOne("refused-1")
	e.do("POST", "/v1/certificates/"+c.CertificateID+"/revoke", e.admin, map[string]string{"reason": "keyCompromise"})

	type deliveries struct {
		Deliveries []struct {
			Status     string
			Attempts   int
			LastStatus int
			LastError  string
		}
	}
	var ds deliveries
	var body []byte
	waitFor(t, 15*time.Second, func() (bool, string) {
		r := e.do("GET", "/v1/webhooks/"+hook.ID+"/deliveries", e.auditor, nil)
		body = r.body
		r.json(t, &ds)
		return len(ds.Deliveries) > 0 && ds.Deliveries[len(ds.Deliveries)-1].Attempts > 0, fmt.Sprintf("no delivery attempted: %s", r.body)
	})
	d := ds.Deliveries[len(ds.Deliveries)-1]
	if d.Status != "PENDING" || d.LastError != "refused by policy" || d.LastStatus != 0 {
		t.Errorf("delivery = %+v, want PENDING, refused by policy", d)
	}
	for _, leak := range []string{port, "127.0.0.1", "localhost", "dial", "connect", "::1"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("the deliveries an auditor reads hold %q: %s", leak, body)
		}
	}
	if n := e.count(`SELECT count(*) FROM webhook_deliveries WHERE webhook_id = 'wh_00000000000000000000100b' AND last_error = 'refused by policy'`); n == 0 {
		t.Error("no delivery recorded as refused by policy")
	}
	if n := received.Load(); n != 0 {
		t.Errorf("the loopback receiver got %d deliveries, want 0", n)
	}

	// Errors recorded before categories (raw dial errors) show as theirs.
	conn := pgtest.Conn(t, e.dbURL)
	if _, err := conn.Exec(ctx, `UPDATE webhook_deliveries SET last_error = 'Post "http://127.0.0.1:`+port+
		`/": dial tcp 127.0.0.1:`+port+`: connect: connection refused', last_status = NULL WHERE webhook_id = 'wh_00000000000000000000100b'`); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/v1/webhooks/"+hook.ID+"/deliveries", e.auditor, nil)
	r.json(t, &ds)
	// The oldest delivery was attempted (waited for above); newer ones may
	// not be yet, and show no error.
	if len(ds.Deliveries) == 0 || ds.Deliveries[len(ds.Deliveries)-1].LastError != "connection failed" || strings.Contains(string(r.body), port) {
		t.Errorf("a raw dial error recorded earlier reads %s, want \"connection failed\"", r.body)
	}
}

// TestWebhookFailureCategories checks what deliveries that fail at the
// endpoint record: the HTTP status, or the kind of failure.
func TestWebhookFailureCategories(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/"
	ln.Close()
	tlsOnly := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tlsOnly.Close()
	want := map[string]string{
		down.URL:    "HTTP status " + strconv.Itoa(http.StatusServiceUnavailable),
		closedURL:   "connection failed",
		tlsOnly.URL: "TLS", // a certificate no root vouches for
	}
	ids := map[string]string{}
	for u := range want {
		var hook struct{ WebhookID string }
		r := e.do("POST", "/v1/webhooks", e.admin, map[string]any{"url": u, "events": []string{"*"}, "secret": "a-long-enough-secret"})
		if r.status != 201 {
			t.Fatalf("create a webhook to %s = %d %s", u, r.status, r.body)
		}
		r.json(t, &hook)
		ids[u] = hook.WebhookID
	}
	e.issueOne("categories-1")
	for u, id := range ids {
		var ds struct {
			Deliveries []struct {
				Attempts  int
				LastError string
			}
		}
		waitFor(t, 15*time.Second, func() (bool, string) {
			e.do("GET", "/v1/webhooks/"+id+"/deliveries", e.auditor, nil).json(t, &ds)
			return len(ds.Deliveries) > 0 && ds.Deliveries[len(ds.Deliveries)-1].Attempts > 0, fmt.Sprintf("%s: no delivery attempted", u)
		})
		if got := ds.Deliveries[len(ds.Deliveries)-1].LastError; got != want[u] {
			t.Errorf("%s: lastError = %q, want %q", u, got, want[u])
		}
	}
}
