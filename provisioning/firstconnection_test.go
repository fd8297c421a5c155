package provisioning_test

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/ca/catest"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/provisioning"
)

// transactor runs a first connection's transactions on the test store.
type transactor struct{ db *postgres.DB }

func (t transactor) InProvisioningTx(c context.Context, fn func(provisioning.ProvisioningTx) error) error {
	return t.db.InTx(c, func(tx *postgres.Tx) error { return fn(tx) })
}

// groupTransactor is the server's: first connections of new devices with
// a simple plan go through the store's group commit.
// It counts the devices the group commit applied.
type groupTransactor struct {
	transactor
	applied *atomic.Int32
}

func (t groupTransactor) ProvisionNewDevice(c context.Context, d *imprint.NewDevice) (bool, error) {
	ok, err := t.db.ProvisionNewDevice(c, d)
	if ok {
		t.applied.Add(1)
	}
	return ok, err
}

// customerCA is a CA of a customer's, registered with Imprint as external.
type customerCA struct{ *catest.CustomerCA }

func (f *fixture) customerCA(name string, autoRegistration bool, template string) *customerCA {
	f.t.Helper()
	c := catest.NewCustomerCA(f.t, name, autoRegistration)
	if err := f.db.CreateCA(ctx, c.Record, imprint.SystemActor); err != nil {
		f.t.Fatal(err)
	}
	if template != "" {
		if _, err := f.db.UpdateCA(ctx, c.Record.ID, imprint.CAUpdate{ProvisioningTemplate: &template}, imprint.SystemActor); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := f.ca.Reload(ctx); err != nil {
		f.t.Fatal(err)
	}
	return &customerCA{c}
}

// device signs a device certificate for subject.
func (c *customerCA) device(t *testing.T, subject pkix.Name) *x509.Certificate {
	t.Helper()
	leaf, _ := c.Sign(t, subject)
	return leaf
}

func certID(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// jitpTemplate creates an enabled JITP template.
func (f *fixture) jitpTemplate(name, body string) {
	f.t.Helper()
	if err := f.engine.CreateTemplate(ctx, imprint.SystemActor, &imprint.ProvisioningTemplate{Name: name,
		Type: imprint.TemplateJITP, Enabled: true, Body: body}, nil); err != nil {
		f.t.Fatal(err)
	}
}

// jitpFixture is an engine that serves first connections, with the JITP
// example template of the documentation and what it refers to.
func jitpFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.engine = f.newEngine(provisioning.Config{Transactor: transactor{f.db}})
	body, err := os.ReadFile("../testdata/aws-examples/jitp-template-body.json")
	if err != nil {
		t.Fatal(err)
	}
	f.jitpTemplate("lightbulbs", string(body))
	if err := f.db.CreateThingType(ctx, &imprint.ThingType{Name: "lightBulb-versionA"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"v1-lightbulbs", "DE"} {
		if err := f.db.CreateThingGroup(ctx, &imprint.ThingGroup{Name: g}, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

var bulb = pkix.Name{CommonName: "bulb-1", Country: []string{"DE"}, SerialNumber: "SN-0001"}

// TestJITP provisions a device of a customer's CA on its first connection,
// all in one transaction, and not again on its second.
func TestJITP(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	customer := f.customerCA("Bulb Factory CA", true, "lightbulbs")
	leaf := customer.device(t, bulb)
	got, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.ThingName != "bulb-1" || got.Certificate.Status != imprint.CertificateActive || got.Template != "lightbulbs" {
		t.Errorf("ProvisionFirstConnection() = %+v", got)
	}
	thing, err := f.db.Thing(ctx, "bulb-1")
	if err != nil || thing.TypeName != "lightBulb-versionA" || thing.Attributes["serialNumber"] != "SN-0001" || thing.Attributes["version"] != "v1" {
		t.Errorf("thing = %+v, %v", thing, err)
	}
	groups, _ := f.db.ThingGroups(ctx, "bulb-1")
	if len(groups) != 2 {
		t.Errorf("thing groups = %d, want v1-lightbulbs and DE", len(groups))
	}
	if vs, err := f.db.EffectivePolicies(ctx, certID(leaf), "bulb-1"); err != nil || len(vs) != 1 {
		t.Errorf("effective policies = %v, %v; want the template's", vs, err)
	}
	c, err := f.db.Certificate(ctx, certID(leaf))
	if err != nil || c.Status != imprint.CertificateActive || c.ProvisionedAt.IsZero() || c.CAID != customer.Record.ID {
		t.Fatalf("certificate = %+v, %v; want ACTIVE, provisioned, of the customer's CA", c, err)
	}
	if n := f.count(`SELECT count(DISTINCT txid) FROM audit_events WHERE actor_role = 'device'`); n != 1 {
		t.Errorf("the first connection's events came from %d transactions, want 1", n)
	}
	events := f.count(`SELECT count(*) FROM audit_events`)
	again, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
	if err != nil || again.Template != "" {
		t.Errorf("second connection = %+v, %v; want the provisioned certificate, no template run", again, err)
	}
	if n := f.count(`SELECT count(*) FROM audit_events`); n != events {
		t.Errorf("the second connection wrote %d events, want none", n-events)
	}
	if th, _ := f.db.Thing(ctx, "bulb-1"); th.Version != thing.Version {
		t.Errorf("thing version %d after the second connection, want %d", th.Version, thing.Version)
	}
}

// TestJITPConcurrentFirstConnections provisions one certificate from many
// connections at once: once.
func TestJITPConcurrentFirstConnections(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	customer := f.customerCA("Bulb Factory CA", true, "lightbulbs")
	leaf := customer.device(t, bulb)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a concurrent first connection failed: %v", err)
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.provisioned'`); n != 1 {
		t.Errorf("provisioned %d times, want once", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'thing.created'`); n != 1 {
		t.Errorf("things created: %d, want 1", n)
	}
}

// TestJITPFailureLeavesNothing connects with a certificate that lacks a field
// the template needs: refused with the reason, nothing written but the
// provisioning.failed event.
func TestJITPFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	customer := f.customerCA("Bulb Factory CA", true, "lightbulbs")
	leaf := customer.device(t, pkix.Name{CommonName: "bulb-2", SerialNumber: "SN-2"}) // no Country
	_, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
	if imprint.ErrorKind(err) != imprint.Forbidden || !strings.Contains(imprint.ErrorMessage(err), "Country") {
		t.Fatalf("ProvisionFirstConnection() = %v, want Forbidden naming the missing Country", err)
	}
	if n := f.count(`SELECT count(*) FROM certificates WHERE ca_id = '` + customer.Record.ID + `'`); n != 0 {
		t.Errorf("certificates of the customer's CA = %d, want 0", n)
	}
	if n := f.count(`SELECT count(*) FROM things`); n != 0 {
		t.Errorf("things = %d, want 0", n)
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'provisioning.failed' AND resource_id = '` + certID(leaf) + `'`); n != 1 {
		t.Errorf("provisioning.failed events = %d, want 1", n)
	}
}

// TestJITR registers a device of a CA with no template PENDING_ACTIVATION,
// and tells automation on every attempt while it waits.
func TestJITR(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	customer := f.customerCA("Sensor CA", true, "")
	leaf := customer.device(t, pkix.Name{CommonName: "sensor-9"})
	for attempt := 1; attempt <= 2; attempt++ {
		got, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
		if err != nil || got.Certificate.Status != imprint.CertificatePendingActivation || got.Template != "" {
			t.Fatalf("attempt %d = %+v, %v; want PENDING_ACTIVATION", attempt, got, err)
		}
		if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.registered' AND resource_id = '` + certID(leaf) + `'
			AND data->>'caCertificateId' = '` + customer.Record.ID + `' AND data->>'certificateStatus' = 'PENDING_ACTIVATION'
			AND (data->>'timestamp')::bigint > 0 AND data ? 'certificateRegistrationTimestamp'`); n != attempt {
			t.Errorf("after attempt %d: %d certificate.registered events in the JITR shape, want %d", attempt, n, attempt)
		}
	}
}

// TestFirstConnectionRefused: a CA that does not register on first
// connection, and a CA that is not registered.
func TestFirstConnectionRefused(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	closed := f.customerCA("Closed CA", false, "")
	_, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: closed.device(t, bulb), CAID: closed.Record.ID})
	if imprint.ErrorKind(err) != imprint.Unauthorized {
		t.Errorf("first connection under a CA without auto-registration = %v, want Unauthorized", err)
	}
	_, err = f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: closed.device(t, bulb), CAID: "00" + closed.Record.ID[2:]})
	if imprint.ErrorKind(err) != imprint.Unauthorized {
		t.Errorf("first connection under an unknown CA = %v, want Unauthorized", err)
	}
	if n := f.count(`SELECT count(*) FROM certificates WHERE ca_id = '` + closed.Record.ID + `'`); n != 0 {
		t.Errorf("certificates registered = %d, want 0", n)
	}
}

// TestJITPOfAnIssuedCertificate provisions a certificate Imprint issued and
// never provisioned, when its CA has a template: its ACTIVE status is kept
// (the template's Status override is DO_NOTHING).
func TestJITPOfAnIssuedCertificate(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	issuing := f.ca.CAs()[1]
	on, name := true, "lightbulbs"
	if _, err := f.db.UpdateCA(ctx, issuing.ID, imprint.CAUpdate{AutoRegistration: &on, ProvisioningTemplate: &name}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.ca.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	c := f.issue(bulb)
	leaf, err := x509.ParseCertificate(mustDER(t, f, c.ID))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.engine.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: issuing.ID})
	if err != nil || got.ThingName != "bulb-1" || got.Certificate.Status != imprint.CertificateActive {
		t.Fatalf("ProvisionFirstConnection() = %+v, %v", got, err)
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'certificate.registered'`); n != 0 {
		t.Errorf("an issued certificate was registered again (%d events)", n)
	}
}

func mustDER(t *testing.T, f *fixture, id string) []byte {
	t.Helper()
	c, err := f.db.Certificate(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.DER
}

// simpleTemplate makes a thing of the common name, typed, with an attribute,
// and attaches a policy it creates: a plan the group commit applies.
const simpleTemplate = `{"Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"},
	"AWS::IoT::Certificate::Id": {"Type": "String"}},
 "Resources": {
	"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
		"ThingTypeName": "lightBulb-versionA", "AttributePayload": {"line": "7"}}},
	"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
	"policy": {"Type": "AWS::IoT::Policy", "Properties": {
		"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"*\"}]}"}}}}`

// TestJITPTogetherAsAlone provisions devices of a simple template through
// the group commit and through the general transaction: the same rows and
// the same audit events, in the same order, with the same data.
func TestJITPTogetherAsAlone(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	f.jitpTemplate("simple", simpleTemplate)
	customer := f.customerCA("Simple CA", true, "simple")
	alone := f.newEngine(provisioning.Config{Transactor: transactor{f.db}})
	group := groupTransactor{transactor{f.db}, new(atomic.Int32)}
	together := f.newEngine(provisioning.Config{Transactor: group})

	// The first device of each engine: alone creates the policy; the
	// second of each finds it.
	type result struct {
		leaf *x509.Certificate
		got  *provisioning.Provisioned
	}
	var results []result
	for i, e := range []*provisioning.Engine{alone, together, alone, together} {
		leaf := customer.device(t, pkix.Name{CommonName: fmt.Sprintf("simple-%d", i)})
		got, err := e.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
		if err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
		results = append(results, result{leaf, got})
	}
	// What each device's first connection wrote, with its own names
	// replaced, so that two devices compare.
	trail := func(r result) string {
		id, thing := certID(r.leaf), r.got.ThingName
		vs, err := f.db.EffectivePolicies(ctx, id, thing)
		if err != nil || len(vs) != 1 {
			t.Fatalf("effective policies of %s = %v, %v; want the template's", thing, vs, err)
		}
		var evs []imprint.Event
		for _, res := range [][2]string{{"certificate", id}, {"thing", thing}, {"policy", vs[0].PolicyName}} {
			got, err := f.db.EventsFor(ctx, res[0], res[1], 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range got {
				if e.Actor.Name == id {
					evs = append(evs, e)
				}
			}
		}
		slices.SortFunc(evs, func(a, b imprint.Event) int { return int(a.ID - b.ID) })
		var b strings.Builder
		for _, e := range evs {
			if e.Type == imprint.EventPolicyCreated {
				continue // the first device of the database creates it
			}
			data := strings.NewReplacer(id, "<id>", thing, "<thing>", r.got.Certificate.Serial, "<serial>").Replace(string(e.Data))
			if e.Type == imprint.EventCertificateRegistered { // times of the moment
				data = regexp.MustCompile(`"(timestamp|certificateRegistrationTimestamp)": ?"?[0-9]+"?`).ReplaceAllString(data, `"$1":0`)
			}
			fmt.Fprintf(&b, "%s %s %s %s\n", e.Type, e.ResourceType, e.Actor.Role, data)
		}
		c, err := f.db.Certificate(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		th, err := f.db.Thing(ctx, thing)
		if err != nil {
			t.Fatal(err)
		}
		ps, _ := f.db.Principals(ctx, thing, "")
		fmt.Fprintf(&b, "certificate %s provisioned %v; thing %s %v v%d; principals %d; policy %s v%d",
			c.Status, !c.ProvisionedAt.IsZero(), th.TypeName, th.Attributes, th.Version, len(ps), vs[0].PolicyName, vs[0].VersionID)
		return b.String()
	}
	if n := group.applied.Load(); n != 2 {
		t.Fatalf("the group commit applied %d devices, want both of its engine's", n)
	}
	want := trail(results[0])
	if !strings.Contains(want, "certificate.provisioned") {
		t.Fatalf("the trail of a provisioned device lacks its events:\n%s", want)
	}
	for i, r := range results[1:] {
		if got := trail(r); got != want {
			t.Errorf("device %d wrote\n%s\nwant, as the general transaction writes,\n%s", i+1, got, want)
		}
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE type = 'policy.created'`); n != 1 {
		t.Errorf("policy created %d times, want once", n)
	}
	// Through the group commit, a second connection finds the device
	// provisioned.
	again, err := together.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: results[1].leaf, CAID: customer.Record.ID})
	if err != nil || again.Template != "" || again.Certificate.ProvisionedAt.IsZero() {
		t.Errorf("second connection = %+v, %v; want the provisioned certificate, no template run", again, err)
	}
}

// TestJITPTogetherConcurrently: many first connections of one certificate
// through the group commit provision it once.
func TestJITPTogetherConcurrently(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	f.jitpTemplate("simple", simpleTemplate)
	customer := f.customerCA("Simple CA", true, "simple")
	e := f.newEngine(provisioning.Config{Transactor: groupTransactor{transactor{f.db}, new(atomic.Int32)}})
	leaf := customer.device(t, pkix.Name{CommonName: "simple-once"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID}); err != nil {
				t.Errorf("a concurrent first connection failed: %v", err)
			}
		}()
	}
	wg.Wait()
	for _, typ := range []string{imprint.EventCertificateProvisioned, imprint.EventThingCreated, imprint.EventCertificateRegistered} {
		if n := f.count(`SELECT count(*) FROM audit_events WHERE type = '` + typ + `'`); n != 1 {
			t.Errorf("%s events: %d, want 1", typ, n)
		}
	}
}

// thingTemplate makes a thing of the common name with an attribute, and a
// policy (created from its document, by name) whose statements use the
// thing's policy variables.
const thingTemplate = `{"Parameters": {"AWS::IoT::Certificate::CommonName": {"Type": "String"},
	"AWS::IoT::Certificate::Id": {"Type": "String"}},
 "Resources": {
	"thing": {"Type": "AWS::IoT::Thing", "Properties": {"ThingName": {"Ref": "AWS::IoT::Certificate::CommonName"},
		"AttributePayload": {"line": "7"}}},
	"certificate": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}, "Status": "ACTIVE"}},
	"policy": {"Type": "AWS::IoT::Policy", "Properties": {"PolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"iot:Connect\",\"Resource\":\"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}\"},{\"Effect\":\"Allow\",\"Action\":\"iot:Publish\",\"Resource\":\"arn:aws:iot:*:*:topic/line/${iot:Connection.Thing.Attributes[line]}/*\",\"Condition\":{\"Bool\":{\"iot:Connection.Thing.IsAttached\":\"true\"}}}]}"}}}}`

// TestFirstConnectionDecidesAsLaterOnes: a device its first connection
// created together with others is decided with what that wrote (its new
// thing, its policies), as its later connections are with what they read.
func TestFirstConnectionDecidesAsLaterOnes(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	f.jitpTemplate("things", thingTemplate)
	customer := f.customerCA("Line CA", true, "things")
	group := groupTransactor{transactor{f.db}, new(atomic.Int32)}
	e := f.newEngine(provisioning.Config{Transactor: group})
	checks := []struct {
		action   policy.Action
		resource string
	}{
		{policy.ActionPublish, "topic/line/7/temp"}, {policy.ActionPublish, "topic/line/8/temp"},
		{policy.ActionConnect, "client/line-dev-1"}, {policy.ActionConnect, "client/other"},
	}
	for _, tc := range []struct {
		clientID string
		want     []bool
	}{
		{"line-dev-1", []bool{true, false, true, false}},
		{"not/a:name", []bool{true, false, true, false}}, // not a thing's name: the attached thing
	} {
		leaf := customer.device(t, pkix.Name{CommonName: "line-dev-1"})
		if tc.clientID != "line-dev-1" {
			leaf = customer.device(t, pkix.Name{CommonName: "line-dev-2"})
			tc.want[2] = false // client/line-dev-2 is its thing's
		}
		req := provisioning.ConnectRequest{Chain: []*x509.Certificate{leaf, customer.Cert}, Protocol: provisioning.ProtocolHTTPS,
			ClientID: tc.clientID}
		before := group.applied.Load()
		first, err := e.Connect(ctx, req)
		if err != nil {
			t.Fatalf("first connection as %q: %v", tc.clientID, err)
		}
		if group.applied.Load() != before+1 {
			t.Fatalf("the first connection as %q was not applied by the group commit", tc.clientID)
		}
		later, err := e.Connect(ctx, req)
		if err != nil {
			t.Fatalf("second connection as %q: %v", tc.clientID, err)
		}
		for i, c := range checks {
			if got, again := first.Decider.Allowed(c.action, c.resource), later.Decider.Allowed(c.action, c.resource); got != tc.want[i] || again != tc.want[i] {
				t.Errorf("as %q, %s on %s: first connection %v, later %v; want %v", tc.clientID, c.action, c.resource, got, again, tc.want[i])
			}
		}
		if first.ThingName != later.ThingName || first.ThingName == "" {
			t.Errorf("as %q: thing %q on the first connection, %q later", tc.clientID, first.ThingName, later.ThingName)
		}
	}
}

// TestFirstConnectionTemplateKept: with the caches on, the template of
// first connections is read once and kept until it changes: in this
// process at once, from another replica once its notification is heard.
func TestFirstConnectionTemplateKept(t *testing.T) {
	t.Parallel()
	f := jitpFixture(t)
	e := f.newEngine(provisioning.Config{Transactor: transactor{f.db}, CacheCertificates: true})
	f.jitpTemplate("kept", simpleTemplate)
	customer := f.customerCA("Kept CA", true, "kept")
	other := f.otherReplica()
	n := 0
	connect := func() error {
		n++
		leaf := customer.device(t, pkix.Name{CommonName: fmt.Sprintf("kept-%d", n)})
		_, err := e.ProvisionFirstConnection(ctx, provisioning.FirstConnection{Leaf: leaf, CAID: customer.Record.ID})
		return err
	}
	if err := connect(); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	off, on := false, true
	if _, err := e.UpdateTemplate(ctx, imprint.SystemActor, "kept", imprint.TemplateUpdate{Enabled: &off}, nil); err != nil {
		t.Fatal(err)
	}
	if err := connect(); imprint.ErrorKind(err) != imprint.Forbidden || !strings.Contains(imprint.ErrorMessage(err), "disabled") {
		t.Fatalf("first connection after the template was disabled here = %v, want Forbidden, disabled", err)
	}
	if _, err := other.UpdateTemplate(ctx, "kept", imprint.TemplateUpdate{Enabled: &on}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := connect(); err == nil {
		t.Fatal("a first connection read the template again, want the one kept until the change is heard")
	}
	e.Notify(imprint.ChannelAuthorization, "")
	if err := connect(); err != nil {
		t.Fatalf("first connection after another replica enabled the template and it was heard: %v", err)
	}
}
