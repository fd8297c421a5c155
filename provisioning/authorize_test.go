package provisioning_test

import (
	"crypto/x509/pkix"
	"reflect"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/policy"
	"github.com/imprint-iot/imprint/provisioning"
)

// TestAuthorize decides with policies attached to the certificate and to
// its thing's group, with connection-time variables, an explicit deny, and
// the policies added and skipped by the request.
func TestAuthorize(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cert := f.issue(pkix.Name{CommonName: "sensor-1", Organization: []string{"Acme"}})
	mustPolicy := func(name, doc string) {
		t.Helper()
		if _, err := f.db.CreatePolicy(ctx, name, doc, imprint.SystemActor); err != nil {
			t.Fatalf("CreatePolicy(%s) error = %v", name, err)
		}
	}
	mustPolicy("connect-own-name", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect",
		"Resource":"arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"}]}`)
	mustPolicy("publish-org", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish",
		"Resource":"arn:aws:iot:*:*:topic/${iot:Certificate.Subject.Organization}/*"}]}`)
	mustPolicy("deny-admin", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:Publish",
		"Resource":"arn:aws:iot:*:*:topic/Acme/admin"}]}`)
	mustPolicy("subscribe-all", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Subscribe","Resource":"*"}]}`)
	thing := &imprint.Thing{Name: "sensor-1", Attributes: map[string]string{}}
	if err := f.db.CreateThing(ctx, thing, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AttachPrincipal(ctx, "sensor-1", cert.ID, true, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	group := &imprint.ThingGroup{Name: "fleet", Attributes: map[string]string{}}
	if err := f.db.CreateThingGroup(ctx, group, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	if err := f.db.AddThingToGroup(ctx, "fleet", "sensor-1", imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string][2]string{
		"connect-own-name": {"certificate", cert.ID}, "publish-org": {"thinggroup", "fleet"}, "deny-admin": {"certificate", cert.ID},
	} {
		if err := f.db.AttachPolicy(ctx, name, target[0], target[1], imprint.SystemActor); err != nil {
			t.Fatalf("AttachPolicy(%s) error = %v", name, err)
		}
	}
	decisions, err := f.engine.Authorize(ctx, provisioning.AuthorizeRequest{
		CertificateID: cert.ID, ClientID: "sensor-1",
		Checks: []provisioning.Check{
			{Action: policy.ActionConnect, Resources: []string{"client/sensor-1"}},
			{Action: policy.ActionPublish, Resources: []string{"topic/Acme/temp"}},
			{Action: policy.ActionPublish, Resources: []string{"topic/Acme/temp", "topic/Acme/admin"}},
			{Action: policy.ActionSubscribe, Resources: []string{"topicfilter/any"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.Result{policy.Allowed, policy.Allowed, policy.ExplicitDeny, policy.ImplicitDeny}
	for i, d := range decisions {
		if d.Result != want[i] {
			t.Errorf("check %d (%v %v) = %v, want %v (allowing %v, denying %v)", i, d.Check.Action, d.Check.Resources, d.Result, want[i], d.Allowing, d.Denying)
		}
	}
	if got := decisions[2].Denying; !reflect.DeepEqual(got, []string{"deny-admin"}) {
		t.Errorf("denying policies = %v, want [deny-admin]", got)
	}
	// The same request with a policy added and one skipped.
	decisions, err = f.engine.Authorize(ctx, provisioning.AuthorizeRequest{
		CertificateID: cert.ID, ClientID: "sensor-1",
		Checks: []provisioning.Check{
			{Action: policy.ActionSubscribe, Resources: []string{"topicfilter/any"}},
			{Action: policy.ActionPublish, Resources: []string{"topic/Acme/admin"}},
		},
		PolicyNamesToAdd: []string{"subscribe-all"}, PolicyNamesToSkip: []string{"deny-admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if decisions[0].Result != policy.Allowed || decisions[1].Result != policy.Allowed {
		t.Errorf("with subscribe-all added and deny-admin skipped: %v, %v; want ALLOWED twice", decisions[0].Result, decisions[1].Result)
	}
	if _, err := f.engine.Authorize(ctx, provisioning.AuthorizeRequest{CertificateID: cert.ID, PolicyNamesToAdd: []string{"nope"},
		Checks: []provisioning.Check{{Action: policy.ActionConnect, Resources: []string{"client/x"}}}}); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("Authorize() adding an unknown policy = %v, want NotFound", err)
	}
	if _, err := f.engine.Authorize(ctx, provisioning.AuthorizeRequest{CertificateID: "00" + cert.ID[2:],
		Checks: []provisioning.Check{{Action: policy.ActionConnect, Resources: []string{"client/x"}}}}); imprint.ErrorKind(err) != imprint.NotFound {
		t.Errorf("Authorize() of an unknown certificate = %v, want NotFound", err)
	}
}
