package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint/ca"
	"github.com/imprint-iot/imprint/device"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// These tests drive `imprint serve` the way a fleet meets it: devices are
// mosquitto_pub, mosquitto_sub and curl with the files a factory gives
// them, customer CAs are made with openssl, and everything an operator
// does goes through the REST API.

// deviceTools are the programs the device tests run. Without them the tests
// are skipped, unless CI is set: then they fail.
func deviceTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub", "curl", "openssl", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required when CI is set (Debian: mosquitto-clients, curl, openssl)", tool)
			}
			t.Skipf("%s is not installed (CI unset)", tool)
		}
	}
}

// deviceServer starts `imprint serve` with its device listeners and webhooks
// allowed to reach loopback receivers.
func deviceServer(t *testing.T) (*server, map[string]string) {
	t.Helper()
	env := map[string]string{"IMPRINT_DATABASE_URL": pgtest.URL(t), "IMPRINT_DATA_DIR": t.TempDir(),
		"IMPRINT_CA_PASSPHRASE": "devices", "IMPRINT_LOG_LEVEL": "warn",
		"IMPRINT_OUTBOUND_ALLOW": "127.0.0.0/8", "IMPRINT_WEBHOOK_ALLOW_HTTP": "true"}
	s := startServe(t, env)
	t.Cleanup(func() { s.stop() })
	if s.mqtt == "" || s.devices == "" {
		t.Fatalf("serve did not print its device listeners (MQTT %q, devices %q)", s.mqtt, s.devices)
	}
	return s, env
}

// call makes an API request with the server's admin token.
func call(t *testing.T, s *server, method, path, body string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// must makes an API request that must answer want, and decodes the answer
// into out when out is not nil.
func must(t *testing.T, s *server, method, path string, body any, want int, out any) {
	t.Helper()
	var text string
	switch b := body.(type) {
	case nil:
	case string:
		text = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		text = string(j)
	}
	status, answer := call(t, s, method, path, text)
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, status, answer, want)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, answer)
		}
	}
}

// endpointCA saves the chain of the device listeners' certificate, as a
// device is given it, and returns the file's path.
func endpointCA(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get(s.url + "/ca/device-endpoint.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Fatalf("GET /ca/device-endpoint.pem = %d %q", resp.StatusCode, b)
	}
	path := filepath.Join(t.TempDir(), "imprint-ca.pem")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// deviceFiles are what a device holds: its certificate and key.
type deviceFiles struct {
	cn, id    string // the certificate's subject CN and ID
	cert, key string // paths
}

// enroll has Imprint issue a certificate (a factory's way) and writes the
// device's files.
func enroll(t *testing.T, s *server, cn string) deviceFiles {
	t.Helper()
	e, err := device.Enroll(context.Background(), device.NewClient(s.url, s.token, nil), cn, "", "")
	if err != nil {
		t.Fatalf("enroll %s: %v", cn, err)
	}
	dir := t.TempDir()
	if err := e.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	return deviceFiles{cn: cn, id: e.Certificate.CertificateID,
		cert: filepath.Join(dir, "device.crt"), key: filepath.Join(dir, "device.key")}
}

// devicePolicy lets a device connect with its CN as client ID and use the
// topics under it.
const devicePolicy = `{"Version":"2012-10-17","Statement":[
	{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Certificate.Subject.CommonName}"},
	{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:*:*:topic/${iot:ClientId}/*"},
	{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/${iot:ClientId}/*"}]}`

// attachPolicy creates a policy (unless name exists) and attaches it to a
// certificate.
func attachPolicy(t *testing.T, s *server, name, document, certificateID string) {
	t.Helper()
	if status, _ := call(t, s, "GET", "/v1/policies/"+name, ""); status == http.StatusNotFound {
		must(t, s, "POST", "/v1/policies", map[string]string{"policyName": name, "policyDocument": document}, http.StatusCreated, nil)
	}
	status, body := call(t, s, "PUT", "/v1/policies/"+name+"/targets/certificate/"+certificateID, "")
	if status/100 != 2 {
		t.Fatalf("attach policy %s to %s = %d %s", name, certificateID, status, body)
	}
}

// mosquittoArgs are the connection arguments of a mosquitto client tool.
func mosquittoArgs(s *server, caFile string, d deviceFiles) []string {
	host, port, _ := net.SplitHostPort(s.mqtt)
	return []string{"-h", host, "-p", port, "--cafile", caFile, "--cert", d.cert, "--key", d.key}
}

// mosquittoPub publishes one message as d with its CN as client ID and
// returns the tool's output and error.
func mosquittoPub(t *testing.T, s *server, caFile string, d deviceFiles, version string) (string, error) {
	t.Helper()
	args := append(mosquittoArgs(s, caFile, d), "-V", version, "-i", d.cn, "-q", "1", "-t", d.cn+"/temp", "-m", "21")
	return runTool(t, "mosquitto_pub", args...)
}

// runTool runs a program to its end (within 30 s) and returns its output.
func runTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not end within 30 s:\n%s", tool, args, out)
	}
	return string(out), err
}

