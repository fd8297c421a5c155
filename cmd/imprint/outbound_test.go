package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestServeOutboundAllow checks the wiring of IMPRINT_OUTBOUND_ALLOW: the
// API accepts webhooks in the allowed range and no other internal one, and
// the dispatcher delivers to it.
func TestServeOutboundAllow(t *testing.T) {
	t.Parallel()
	var received atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { received.Add(1) }))
	defer receiver.Close()
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "outbound", "IMPRINT_LOG_LEVEL": "warn",
		"IMPRINT_WEBHOOK_ALLOW_HTTP": "true", "IMPRINT_OUTBOUND_ALLOW": "127.0.0.0/8, fd00:ec2::/32"}
	s := startServe(t, env)
	defer s.stop()
	hook := func(url string) int {
		status, body := post(t, s.url+"/v1/webhooks", s.token, `{"url":"`+url+`","events":["*"],"secret":"a-long-enough-secret"}`)
		if status != 201 && !strings.Contains(string(body), "IMPRINT_OUTBOUND_ALLOW") {
			t.Errorf("create a webhook to %s = %d %s, want 201 or a message naming IMPRINT_OUTBOUND_ALLOW", url, status, body)
		}
		return status
	}
	for url, want := range map[string]int{
		"http://169.254.169.254/latest/meta-data/": 400,
		"http://10.0.0.1/":                         400,
		"http://[fd00:ec2::254]/":                  201,
	} {
		if got := hook(url); got != want {
			t.Errorf("create a webhook to %s = %d, want %d", url, got, want)
		}
	}
	if got := hook(receiver.URL); got != 201 {
		t.Fatalf("create a webhook to %s with 127.0.0.0/8 allowed = %d, want 201", receiver.URL, got)
	}
	hook("http://127.0.0.2:9/") // an event for the receiver's webhook
	waitFor(t, 20*time.Second, func() (bool, string) {
		return received.Load() > 0, "the allowed loopback receiver got no delivery"
	})
}

func TestServeOutboundAllowInvalid(t *testing.T) {
	t.Parallel()
	env := map[string]string{"IMPRINT_DATA_DIR": t.TempDir(), "IMPRINT_OUTBOUND_ALLOW": "127.0.0.0/8,localhost"}
	err := run(context.Background(), serveArgs(env), getenvFrom(env), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "IMPRINT_OUTBOUND_ALLOW") || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("serve with IMPRINT_OUTBOUND_ALLOW=127.0.0.0/8,localhost = %v, want an error naming the bad entry", err)
	}
}
