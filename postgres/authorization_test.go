package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestAuthorizationChanges: every change of what decides a known
// certificate's connections moves the store's generation on before it
// returns and announces itself to the replicas; creations, and changes of
// what a transaction created itself, do neither.
func TestAuthorizationChanges(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	var (
		mu    sync.Mutex
		heard int
	)
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(done)
		db.Listen(lctx, func(channel, payload string) {
			if payload == "" && channel == imprint.ChannelAuthorization {
				mu.Lock()
				heard++
				first := heard == 1
				mu.Unlock()
				if first {
					close(ready) // the listener's own call when it starts
				}
			}
		}, imprint.ChannelAuthorization)
	}()
	defer func() { stop(); <-done }()
	<-ready

	a := newCert(ca.ID, "authz-a")
	const doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	unchanged := func(what string, fn func() error) {
		t.Helper()
		before := db.AuthorizationGeneration()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if db.AuthorizationGeneration() != before {
			t.Errorf("%s moved the authorization generation on", what)
		}
	}
	changes := 0
	changed := func(what string, fn func() error) {
		t.Helper()
		before := db.AuthorizationGeneration()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if db.AuthorizationGeneration() != before+1 {
			t.Errorf("%s did not move the authorization generation on", what)
		}
		changes++
	}
	sys := imprint.SystemActor
	unchanged("recording a certificate", func() error { return db.CreateCertificates(ctx, []imprint.Certificate{a}, sys, nil) })
	unchanged("creating a thing", func() error { return db.CreateThing(ctx, &imprint.Thing{Name: "authz-thing"}, sys) })
	unchanged("creating a group", func() error { return db.CreateThingGroup(ctx, &imprint.ThingGroup{Name: "authz-group"}, sys) })
	unchanged("creating a policy", func() error { _, err := db.CreatePolicy(ctx, "authz-policy", doc, sys); return err })
	changed("attaching a policy", func() error { return db.AttachPolicy(ctx, "authz-policy", "certificate", a.ID, sys) })
	unchanged("attaching it again", func() error { return db.AttachPolicy(ctx, "authz-policy", "certificate", a.ID, sys) })
	changed("attaching a certificate to a thing", func() error { return db.AttachPrincipal(ctx, "authz-thing", a.ID, false, sys) })
	changed("updating a thing", func() error {
		_, err := db.UpdateThing(ctx, "authz-thing", imprint.ThingUpdate{Attributes: map[string]string{"k": "v"}}, sys)
		return err
	})
	changed("adding a thing to a group", func() error { return db.AddThingToGroup(ctx, "authz-group", "authz-thing", sys) })
	changed("removing it", func() error { return db.RemoveThingFromGroup(ctx, "authz-group", "authz-thing", sys) })
	unchanged("adding a policy version", func() error {
		_, err := db.CreatePolicyVersion(ctx, "authz-policy", doc, false, 5, sys)
		return err
	})
	changed("adding a default policy version", func() error {
		_, err := db.CreatePolicyVersion(ctx, "authz-policy", doc, true, 5, sys)
		return err
	})
	changed("setting the default version", func() error {
		_, err := db.SetDefaultPolicyVersion(ctx, "authz-policy", 1, sys)
		return err
	})
	changed("detaching a policy", func() error { return db.DetachPolicy(ctx, "authz-policy", "certificate", a.ID, sys) })
	changed("detaching a certificate", func() error { return db.DetachPrincipal(ctx, "authz-thing", a.ID, sys) })
	changed("deleting a thing", func() error { return db.DeleteThing(ctx, "authz-thing", false, 0, sys) })
	changed("deleting a group", func() error { return db.DeleteThingGroup(ctx, "authz-group", sys) })
	changed("deleting a policy", func() error { return db.DeletePolicy(ctx, "authz-policy", sys) })
	const body = `{"Resources":{}}`
	unchanged("creating a template", func() error {
		return db.CreateTemplate(ctx, &imprint.ProvisioningTemplate{Name: "authz-tpl", Type: imprint.TemplateJITP, Enabled: true, Body: body}, sys)
	})
	off := false
	changed("disabling a template", func() error {
		_, err := db.UpdateTemplate(ctx, "authz-tpl", imprint.TemplateUpdate{Enabled: &off}, sys)
		return err
	})
	unchanged("adding a template version", func() error {
		_, err := db.CreateTemplateVersion(ctx, "authz-tpl", body, false, 5, sys)
		return err
	})
	changed("adding a default template version", func() error {
		_, err := db.CreateTemplateVersion(ctx, "authz-tpl", body, true, 5, sys)
		return err
	})
	changed("deleting a template", func() error { return db.DeleteTemplate(ctx, "authz-tpl", sys) })

	// A flow that creates a certificate and its thing and attaches them:
	// nothing was decided with any of it.
	b := newCert(ca.ID, "authz-b")
	b.Status = imprint.CertificatePendingActivation
	if _, err := db.CreatePolicy(ctx, "authz-flow", doc, sys); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateThingGroup(ctx, &imprint.ThingGroup{Name: "authz-flow-group"}, sys); err != nil {
		t.Fatal(err)
	}
	unchanged("a first connection's flow", func() error {
		return db.InTx(ctx, func(tx *postgres.Tx) error {
			if err := tx.RecordCertificate(ctx, &b, sys, nil); err != nil {
				return err
			}
			if err := tx.CreateThing(ctx, &imprint.Thing{Name: "authz-flow-thing"}, sys); err != nil {
				return err
			}
			if err := tx.AddThingToGroup(ctx, "authz-flow-group", "authz-flow-thing", sys); err != nil {
				return err
			}
			if err := tx.AttachPrincipal(ctx, "authz-flow-thing", b.ID, false, sys); err != nil {
				return err
			}
			return tx.AttachPolicy(ctx, "authz-flow", "certificate", b.ID, sys)
		})
	})
	// The same steps for a certificate recorded before: announced once
	// committed, and not at all when the flow fails.
	c := newCert(ca.ID, "authz-c")
	if err := db.CreateCertificates(ctx, []imprint.Certificate{c}, sys, nil); err != nil {
		t.Fatal(err)
	}
	flow := func(fail error) error {
		return db.InTx(ctx, func(tx *postgres.Tx) error {
			if err := tx.AttachPrincipal(ctx, "authz-flow-thing", c.ID, false, sys); err != nil {
				return err
			}
			return fail
		})
	}
	unchanged("a failed flow", func() error {
		if err := flow(errors.New("the template says no")); err == nil {
			return errors.New("the failing flow succeeded")
		}
		return nil
	})
	changed("a flow attaching a recorded certificate", func() error { return flow(nil) })

	// Each change reached the replicas (this listener among them).
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := heard - 1
		mu.Unlock()
		if n >= changes {
			if n > changes {
				t.Errorf("heard %d announcements for %d changes", n, changes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heard %d announcements for %d changes", n, changes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