// curlWhoami asks the HTTPS device API who d is; it returns curl's exit
// code and the answer.
func curlWhoami(t *testing.T, s *server, caFile string, d deviceFiles) (int, string) {
	t.Helper()
	out, err := runTool(t, "curl", "-sS", "--max-time", "20", "--cacert", caFile, "--cert", d.cert, "--key", d.key,
		"-w", "\n%{http_code}", "https://"+s.devices+"/device/v1/whoami")
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out
}

// twoReplicas starts two device servers on one database and data
// directory, and returns them with what devices trust for their endpoints.
func twoReplicas(t *testing.T) (a, b *server, caFile string) {
	t.Helper()
	deviceTools(t)
	a, env := deviceServer(t)
	b = startServe(t, env)
	t.Cleanup(func() { b.stop() })
	b.token = a.token
	return a, b, endpointCA(t, a)
}

// subscriber is a mosquitto_sub holding a session.
type subscriber struct {
	name   string
	out    *syncBuffer
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
}

// subscribe starts mosquitto_sub as d (MQTT 5, client ID its CN) on
// <cn>/cmd and waits until its subscription is acknowledged.
func subscribe(t *testing.T, s *server, caFile string, d deviceFiles) *subscriber {
	t.Helper()
	return subscribeTo(t, s, caFile, d, d.cn+"/cmd")
}

// subscribeTo is subscribe on the given topic filter.
func subscribeTo(t *testing.T, s *server, caFile string, d deviceFiles, topic string) *subscriber {
	t.Helper()
	args := append(mosquittoArgs(s, caFile, d), "-V", "mqttv5", "-i", d.cn, "-t", topic, "-d")
	// stdbuf: mosquitto_sub's debug lines are otherwise held in its
	// buffer while its output is a pipe.
	args = append([]string{"-oL", "mosquitto_sub"}, args...)
	sub := &subscriber{name: d.cn, out: &syncBuffer{}, cmd: exec.Command("stdbuf", args...), exited: make(chan struct{})}
	sub.cmd.Stdout, sub.cmd.Stderr = sub.out, sub.out
	if err := sub.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sub.cmd.Wait()
		close(sub.exited)
	}()
	t.Cleanup(func() {
		sub.cmd.Process.Kill()
		<-sub.exited
	})
	waitFor(t, 15*time.Second, func() (bool, string) {
		select {
		case <-sub.exited:
			t.Fatalf("mosquitto_sub %s ended before it subscribed:\n%s", d.cn, sub.out.String())
		default:
		}
		return strings.Contains(sub.out.String(), "received SUBACK"), "mosquitto_sub " + d.cn + " subscribed:\n" + sub.out.String()
	})
	return sub
}

