package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// runImprint runs the command and returns its output and error.
func runImprint(args ...string) (string, error) {
	var out, errOut syncBuffer
	err := run(context.Background(), args, getenvFrom(nil), &out, &errOut)
	return out.String() + errOut.String(), err
}

// TestDeviceConnect connects a factory-issued device to `imprint serve`
// with `imprint device connect` over MQTT 5, MQTT 3.1.1 and HTTPS: refused
// with the reason (and a non-zero exit) while no policy allows iot:Connect,
// let in once one does; then `imprint bench connect` makes first
// connections of a customer CA's devices (JITP) and reconnections, and
// every one is let in, and 70 sessions are held open at once.
func TestDeviceConnect(t *testing.T) {
	t.Parallel()
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "connect", "IMPRINT_LOG_LEVEL": "warn"}
	s := startServe(t, env)
	defer s.stop()
	dir := t.TempDir()
	resp, err := http.Get(s.url + "/ca/device-endpoint.pem")
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	caFile := filepath.Join(dir, "device-endpoint.pem")
	if err := os.WriteFile(caFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runImprint("device", "enroll", "--api", s.url, "--token", s.token, "--cn", "sensor-7", "--out", dir); err != nil {
		t.Fatalf("device enroll: %v\n%s", err, out)
	}
	certOut, _ := os.ReadFile(filepath.Join(dir, "device.crt"))
	if len(certOut) == 0 {
		t.Fatal("no device.crt")
	}
	connect := func(endpoint string, extra ...string) (string, error) {
		args := append([]string{"device", "connect", "--endpoint", endpoint, "--cert", filepath.Join(dir, "device.crt"),
			"--key", filepath.Join(dir, "device.key"), "--cafile", caFile}, extra...)
		return runImprint(args...)
	}
	mqtt, https := "mqtts://"+s.mqtt, "https://"+s.devices

	out, err := connect(mqtt)
	if err == nil || !strings.Contains(err.Error(), "CONNACK 0x87") || !strings.Contains(err.Error(), "iot:Connect on client/sensor-7") {
		t.Errorf("MQTT 5 connect without a policy = %v\n%s; want refused 0x87 with the reason", err, out)
	}
	out, err = connect(mqtt, "--mqtt-version", "3.1.1")
	if err == nil || !strings.Contains(err.Error(), "CONNACK 0x05: not authorized") {
		t.Errorf("MQTT 3.1.1 connect without a policy = %v\n%s; want refused 0x05", err, out)
	}
	out, err = connect(https)
	if err != nil || !strings.Contains(out, `"status":"ACTIVE"`) || !strings.Contains(out, `"certificateId"`) {
		t.Errorf("HTTPS whoami = %v\n%s; want the certificate, ACTIVE", err, out)
	}
	m := regexp.MustCompile(`"certificateId":"([0-9a-f]{64})"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no certificate ID in %s", out)
	}

	if code, body := post(t, s.url+"/v1/policies", s.token,
		`{"policyName":"connect-own","policyDocument":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Certificate.Subject.CommonName}"}]}}`); code != http.StatusCreated {
		t.Fatalf("create policy = %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodPut, s.url+"/v1/policies/connect-own/targets/certificate/"+m[1], nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode >= 300 {
		t.Fatalf("attach policy: %v %v", resp, err)
	}
	for _, v := range []string{"5", "3.1.1"} {
		if out, err := connect(mqtt, "--mqtt-version", v); err != nil || !strings.Contains(out, "connected: CONNACK 0x00") {
			t.Errorf("MQTT %s connect with a policy = %v\n%s; want connected", v, err, out)
		}
	}
	if out, err := connect(mqtt, "--client-id", "someone-else"); err == nil || !strings.Contains(err.Error(), "client/someone-else") {
		t.Errorf("connect as someone-else = %v\n%s; want refused", err, out)
	}

	for _, mode := range []string{"jitp", "reconnect"} {
		out, err := runImprint("bench", "connect", "--api", s.url, "--token", s.token, "--mqtt", s.mqtt, "--cafile", caFile,
			"--count", "40", "--concurrency", "4", "--mode", mode)
		if err != nil || !strings.Contains(out, "connected 40, failed 0") || !strings.Contains(out, "connections/s") ||
			!strings.Contains(out, "full mTLS handshakes/s") {
			t.Errorf("bench connect --mode %s = %v\n%s; want 40 connected", mode, err, out)
		}
	}
	// More sessions held open than the gateway allows from one address:
	// they come from several loopback addresses.
	out, err = runImprint("bench", "connect", "--api", s.url, "--token", s.token, "--mqtt", s.mqtt, "--cafile", caFile,
		"--count", "70", "--concurrency", "8", "--mode", "idle", "--hold", "1ms")
	if err != nil || !strings.Contains(out, "holding 70 idle sessions (failed 0") {
		t.Errorf("bench connect --mode idle = %v\n%s; want 70 sessions held", err, out)
	}
}
