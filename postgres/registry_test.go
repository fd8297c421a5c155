package postgres_test

import (
	"slices"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// wantKind fails tb unless err has the given kind.
func wantKind(tb testing.TB, what string, err error, kind imprint.Kind) {
	tb.Helper()
	if imprint.ErrorKind(err) != kind {
		tb.Errorf("%s: error = %v (kind %v), want %v", what, err, imprint.ErrorKind(err), kind)
	}
}

func mustRecorded(tb testing.TB, db *postgres.DB, caID, cn string) imprint.Certificate {
	tb.Helper()
	c := newCert(caID, cn)
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c}, imprint.SystemActor, nil); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestThings covers what provisioning will ask of things: create, read,
// optimistic updates that merge attributes, and the refusals.
func TestThings(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	if err := db.CreateThingType(ctx, &imprint.ThingType{Name: "sensor"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	thing := &imprint.Thing{Name: "t-1", TypeName: "sensor", Attributes: map[string]string{"line": "7"}}
	if err := db.CreateThing(ctx, thing, imprint.SystemActor); err != nil || thing.Version != 1 {
		t.Fatalf("CreateThing() = version %d, %v; want version 1", thing.Version, err)
	}
	wantKind(t, "CreateThing twice", db.CreateThing(ctx, &imprint.Thing{Name: "t-1"}, imprint.SystemActor), imprint.Conflict)
	wantKind(t, "CreateThing of an unknown type", db.CreateThing(ctx, &imprint.Thing{Name: "t-2", TypeName: "nope"}, imprint.SystemActor), imprint.NotFound)
	got, err := db.UpdateThing(ctx, "t-1", imprint.ThingUpdate{Attributes: map[string]string{"fw": "1.2", "line": ""}, Merge: true, ExpectedVersion: 1}, imprint.SystemActor)
	if err != nil || got.Version != 2 || got.Attributes["fw"] != "1.2" || got.Attributes["line"] != "" {
		t.Fatalf("UpdateThing(merge) = %+v, %v", got, err)
	}
	_, err = db.UpdateThing(ctx, "t-1", imprint.ThingUpdate{Attributes: map[string]string{}, ExpectedVersion: 1}, imprint.SystemActor)
	wantKind(t, "UpdateThing with a stale version", err, imprint.Conflict)
	if _, err := db.DeprecateThingType(ctx, "sensor", true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "CreateThing of a deprecated type", db.CreateThing(ctx, &imprint.Thing{Name: "t-3", TypeName: "sensor"}, imprint.SystemActor), imprint.Invalid)
	if n, _ := db.CountForTest(ctx, `SELECT count(*) FROM audit_events WHERE resource_type = 'thing'`); n != 2 {
		t.Errorf("thing events = %d, want 2 (created, updated)", n)
	}
}

// TestPrincipals attaches certificates to things exclusively and not, as
// provisioning does, and checks the thing a connection speaks for.
func TestPrincipals(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	a, b := mustRecorded(t, db, ca.ID, "a"), mustRecorded(t, db, ca.ID, "b")
	for _, name := range []string{"t-a", "t-b"} {
		if err := db.CreateThing(ctx, &imprint.Thing{Name: name}, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.AttachPrincipal(ctx, "t-a", a.ID, true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "attaching an exclusive certificate elsewhere", db.AttachPrincipal(ctx, "t-b", a.ID, false, imprint.SystemActor), imprint.Conflict)
	if err := db.AttachPrincipal(ctx, "t-a", b.ID, false, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachPrincipal(ctx, "t-b", b.ID, false, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "making a shared certificate exclusive", db.AttachPrincipal(ctx, "t-b", b.ID, true, imprint.SystemActor), imprint.Conflict)
	wantKind(t, "attaching an unknown certificate", db.AttachPrincipal(ctx, "t-a", randomHex(32), false, imprint.SystemActor), imprint.NotFound)
	thing, attached, err := db.AuthorizationThing(ctx, a.ID, "")
	if err != nil || thing == nil || thing.Name != "t-a" || !attached {
		t.Errorf("AuthorizationThing(a) = %+v, %v, %v; want t-a, attached", thing, attached, err)
	}
	thing, attached, err = db.AuthorizationThing(ctx, a.ID, "t-b")
	if err != nil || thing == nil || attached {
		t.Errorf("AuthorizationThing(a, t-b) = %+v, %v, %v; want t-b, not attached", thing, attached, err)
	}
	ps, err := db.Principals(ctx, "", b.ID)
	if err != nil || len(ps) != 2 {
		t.Errorf("Principals(b) = %+v, %v; want 2", ps, err)
	}
	if err := db.DetachPrincipal(ctx, "t-a", b.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "detaching twice", db.DetachPrincipal(ctx, "t-a", b.ID, imprint.SystemActor), imprint.NotFound)
}

// TestPoliciesAndEffectivePolicies checks versions, attachment refusals and
// the policies that apply through groups.
func TestPoliciesAndEffectivePolicies(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	cert := mustRecorded(t, db, ca.ID, "p")
	const doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	for _, name := range []string{"direct", "inherited", "unrelated"} {
		if _, err := db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.CreatePolicy(ctx, "direct", doc, imprint.SystemActor)
	wantKind(t, "CreatePolicy twice", err, imprint.Conflict)
	v2, err := db.CreatePolicyVersion(ctx, "direct", doc, true, 5, imprint.SystemActor)
	if err != nil || v2.VersionID != 2 {
		t.Fatalf("CreatePolicyVersion() = %+v, %v", v2, err)
	}
	wantKind(t, "deleting the default version", db.DeletePolicyVersion(ctx, "direct", 2, imprint.SystemActor), imprint.Conflict)
	for _, g := range []*imprint.ThingGroup{{Name: "root"}, {Name: "child", Parent: "root"}} {
		if err := db.CreateThingGroup(ctx, g, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateThing(ctx, &imprint.Thing{Name: "p"}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachPrincipal(ctx, "p", cert.ID, false, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.AddThingToGroup(ctx, "child", "p", imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachPolicy(ctx, "direct", imprint.TargetCertificate, cert.ID, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := db.AttachPolicy(ctx, "inherited", imprint.TargetThingGroup, "root", imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "attaching to an unknown group", db.AttachPolicy(ctx, "unrelated", imprint.TargetThingGroup, "nope", imprint.SystemActor), imprint.NotFound)
	vs, err := db.EffectivePolicies(ctx, cert.ID, "p")
	names := []string{}
	for _, v := range vs {
		names = append(names, v.PolicyName)
		if v.PolicyName == "direct" && v.VersionID != 2 {
			t.Errorf("effective version of direct = %d, want the default, 2", v.VersionID)
		}
	}
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"direct", "inherited"}) {
		t.Errorf("EffectivePolicies() = %v, %v; want direct and inherited", names, err)
	}
	if vs, err := db.EffectivePolicies(ctx, cert.ID, ""); err != nil || len(vs) != 1 {
		t.Errorf("EffectivePolicies() without the thing = %d, %v; want direct alone", len(vs), err)
	}
	wantKind(t, "deleting an attached policy", db.DeletePolicy(ctx, "inherited", imprint.SystemActor), imprint.Conflict)
	wantKind(t, "deleting a group with policies", db.DeleteThingGroup(ctx, "root", imprint.SystemActor), imprint.Conflict)
}

// TestTemplateVersions checks what provisioning reads of templates: the
// default version's body, the version limit, and the CA binding.
func TestTemplateVersions(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	const body = `{"Resources":{}}`
	tpl := &imprint.ProvisioningTemplate{Name: "jitp", Type: "JITP", Enabled: true, Body: body}
	if err := db.CreateTemplate(ctx, tpl, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= 3; i++ {
		if _, err := db.CreateTemplateVersion(ctx, "jitp", `{"Resources":{},"Parameters":{}}`, i == 3, 3, imprint.SystemActor); err != nil {
			t.Fatal(err)
		}
	}
	_, err := db.CreateTemplateVersion(ctx, "jitp", body, false, 3, imprint.SystemActor)
	wantKind(t, "a version past the limit", err, imprint.Conflict)
	got, err := db.Template(ctx, "jitp")
	if err != nil || got.DefaultVersion != 3 || got.Body != `{"Resources":{},"Parameters":{}}` {
		t.Errorf("Template() = %+v, %v; want default version 3 with its body", got, err)
	}
	name := "jitp"
	if _, err := db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{ProvisioningTemplate: &name}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	wantKind(t, "deleting a template a CA provisions with", db.DeleteTemplate(ctx, "jitp", imprint.SystemActor), imprint.Conflict)
	none := ""
	if c, err := db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{ProvisioningTemplate: &none}, imprint.SystemActor); err != nil || c.ProvisioningTemplate != "" {
		t.Fatalf("UpdateCA(no template) = %+v, %v", c, err)
	}
	if err := db.DeleteTemplate(ctx, "jitp", imprint.SystemActor); err != nil {
		t.Errorf("DeleteTemplate() once no CA uses it = %v", err)
	}
}

// TestUpdateCA changes status, auto-registration and template in one call:
// one event per change, one notification, nothing for no change.
func TestUpdateCA(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	inactive, on := imprint.CAInactive, true
	c, err := db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{Status: &inactive, AutoRegistration: &on}, imprint.SystemActor)
	if err != nil || c.Status != imprint.CAInactive || !c.AutoRegistration {
		t.Fatalf("UpdateCA() = %+v, %v", c, err)
	}
	if _, err := db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{Status: &inactive, AutoRegistration: &on}, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountForTest(ctx, `SELECT count(*) FROM audit_events WHERE resource_type = 'ca' AND type <> 'ca.created'`); n != 2 {
		t.Errorf("CA events = %d, want 2 (deactivated, auto-registration set; the repeat changes nothing)", n)
	}
	missing := "nope"
	_, err = db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{Status: &inactive, ProvisioningTemplate: &missing}, imprint.SystemActor)
	wantKind(t, "UpdateCA with an unknown template", err, imprint.NotFound)
	bad := imprint.CAStatus("GONE")
	_, err = db.UpdateCA(ctx, ca.ID, imprint.CAUpdate{Status: &bad}, imprint.SystemActor)
	wantKind(t, "UpdateCA with a bad status", err, imprint.Invalid)
	_, err = db.UpdateCA(ctx, randomHex(32), imprint.CAUpdate{Status: &inactive}, imprint.SystemActor)
	wantKind(t, "UpdateCA of an unknown CA", err, imprint.NotFound)
}
