package webhooks_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/webhooks"
)

// mustOpenSSL returns the path of openssl, skipping the test without it
// unless CI is set.
func mustOpenSSL(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("openssl is required when CI is set: %v", err)
		}
		tb.Skipf("openssl not found (CI unset, so skipping): %v", err)
	}
	return path
}

// TestSignAgainstOpenSSL checks the signature header against the HMAC that
// openssl computes over "<t>.<body>".
func TestSignAgainstOpenSSL(t *testing.T) {
	t.Parallel()
	openssl := mustOpenSSL(t)
	at := time.Unix(1764590400, 999_000_000) // the fraction of a second is not signed
	tests := []struct{ name, secret, body string }{
		{"event", "a-long-enough-secret", `{"id":1,"type":"certificate.revoked"}`},
		{"empty body", "another secret, with spaces", ``},
		{"utf-8", "ünïcödé-secret-1234", `{"resourceId":"gerät-7"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(openssl, "dgst", "-sha256", "-hmac", tt.secret, "-r")
			cmd.Stdin = strings.NewReader("1764590400." + tt.body)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("openssl dgst: %v", err)
			}
			mac, _, _ := strings.Cut(string(out), " ")
			want := "t=1764590400,v1=" + strings.TrimSpace(mac)
			if got := webhooks.Sign(tt.secret, at, []byte(tt.body)); got != want {
				t.Errorf("Sign() = %q, want %q (openssl)", got, want)
			}
		})
	}
}

// TestSignBindsEverything checks that another secret, time or body gives
// another signature, and that a receiver's check of the documented format
// accepts it.
func TestSignBindsEverything(t *testing.T) {
	t.Parallel()
	at := time.Unix(1764590400, 0)
	body := []byte(`{"id":1}`)
	sig := webhooks.Sign("a-long-enough-secret", at, body)
	for name, other := range map[string]string{
		"secret": webhooks.Sign("a-long-enough-secreT", at, body),
		"time":   webhooks.Sign("a-long-enough-secret", at.Add(time.Second), body),
		"body":   webhooks.Sign("a-long-enough-secret", at, []byte(`{"id":2}`)),
	} {
		if other == sig {
			t.Errorf("another %s gives the same signature %q", name, sig)
		}
	}
	ts, v1, ok := strings.Cut(strings.TrimPrefix(sig, "t="), ",v1=")
	mac := hmac.New(sha256.New, []byte("a-long-enough-secret"))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !ok || !hmac.Equal([]byte(v1), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		t.Errorf("Sign() = %q does not check as documented", sig)
	}
}

func mustSecretBox(tb testing.TB, key byte) *webhooks.SecretBox {
	tb.Helper()
	box, err := webhooks.NewSecretBox(bytes.Repeat([]byte{key}, 32))
	if err != nil {
		tb.Fatal(err)
	}
	return box
}

// TestSecretBox checks that sealed secrets open to what was sealed, hold
// nothing of it in clear, differ each time, and open under no other key
// and in no altered form.
func TestSecretBox(t *testing.T) {
	t.Parallel()
	box := mustSecretBox(t, 7)
	const secret = "a-long-enough-secret"
	sealed := box.Seal(secret)
	if got, err := box.Open(sealed); err != nil || got != secret {
		t.Fatalf("Open(Seal(%q)) = %q, %v", secret, got, err)
	}
	if strings.Contains(sealed, secret) || strings.Contains(sealed, base64.RawStdEncoding.EncodeToString([]byte(secret))) {
		t.Errorf("Seal() = %q shows the secret", sealed)
	}
	if again := box.Seal(secret); again == sealed {
		t.Errorf("Seal() twice = %q both times, want a fresh nonce each time", sealed)
	}
	if got, err := box.Open(box.Seal("")); err != nil || got != "" {
		t.Errorf("Open(Seal(\"\")) = %q, %v", got, err)
	}

	raw, _ := base64.RawStdEncoding.DecodeString(sealed)
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1
	for name, bad := range map[string]string{
		"empty":       "",
		"not base64":  "not base64!",
		"short":       base64.RawStdEncoding.EncodeToString(raw[:5]),
		"nonce only":  base64.RawStdEncoding.EncodeToString(raw[:12]),
		"altered":     base64.RawStdEncoding.EncodeToString(flipped),
		"in the open": secret,
	} {
		if got, err := box.Open(bad); err == nil {
			t.Errorf("%s: Open(%q) = %q, want an error", name, bad, got)
		}
	}
	if got, err := mustSecretBox(t, 8).Open(sealed); err == nil {
		t.Errorf("Open under another key = %q, want an error", got)
	}
}

func TestNewSecretBoxKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 8, 31, 33, 64} {
		if _, err := webhooks.NewSecretBox(make([]byte, n)); err == nil {
			t.Errorf("NewSecretBox(%d bytes) succeeded, want an error", n)
		}
	}
}

// TestDeliveryError checks what readers of the deliveries see of their
// errors: categories and the dispatcher's own messages as they are, and
// anything else (raw errors recorded before categories) as its category.
func TestDeliveryError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		d    imprint.Delivery
		want string
	}{
		{"none", imprint.Delivery{Status: imprint.DeliveryDelivered, LastStatus: 200}, ""},
		{"category", imprint.Delivery{LastError: "refused by policy"}, "refused by policy"},
		{"own message", imprint.Delivery{LastError: "cannot open the webhook's secret (was the CA passphrase changed?)"},
			"cannot open the webhook's secret (was the CA passphrase changed?)"},
		{"status category", imprint.Delivery{LastError: "HTTP status 503", LastStatus: 503}, "HTTP status 503"},
		{"raw with a status", imprint.Delivery{LastError: "500 Internal Server Error from 10.0.0.7:8080", LastStatus: 500}, "HTTP status 500"},
		{"raw dial error", imprint.Delivery{LastError: `Post "http://127.0.0.1:9/": dial tcp 127.0.0.1:9: connect: connection refused`}, "connection failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := webhooks.DeliveryError(tt.d); got != tt.want {
				t.Errorf("DeliveryError(%q) = %q, want %q", tt.d.LastError, got, tt.want)
			}
		})
	}
}
