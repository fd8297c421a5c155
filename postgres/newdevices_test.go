package postgres_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

const connectDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`

// newDevice is a first connection of a new certificate of ca, with a thing
// of the same name and the policy "shared" (created from its document if
// absent).
func newDevice(caID, name string) *imprint.NewDevice {
	c := newCert(caID, name)
	return &imprint.NewDevice{Certificate: &c, Registered: map[string]string{"certificateId": c.ID},
		Thing:    &imprint.Thing{Name: name, Attributes: map[string]string{"line": "7"}},
		Policies: []imprint.NewDevicePolicy{{Name: "shared", Document: connectDoc}}, Template: "tpl",
		Provisioned: map[string]string{"template": "tpl"}, Actor: imprint.Actor{Name: c.ID, Role: imprint.RoleDevice}}
}

// TestProvisionNewDevicesTogether writes a group of first connections in one
// transaction: every row, and the events of each device in the order the
// general transaction writes them, the shared policy created once.
func TestProvisionNewDevicesTogether(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	// An existing policy attached by name, its default version 2.
	if _, err := db.CreatePolicy(ctx, "existing", connectDoc, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	const v2 = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`
	if _, err := db.CreatePolicyVersion(ctx, "existing", v2, true, 5, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	var ds []*imprint.NewDevice
	for i := range 5 {
		d := newDevice(ca.ID, fmt.Sprintf("together-%d", i))
		d.Policies = append(d.Policies, imprint.NewDevicePolicy{Name: "existing"})
		ds = append(ds, d)
	}
	for i, ok := range db.ProvisionTogetherForTest(ds) {
		if !ok {
			t.Fatalf("device %d was not applied", i)
		}
	}
	for _, d := range ds {
		c, err := db.Certificate(ctx, d.Certificate.ID)
		if err != nil || c.Status != imprint.CertificateActive || c.ProvisionedAt.IsZero() || !c.ProvisionedAt.Equal(d.Certificate.ProvisionedAt) {
			t.Errorf("certificate %s = %+v, %v; want ACTIVE and provisioned", d.Thing.Name, c, err)
		}
		if th, err := db.Thing(ctx, d.Thing.Name); err != nil || th.Attributes["line"] != "7" || th.Version != 1 {
			t.Errorf("thing %s = %+v, %v", d.Thing.Name, th, err)
		}
		if ps, err := db.Principals(ctx, d.Thing.Name, ""); err != nil || len(ps) != 1 || ps[0].CertificateID != d.Certificate.ID {
			t.Errorf("principals of %s = %+v, %v", d.Thing.Name, ps, err)
		}
		vs, err := db.EffectivePolicies(ctx, d.Certificate.ID, d.Thing.Name)
		if err != nil || len(vs) != 2 {
			t.Errorf("effective policies of %s = %v, %v; want shared and existing", d.Thing.Name, vs, err)
		}
		// What the statement read for the device's decision is what a
		// decision would read afterwards.
		if len(d.PolicyVersions) != 2 {
			t.Errorf("policy versions read for %s = %+v; want shared and existing", d.Thing.Name, d.PolicyVersions)
		}
		for _, got := range d.PolicyVersions {
			i := slices.IndexFunc(vs, func(v imprint.PolicyVersion) bool { return v.PolicyName == got.PolicyName })
			if i < 0 || vs[i].VersionID != got.VersionID || vs[i].Document != got.Document || !vs[i].CreatedAt.Equal(got.CreatedAt) {
				t.Errorf("policy version read for %s: %+v; the store has %+v", d.Thing.Name, got, vs)
			}
		}
		types, err := db.EventTypesByActorForTest(ctx, d.Actor.Name)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{imprint.EventCertificateRegistered, imprint.EventThingCreated, imprint.EventPrincipalAttached,
			imprint.EventPolicyAttached, imprint.EventPolicyAttached, imprint.EventCertificateActivated, imprint.EventCertificateProvisioned}
		if d == ds[0] { // the first of the group creates the policy
			want = append(want[:3:3], append([]string{imprint.EventPolicyCreated}, want[3:]...)...)
		}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Errorf("events of %s = %v, want %v", d.Thing.Name, types, want)
		}
	}
	if n, _ := db.CountForTest(ctx, `SELECT count(DISTINCT txid) FROM audit_events WHERE actor_role = 'device'`); n != 1 {
		t.Errorf("the group's events came from %d transactions, want 1", n)
	}
	if n, _ := db.CountForTest(ctx, `SELECT count(*) FROM policy_versions WHERE policy_name = 'shared'`); n != 1 {
		t.Errorf("versions of the shared policy = %d, want 1", n)
	}
}

