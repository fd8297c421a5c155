package gateway_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/gateway"
)

// deviceAPI starts the HTTPS device API on 127.0.0.1; it is closed when the
// test ends.
func (f *fixture) deviceAPI(opts ...func(*gateway.DeviceAPIConfig)) *gateway.DeviceAPI {
	f.t.Helper()
	cfg := gateway.DeviceAPIConfig{Listener: f.lc, Engine: f.engine, Log: f.log}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := gateway.NewDeviceAPI(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := d.Serve(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { d.Close() })
	return d
}

// curl asks the device API for path as d with curl and returns the HTTP
// status (0 if the TLS handshake failed) and the body.
func (f *fixture) curl(api *gateway.DeviceAPI, d *device, path string) (int, []byte) {
	f.t.Helper()
	curl := mustTool(f.t, "curl")
	url := "https://" + api.Addr().String() + path
	var out, stderr bytes.Buffer
	cmd := exec.Command(curl, "-sS", "--max-time", "20", "--cacert", f.caFile, "--cert", d.certFile, "--key", d.keyF,
		"-w", "\n%{http_code}", url)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return 0, stderr.Bytes()
	}
	i := strings.LastIndexByte(out.String(), '\n')
	body, code := out.String()[:max(i, 0)], out.String()[i+1:]
	status, err := strconv.Atoi(code)
	if err != nil {
		f.t.Fatalf("curl output %q", out.String())
	}
	return status, []byte(body)
}

// TestDeviceAPIWhoami asks GET /device/v1/whoami with curl: an ACTIVE
// certificate attached to a thing gets its identity, an INACTIVE one 403
// and an unregistered one 401, each with the problem body; an expired one
// fails the handshake.
func TestDeviceAPIWhoami(t *testing.T) {
	noLeak(t)
	f := newFixture(t)
	var clock testClock // moved by the test, read by the listener's goroutines
	api := f.deviceAPI(func(c *gateway.DeviceAPIConfig) {
		c.Listener.Now = func() time.Time {
			return clock.now()
		}
	})
	d := f.device("meter-1", imprint.CertificateActive)
	if err := f.db.CreateThing(ctx, &imprint.Thing{Name: "meter-1", Attributes: map[string]string{}}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AttachPrincipal(ctx, "meter-1", d.cert.ID, true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	status, body := f.curl(api, d, "/device/v1/whoami")
	var who struct{ CertificateID, ThingName, Status, CAID string }
	if err := json.Unmarshal(body, &who); status != 200 || err != nil {
		t.Fatalf("whoami: %d %s (%v)", status, body, err)
	}
	if who.CertificateID != d.cert.ID || who.ThingName != "meter-1" || who.Status != "ACTIVE" || who.CAID != d.cert.CAID {
		t.Errorf("whoami = %+v, want certificate %s, thing meter-1, ACTIVE, CA %s", who, d.cert.ID, d.cert.CAID)
	}

	problem := func(what string, d *device, wantStatus int, wantCode, wantMsg string) {
		t.Helper()
		status, body := f.curl(api, d, "/device/v1/whoami")
		var p struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(body, &p); err != nil || status != wantStatus || p.Error.Code != wantCode ||
			!strings.Contains(p.Error.Message, wantMsg) {
			t.Errorf("%s: %d %s, want %d with code %s saying %q", what, status, body, wantStatus, wantCode, wantMsg)
		}
	}
	inactive := f.device("meter-2", imprint.CertificateInactive)
	problem("inactive", inactive, 403, "forbidden", "is INACTIVE")
	unknown := f.device("meter-3", "")
	problem("unregistered", unknown, 401, "unauthorized", "is not registered")
	if _, err := f.engine.Revoke(ctx, imprint.SystemActor, d.cert.ID, imprint.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	problem("revoked", d, 403, "forbidden", "is REVOKED")

	status, body = f.curl(api, inactive, "/device/v1/nothing")
	if status != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("unknown path: %d %s, want 404 with the problem body", status, body)
	}
	clock.set(d.cert.NotAfter.Add(time.Second))
	if status, body := f.curl(api, inactive, "/device/v1/whoami"); status != 0 {
		t.Errorf("expired certificate: %d %s, want the handshake refused", status, body)
	}
}