// ended waits for the subscriber's process to end, and returns how long
// after since it saw its connection closed (the server's DISCONNECT or the
// connection lost) and how long after since the process ended.
func (sub *subscriber) ended(t *testing.T, since time.Time) (closed, exited time.Duration) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for closed == 0 {
		if strings.Contains(sub.out.String(), "received DISCONNECT") {
			closed = time.Since(since)
			break
		}
		select {
		case <-sub.exited:
			closed = time.Since(since)
		case <-deadline:
			t.Fatalf("mosquitto_sub %s still connected 15 s later:\n%s", sub.name, sub.out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	select {
	case <-sub.exited:
	case <-deadline:
		t.Fatalf("mosquitto_sub %s still running 15 s later:\n%s", sub.name, sub.out.String())
	}
	return closed, time.Since(since)
}

// running fails the test when the subscriber has ended.
func (sub *subscriber) running(t *testing.T) {
	t.Helper()
	select {
	case <-sub.exited:
		t.Errorf("mosquitto_sub %s ended, want it connected:\n%s", sub.name, sub.out.String())
	default:
	}
}

// openssl runs openssl in dir.
func openssl(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// customerCA is a CA made with openssl, outside Imprint.
type customerCA struct {
	dir string // ca.key, ca.pem
}

func newCustomerCA(t *testing.T, cn string) customerCA {
	t.Helper()
	dir := t.TempDir()
	openssl(t, dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/O=Acme/CN="+cn,
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return customerCA{dir: dir}
}

// sign makes a device key and a certificate for cn signed by the CA.
func (c customerCA) sign(t *testing.T, cn string) deviceFiles {
	t.Helper()
	dir := t.TempDir()
	openssl(t, dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "device.key", "-out", "device.csr", "-subj", "/CN="+cn)
	openssl(t, dir, "x509", "-req", "-in", "device.csr", "-CA", filepath.Join(c.dir, "ca.pem"),
		"-CAkey", filepath.Join(c.dir, "ca.key"), "-CAcreateserial", "-out", "device.pem", "-days", "365", "-sha256")
	b, err := os.ReadFile(filepath.Join(dir, "device.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("openssl wrote no certificate")
	}
	return deviceFiles{cn: cn, id: ca.CertificateID(block.Bytes),
		cert: filepath.Join(dir, "device.pem"), key: filepath.Join(dir, "device.key")}
}

// register registers the CA with proof of possession, ACTIVE, with the
// given other fields of POST /v1/cas:register; it returns the CA's ID.
func (c customerCA) register(t *testing.T, s *server, fields map[string]any) string {
	t.Helper()
	var code struct {
		RegistrationCode string `json:"registrationCode"`
	}
	must(t, s, "GET", "/v1/registration-code", nil, http.StatusOK, &code)
	openssl(t, c.dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", "verification.key", "-out", "verification.csr", "-subj", "/CN="+code.RegistrationCode)
	openssl(t, c.dir, "x509", "-req", "-in", "verification.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
		"-CAcreateserial", "-out", "verification.pem", "-days", "1", "-sha256")
	caPEM, _ := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	verPEM, _ := os.ReadFile(filepath.Join(c.dir, "verification.pem"))
	body := map[string]any{"caCertificatePem": string(caPEM), "verificationCertificatePem": string(verPEM), "setAsActive": true}
	for k, v := range fields {
		body[k] = v
	}
	var registered struct {
		CAID string `json:"caId"`
	}
	must(t, s, "POST", "/v1/cas:register", body, http.StatusCreated, &registered)
	return registered.CAID
}

// certificateStatus is the status the API gives a certificate.
func certificateStatus(t *testing.T, s *server, id string) string {
	t.Helper()
	var c struct {
		Status string `json:"status"`
	}
	must(t, s, "GET", "/v1/certificates/"+id, nil, http.StatusOK, &c)
	return c.Status
}

// eventsOf counts the audit events of a type about a resource. The audit
// log lists an event once no transaction that began before it is still
// running; so it first makes a change of its own (a thing) and waits until
// that change's event is listed: every event before it is listed then too.
func eventsOf(t *testing.T, s *server, typ, resourceID string) int {
	t.Helper()
	count := func(typ, resourceID string) int {
		var events struct {
			Events []struct {
				ResourceID string `json:"resourceId"`
			} `json:"events"`
		}
		must(t, s, "GET", "/v1/events?type="+typ+"&resourceId="+resourceID, nil, http.StatusOK, &events)
		n := 0
		for _, e := range events.Events {
			if e.ResourceID == resourceID {
				n++
			}
		}
		return n
	}
	marker := fmt.Sprintf("marker-%d", time.Now().UnixNano())
	must(t, s, "POST", "/v1/things", map[string]string{"thingName": marker}, http.StatusCreated, nil)
	waitFor(t, 10*time.Second, func() (bool, string) {
		return count("thing.created", marker) == 1, "the audit log lists the thing.created event of " + marker
	})
	return count(typ, resourceID)
}

// TestDeviceFactoryCertificate: a certificate Imprint issued, with a policy
// attached, connects and publishes with mosquitto_pub (MQTT 5 and 3.1.1),
// and the HTTPS device API tells curl who it is.
func TestDeviceFactoryCertificate(t *testing.T) {
	t.Parallel()
	deviceTools(t)
	s, _ := deviceServer(t)
	caFile := endpointCA(t, s)
	d := enroll(t, s, "sensor-0001")
	attachPolicy(t, s, "sensor", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"},
		{"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*"}]}`, d.id)
	must(t, s, "POST", "/v1/things", map[string]string{"thingName": d.cn}, http.StatusCreated, nil)
	if status, body := call(t, s, "PUT", "/v1/things/"+d.cn+"/principals/"+d.id, ""); status/100 != 2 {
		t.Fatalf("attach %s to thing %s = %d %s", d.id, d.cn, status, body)
	}

	for _, v := range []string{"mqttv5", "mqttv311"} {
		if out, err := mosquittoPub(t, s, caFile, d, v); err != nil {
			t.Errorf("mosquitto_pub %s: %v\n%s", v, err, out)
		}
	}
	code, out := curlWhoami(t, s, caFile, d)
	i := strings.LastIndex(out, "\n")
	body, status := out[:max(i, 0)], out[i+1:]
	if code != 0 || status != "200" {
		t.Fatalf("curl whoami: exit %d, %q; want exit 0, 200", code, out)
	}
	var who struct {
		CertificateID, ThingName, Status, CAID string
	}
	if err := json.Unmarshal([]byte(body), &who); err != nil {
		t.Fatalf("whoami answered %q: %v", body, err)
	}
	if who.CertificateID != d.id || who.ThingName != d.cn || who.Status != "ACTIVE" || who.CAID == "" {
		t.Errorf("whoami = %+v, want certificate %s, thing %s, ACTIVE", who, d.id, d.cn)
	}
}

// jitpTemplate makes a thing named after the certificate's CN, attaches the
// certificate, ACTIVE, and a policy allowing it to connect and publish.
const jitpTemplate = `{"Resources":{
	"thing":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Ref":"AWS::IoT::Certificate::CommonName"},
		"AttributePayload":{"line":"a"}}},
	"certificate":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"AWS::IoT::Certificate::Id"},"Status":"ACTIVE"}},
	"policy":{"Type":"AWS::IoT::Policy","Properties":{"PolicyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}\"},{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":\"arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*\"}]}"}}}}`

// TestDeviceJITP: a device whose certificate an openssl CA signed, the CA
// registered with proof of possession, auto-registration and a JITP
// template, connects on its very first attempt; its thing, attachment and
// policy exist afterwards; a second connection provisions nothing again.
func TestDeviceJITP(t *testing.T) {
	t.Parallel()
	deviceTools(t)
	s, _ := deviceServer(t)
	caFile := endpointCA(t, s)
	must(t, s, "POST", "/v1/provisioning-templates",
		map[string]string{"name": "line-a", "type": "JITP", "body": jitpTemplate}, http.StatusCreated, nil)
	customer := newCustomerCA(t, "Acme Device CA")
	caID := customer.register(t, s, map[string]any{"autoRegistration": true, "provisioningTemplate": "line-a"})
	d := customer.sign(t, "acme-0001")

	if out, err := mosquittoPub(t, s, caFile, d, "mqttv5"); err != nil {
		t.Fatalf("first mosquitto_pub of a JITP device: %v\n%s", err, out)
	}
	var thing struct {
		ThingName  string            `json:"thingName"`
		Version    int64             `json:"version"`
		Attributes map[string]string `json:"attributes"`
	}
	must(t, s, "GET", "/v1/things/"+d.cn, nil, http.StatusOK, &thing)
	if thing.Attributes["line"] != "a" {
		t.Errorf("thing %s attributes = %v, want line=a from the template", d.cn, thing.Attributes)
	}
	var cert struct {
		Status string `json:"status"`
		CAID   string `json:"caId"`
	}
	must(t, s, "GET", "/v1/certificates/"+d.id, nil, http.StatusOK, &cert)
	if cert.Status != "ACTIVE" || cert.CAID != caID {
		t.Errorf("certificate %s: status %s, CA %s; want ACTIVE, %s", d.id, cert.Status, cert.CAID, caID)
	}
	var principals struct {
		Principals []struct {
			CertificateID string `json:"certificateId"`
		} `json:"principals"`
	}
	must(t, s, "GET", "/v1/things/"+d.cn+"/principals", nil, http.StatusOK, &principals)
	if len(principals.Principals) != 1 || principals.Principals[0].CertificateID != d.id {
		t.Errorf("principals of %s = %+v, want %s", d.cn, principals, d.id)
	}
	var policies struct {
		Policies []struct {
			PolicyName string `json:"policyName"`
		} `json:"policies"`
	}
	must(t, s, "GET", "/v1/certificates/"+d.id+"/policies", nil, http.StatusOK, &policies)
	if len(policies.Policies) != 1 {
		t.Fatalf("policies of the JITP certificate = %+v, want the template's one", policies)
	}
	must(t, s, "GET", "/v1/policies/"+policies.Policies[0].PolicyName, nil, http.StatusOK, nil)

	// A second connection (and one over MQTT 3.1.1) runs nothing again.
	for _, v := range []string{"mqttv5", "mqttv311"} {
		if out, err := mosquittoPub(t, s, caFile, d, v); err != nil {
			t.Fatalf("mosquitto_pub %s of the provisioned device: %v\n%s", v, err, out)
		}
	}
	if code, out := curlWhoami(t, s, caFile, d); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "200") {
		t.Errorf("curl whoami of the provisioned device: exit %d, %q", code, out)
	}
	if n := eventsOf(t, s, "certificate.provisioned", d.id); n != 1 {
		t.Errorf("certificate.provisioned events of %s = %d, want 1", d.id, n)
	}
	var again struct {
		Version int64 `json:"version"`
	}
	must(t, s, "GET", "/v1/things/"+d.cn, nil, http.StatusOK, &again)
	if again.Version != thing.Version {
		t.Errorf("thing version after more connections = %d, want %d (unchanged)", again.Version, thing.Version)
	}
}

// TestDeviceJITR: a device of a CA with auto-registration and no template
// is refused on its first connection and registered PENDING_ACTIVATION; a
// webhook receives the certificate.registered event; once an admin
// activates the certificate and attaches a policy, the device connects.
func TestDeviceJITR(t *testing.T) {
	t.Parallel()
	deviceTools(t)
	s, _ := deviceServer(t)
	caFile := endpointCA(t, s)

	type delivery struct {
		event string
		body  []byte
	}
	received := make(chan delivery, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received <- delivery{r.Header.Get("Imprint-Event"), b}
	}))
	defer hook.Close()
	must(t, s, "POST", "/v1/webhooks", map[string]any{"url": hook.URL + "/jitr", "events": []string{"certificate.registered"},
		"secret": "jitr webhook secret"}, http.StatusCreated, nil)

	customer := newCustomerCA(t, "Acme JITR CA")
	caID := customer.register(t, s, map[string]any{"autoRegistration": true})
	d := customer.sign(t, "acme-jitr-1")

	out, err := mosquittoPub(t, s, caFile, d, "mqttv5")
	if err == nil {
		t.Fatalf("mosquitto_pub of a JITR device before activation succeeded:\n%s", out)
	}
	if !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_pub before activation: %v, %q; want not authorised", err, out)
	}
	var event struct {
		Type string `json:"type"`
		Data struct {
			CertificateID     string `json:"certificateId"`
			CACertificateID   string `json:"caCertificateId"`
			CertificateStatus string `json:"certificateStatus"`
		} `json:"data"`
	}
	select {
	case got := <-received:
		if err := json.Unmarshal(got.body, &event); err != nil {
			t.Fatalf("webhook body %q: %v", got.body, err)
		}
		if got.event != "certificate.registered" || event.Type != "certificate.registered" {
			t.Errorf("webhook event %q, body type %q; want certificate.registered", got.event, event.Type)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the webhook received no certificate.registered event within 20 s")
	}
	if event.Data.CertificateID != d.id || event.Data.CACertificateID != caID || event.Data.CertificateStatus != "PENDING_ACTIVATION" {
		t.Errorf("certificate.registered data = %+v, want certificate %s, CA %s, PENDING_ACTIVATION", event.Data, d.id, caID)
	}
	if got := certificateStatus(t, s, d.id); got != "PENDING_ACTIVATION" {
		t.Errorf("status after the first connection = %s, want PENDING_ACTIVATION", got)
	}
	if code, out := curlWhoami(t, s, caFile, d); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "403") {
		t.Errorf("curl whoami while pending: exit %d, %q; want 403", code, out)
	}

	// The operator (or the automation the webhook feeds) lets it in.
	must(t, s, "PATCH", "/v1/certificates/"+d.id, map[string]string{"status": "ACTIVE"}, http.StatusOK, nil)
	attachPolicy(t, s, "acme-devices", devicePolicy, d.id)
	if out, err := mosquittoPub(t, s, caFile, d, "mqttv5"); err != nil {
		t.Fatalf("mosquitto_pub after activation: %v\n%s", err, out)
	}
	if got := certificateStatus(t, s, d.id); got != "ACTIVE" {
		t.Errorf("status after activation = %s, want ACTIVE", got)
	}
}

// TestDeviceKillSwitch: revoking a certificate closes mosquitto_sub's
// session at once, through the replica that revoked and through another
// one; revoking a thing ends the sessions of all its certificates.
func TestDeviceKillSwitch(t *testing.T) {
	t.Parallel()
	a, b, caFile := twoReplicas(t)

	revoke := func(s *server, path string) time.Time {
		t.Helper()
		start := time.Now()
		must(t, s, "POST", path, `{"reason":"keyCompromise"}`, http.StatusOK, nil)
		return start
	}

	// On the replica that revokes.
	d := enroll(t, a, "kill-1")
	attachPolicy(t, a, "device", devicePolicy, d.id)
	sub := subscribe(t, a, caFile, d)
	closed, exited := sub.ended(t, revoke(a, "/v1/certificates/"+d.id+"/revoke"))
	t.Logf("revoked through the same replica: session closed after %v, mosquitto_sub ended after %v", closed, exited)
	if closed > time.Second {
		t.Errorf("the session closed %v after the revocation, want under 1 s", closed)
	}
	if out, err := mosquittoPub(t, a, caFile, d, "mqttv5"); err == nil {
		t.Errorf("mosquitto_pub with the revoked certificate succeeded:\n%s", out)
	}

	// On the other replica.
	d2 := enroll(t, a, "kill-2")
	attachPolicy(t, a, "device", devicePolicy, d2.id)
	sub2 := subscribe(t, b, caFile, d2)
	closed, exited = sub2.ended(t, revoke(a, "/v1/certificates/"+d2.id+"/revoke"))
	t.Logf("revoked through replica A, connected to replica B: session closed after %v, mosquitto_sub ended after %v", closed, exited)
	if closed > time.Second {
		t.Errorf("replica B closed the session %v after the revocation through A, want under 1 s", closed)
	}

	// Deactivation is the kill switch too.
	d3 := enroll(t, a, "kill-3")
	attachPolicy(t, a, "device", devicePolicy, d3.id)
	sub3 := subscribe(t, b, caFile, d3)
	start := time.Now()
	must(t, a, "PATCH", "/v1/certificates/"+d3.id, map[string]string{"status": "INACTIVE"}, http.StatusOK, nil)
	closed, exited = sub3.ended(t, start)
	t.Logf("deactivated through replica A, connected to replica B: session closed after %v, mosquitto_sub ended after %v", closed, exited)

	// A thing with two certificates, one session on each replica.
	must(t, a, "POST", "/v1/things", map[string]string{"thingName": "gateway-7"}, http.StatusCreated, nil)
	var subs []*subscriber
	var keep *subscriber
	for i, s := range []*server{a, b, b} {
		di := enroll(t, a, fmt.Sprintf("gateway-7-%d", i))
		attachPolicy(t, a, "device", devicePolicy, di.id)
		if i < 2 {
			if status, body := call(t, a, "PUT", "/v1/things/gateway-7/principals/"+di.id, ""); status/100 != 2 {
				t.Fatalf("attach %s = %d %s", di.id, status, body)
			}
			subs = append(subs, subscribe(t, s, caFile, di))
		} else {
			keep = subscribe(t, s, caFile, di) // not the thing's: it stays
		}
	}
	start = revoke(a, "/v1/things/gateway-7/revoke")
	var wg sync.WaitGroup
	for i, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			closed, exited := sub.ended(t, start)
			t.Logf("thing revoked: certificate %d's session closed after %v, mosquitto_sub ended after %v", i, closed, exited)
		}()
	}
	wg.Wait()
	keep.running(t)
}

// TestDeviceRefusals: a certificate of a CA Imprint does not know fails the
// TLS handshake; a CA made INACTIVE refuses its devices and ends their live
// sessions; a JITP template that fails refuses the device and writes
// nothing; a policy without iot:Connect refuses the CONNECT.
func TestDeviceRefusals(t *testing.T) {
	t.Parallel()
	deviceTools(t)
	s, _ := deviceServer(t)
	caFile := endpointCA(t, s)

	// An unknown CA: the handshake itself is refused.
	stranger := newCustomerCA(t, "Unregistered CA").sign(t, "stranger-1")
	if out, err := mosquittoPub(t, s, caFile, stranger, "mqttv5"); err == nil {
		t.Errorf("mosquitto_pub with a certificate of an unregistered CA succeeded:\n%s", out)
	}
	if code, out := curlWhoami(t, s, caFile, stranger); code != 35 && code != 56 {
		t.Errorf("curl whoami with a certificate of an unregistered CA: exit %d, %q; want 35 or 56 (TLS refused)", code, out)
	}

	// An INACTIVE CA: its device's session ends, and it connects no more.
	customer := newCustomerCA(t, "Acme Retired CA")
	caID := customer.register(t, s, nil)
	d := customer.sign(t, "retired-1")
	pemBytes, _ := os.ReadFile(d.cert)
	must(t, s, "POST", "/v1/certificates:register", map[string]string{"certificatePem": string(pemBytes), "status": "ACTIVE"}, http.StatusCreated, nil)
	attachPolicy(t, s, "device", devicePolicy, d.id)
	sub := subscribe(t, s, caFile, d)
	start := time.Now()
	must(t, s, "PATCH", "/v1/cas/"+caID, map[string]string{"status": "INACTIVE"}, http.StatusOK, nil)
	closed, exited := sub.ended(t, start)
	t.Logf("CA deactivated: session closed after %v, mosquitto_sub ended after %v", closed, exited)
	if out, err := mosquittoPub(t, s, caFile, d, "mqttv5"); err == nil {
		t.Errorf("mosquitto_pub with a certificate of an INACTIVE CA succeeded:\n%s", out)
	}
	if code, out := curlWhoami(t, s, caFile, d); code != 35 && code != 56 {
		t.Errorf("curl whoami with a certificate of an INACTIVE CA: exit %d, %q; want 35 or 56", code, out)
	}
	if got := certificateStatus(t, s, d.id); got != "ACTIVE" {
		t.Errorf("the certificate's own status = %s, want ACTIVE (its CA is what refuses it)", got)
	}

	// A JITP template that cannot be applied (its thing type does not
	// exist): refused with nothing left behind, and the failure recorded.
	broken := strings.Replace(jitpTemplate, `"AttributePayload":{"line":"a"}`, `"ThingTypeName":"no-such-type"`, 1)
	must(t, s, "POST", "/v1/provisioning-templates", map[string]string{"name": "broken", "type": "JITP", "body": broken}, http.StatusCreated, nil)
	bad := newCustomerCA(t, "Acme Broken CA")
	bad.register(t, s, map[string]any{"autoRegistration": true, "provisioningTemplate": "broken"})
	b := bad.sign(t, "broken-1")
	if out, err := mosquittoPub(t, s, caFile, b, "mqttv5"); err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_pub through a failing template: %v, %q; want refused, not authorised", err, out)
	}
	if status, body := call(t, s, "GET", "/v1/things/"+b.cn, ""); status != http.StatusNotFound {
		t.Errorf("GET /v1/things/%s after the template failed = %d %s, want 404", b.cn, status, body)
	}
	if status, body := call(t, s, "GET", "/v1/certificates/"+b.id, ""); status != http.StatusNotFound {
		t.Errorf("GET /v1/certificates/%s after the template failed = %d %s, want 404", b.id, status, body)
	}
	if n := eventsOf(t, s, "provisioning.failed", b.id); n != 1 {
		t.Errorf("provisioning.failed events of %s = %d, want 1", b.id, n)
	}

	// A policy that allows publishing but not connecting.
	p := enroll(t, s, "no-connect-1")
	attachPolicy(t, s, "publish-only", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`, p.id)
	for _, v := range []string{"mqttv5", "mqttv311"} {
		out, err := mosquittoPub(t, s, caFile, p, v)
		if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
			t.Errorf("mosquitto_pub %s without iot:Connect: %v, %q; want refused, not authorised", v, err, out)
		}
	}
	// The certificate itself is fine: the HTTPS device API, which needs no
	// iot:Connect, knows it.
	if code, out := curlWhoami(t, s, caFile, p); code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "200") {
		t.Errorf("curl whoami of the publish-only device: exit %d, %q; want 200", code, out)
	}
}