// TestProvisionNewDevicesLeavesToTheTransaction: what one statement cannot
// decide goes back to the caller with nothing written of it, and the rest
// of the group is applied.
func TestProvisionNewDevicesLeavesToTheTransaction(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	if err := db.CreateThing(ctx, &imprint.Thing{Name: "exists"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateThingType(ctx, &imprint.ThingType{Name: "old"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeprecateThingType(ctx, "old", true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	known := newDevice(ca.ID, "known")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{*known.Certificate}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	thingExists := newDevice(ca.ID, "exists")
	missingPolicy := newDevice(ca.ID, "missing-policy")
	missingPolicy.Policies = []imprint.NewDevicePolicy{{Name: "nowhere"}}
	deprecated := newDevice(ca.ID, "deprecated")
	deprecated.Thing.TypeName = "old"
	unknownType := newDevice(ca.ID, "unknown-type")
	unknownType.Thing.TypeName = "never-made"
	pending := newDevice(ca.ID, "pending")
	pending.Certificate.Status = imprint.CertificatePendingActivation
	good := newDevice(ca.ID, "good")
	sameThing := newDevice(ca.ID, "good")
	sameCert := *good
	cases := []*imprint.NewDevice{known, thingExists, missingPolicy, deprecated, unknownType, pending, good, sameThing, &sameCert}
	applied := db.ProvisionTogetherForTest(cases)
	for i, want := range []bool{false, false, false, false, false, false, true, false, false} {
		if applied[i] != want {
			t.Errorf("device %d (%s): applied %v, want %v", i, cases[i].Thing.Name, applied[i], want)
		}
	}
	for _, d := range []*imprint.NewDevice{thingExists, missingPolicy, deprecated, unknownType, pending} {
		if _, err := db.Certificate(ctx, d.Certificate.ID); imprint.ErrorKind(err) != imprint.NotFound {
			t.Errorf("certificate of %s: %v, want nothing written", d.Thing.Name, err)
		}
	}
	if n, _ := db.CountForTest(ctx, `SELECT count(*) FROM things`); n != 2 {
		t.Errorf("things = %d, want exists and good", n)
	}
}

// TestProvisionNewDevicesFailedGroup: a group whose statement fails (two
// certificates of one CA with one serial) writes nothing, and every device
// of it goes back to the caller.
func TestProvisionNewDevicesFailedGroup(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	a, b := newDevice(ca.ID, "twin-a"), newDevice(ca.ID, "twin-b")
	b.Certificate.Serial = a.Certificate.Serial
	for i, ok := range db.ProvisionTogetherForTest([]*imprint.NewDevice{a, b}) {
		if ok {
			t.Errorf("device %d applied, want the group refused", i)
		}
	}
	for _, q := range []string{`SELECT count(*) FROM certificates`, `SELECT count(*) FROM things`, `SELECT count(*) FROM policies`,
		`SELECT count(*) FROM audit_events WHERE actor_role = 'device'`} {
		if n, _ := db.CountForTest(ctx, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
}

// TestProvisionNewDeviceConcurrently puts many devices through the writers
// at once, one certificate twice: each is applied once.
func TestProvisionNewDeviceConcurrently(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	var ds []*imprint.NewDevice
	for i := range 40 {
		ds = append(ds, newDevice(ca.ID, fmt.Sprintf("burst-%d", i)))
	}
	twice := *ds[0]
	ds = append(ds, &twice)
	applied := make([]bool, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := db.ProvisionNewDevice(ctx, d)
			if err != nil {
				t.Errorf("ProvisionNewDevice(%d) = %v", i, err)
			}
			applied[i] = ok
		}()
	}
	wg.Wait()
	if applied[0] == applied[len(ds)-1] {
		t.Errorf("a certificate given twice was applied %v and %v, want once", applied[0], applied[len(ds)-1])
	}
	for i := 1; i < len(ds)-1; i++ {
		if !applied[i] {
			// a device is left to the caller only when its group failed
			// or held the same certificate: tolerable, but say so
			t.Logf("device %d was left to the caller", i)
		}
	}
	n, _ := db.CountForTest(ctx, `SELECT count(*) FROM certificates`)
	m, _ := db.CountForTest(ctx, `SELECT count(*) FROM audit_events WHERE type = 'certificate.provisioned'`)
	applies := 0
	for _, ok := range applied {
		if ok {
			applies++
		}
	}
	if n != applies || m != applies {
		t.Errorf("%d certificates and %d provisioned events for %d applied devices", n, m, applies)
	}
}

// TestProvisionNewDevicesTypeDeprecatedSinceTheCheck: the group's statement
// itself refuses a thing of a deprecated type (deprecated after the check
// before it), and with it the group: nothing written.
func TestProvisionNewDevicesTypeDeprecatedSinceTheCheck(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	if err := db.CreateThingType(ctx, &imprint.ThingType{Name: "retired"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeprecateThingType(ctx, "retired", true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	good, typed := newDevice(ca.ID, "fine-1"), newDevice(ca.ID, "retired-1")
	typed.Thing.TypeName = "retired"
	if err := db.InsertDevicesForTest(ctx, []*imprint.NewDevice{good, typed}); err == nil {
		t.Fatal("the statement wrote a thing of a deprecated type")
	}
	for _, q := range []string{`SELECT count(*) FROM certificates`, `SELECT count(*) FROM things`,
		`SELECT count(*) FROM audit_events WHERE actor_role = 'device'`} {
		if n, _ := db.CountForTest(ctx, q); n != 0 {
			t.Errorf("%s = %d, want 0", q, n)
		}
	}
	if err := db.InsertDevicesForTest(ctx, []*imprint.NewDevice{good}); err != nil {
		t.Errorf("the statement alone for a device of no type: %v", err)
	}
}