// TestDeviceAuthorizationOnTwoReplicas: a replica keeps what decided a
// device's connection, and forgets it when another replica changes it: a
// device that connected through replica B is refused there once its
// connect policy is detached through replica A, and let in again once it is
// attached again.
func TestDeviceAuthorizationOnTwoReplicas(t *testing.T) {
	t.Parallel()
	a, b, caFile := twoReplicas(t)
	d := enroll(t, a, "authz-1")
	attachPolicy(t, a, "device", devicePolicy, d.id)
	// A thing named as the client ID, the device's: what a replica keeps.
	must(t, a, "POST", "/v1/things", map[string]string{"thingName": "authz-1"}, http.StatusCreated, nil)
	if status, body := call(t, a, "PUT", "/v1/things/authz-1/principals/"+d.id, ""); status/100 != 2 {
		t.Fatalf("attach %s = %d %s", d.id, status, body)
	}
	for range 2 { // the second from what B kept
		if out, err := mosquittoPub(t, b, caFile, d, "mqttv5"); err != nil {
			t.Fatalf("mosquitto_pub through replica B: %v\n%s", err, out)
		}
	}
	path := "/v1/policies/device/targets/certificate/" + d.id
	if status, body := call(t, a, "DELETE", path, ""); status/100 != 2 {
		t.Fatalf("detach through replica A = %d %s", status, body)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		out, err := mosquittoPub(t, b, caFile, d, "mqttv5")
		return err != nil && strings.Contains(strings.ToLower(out), "not authorized"), "replica B still lets the device in: " + out
	})
	if status, body := call(t, a, "PUT", path, ""); status/100 != 2 {
		t.Fatalf("attach through replica A = %d %s", status, body)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		out, err := mosquittoPub(t, b, caFile, d, "mqttv5")
		return err == nil, "replica B still refuses the device: " + out
	})
}

// TestDeviceJITRNotificationOnTwoReplicas: a JITR attempt on replica A is
// published on $aws/events/certificates/registered/<caId> to subscribers
// connected to replica A and to replica B, once each.
func TestDeviceJITRNotificationOnTwoReplicas(t *testing.T) {
	t.Parallel()
	a, b, caFile := twoReplicas(t)

	customer := newCustomerCA(t, "Acme Relayed JITR CA")
	caID := customer.register(t, a, map[string]any{"autoRegistration": true})
	topic := "$aws/events/certificates/registered/" + caID
	listenPolicy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
		{"Effect":"Allow","Action":"iot:Subscribe","Resource":"arn:aws:iot:*:*:topicfilter/` + topic + `"},
		{"Effect":"Allow","Action":"iot:Receive","Resource":"arn:aws:iot:*:*:topic/` + topic + `"}]}`
	onB, onA := enroll(t, a, "jitr-listener-b"), enroll(t, a, "jitr-listener-a")
	attachPolicy(t, a, "jitr-listener", listenPolicy, onB.id)
	attachPolicy(t, a, "jitr-listener", listenPolicy, onA.id)
	subs := map[string]*subscriber{"B": subscribeTo(t, b, caFile, onB, topic), "A": subscribeTo(t, a, caFile, onA, topic)}

	d := customer.sign(t, "acme-relayed-1")
	if out, err := mosquittoPub(t, a, caFile, d, "mqttv5"); err == nil {
		t.Fatalf("mosquitto_pub of a JITR device before activation succeeded:\n%s", out)
	}
	for replica, sub := range subs {
		waitFor(t, 15*time.Second, func() (bool, string) {
			out := sub.out.String()
			return strings.Contains(out, `"certificateId":"`+d.id+`"`) && strings.Contains(out, `"certificateStatus":"PENDING_ACTIVATION"`),
				"the subscriber on replica " + replica + " received the registration:\n" + out
		})
	}
	// Another attempt: each subscriber hears of it once more, and of the
	// first no more (a copy relayed back to A would have come with it).
	if out, err := mosquittoPub(t, a, caFile, d, "mqttv5"); err == nil {
		t.Fatalf("mosquitto_pub of a JITR device before activation succeeded:\n%s", out)
	}
	for replica, sub := range subs {
		waitFor(t, 15*time.Second, func() (bool, string) {
			return strings.Count(sub.out.String(), `"certificateId":"`+d.id+`"`) >= 2, "the second attempt reached replica " + replica
		})
		if n := strings.Count(sub.out.String(), `"certificateId":"`+d.id+`"`); n != 2 {
			t.Errorf("the subscriber on replica %s received %d notifications of 2 attempts:\n%s", replica, n, sub.out.String())
		}
	}
}
