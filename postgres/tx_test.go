package postgres_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/imprint-iot/imprint"
	"github.com/imprint-iot/imprint/postgres"
	"github.com/imprint-iot/imprint/postgres/pgtest"
)

// TestInTxRetriesDeadlocks makes two transactions lock two rows in opposite
// orders. PostgreSQL aborts one of them (40P01); InTx runs it again, so both
// commit, and the aborted attempt leaves nothing.
func TestInTxRetriesDeadlocks(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	if err := db.ExecForTest(ctx, `CREATE TABLE lockt (id int PRIMARY KEY, n int NOT NULL); INSERT INTO lockt VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	holding := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	run := func(i, first, second int) error {
		var tries int
		return db.InTx(ctx, func(tx *postgres.Tx) error {
			attempts.Add(1)
			tries++
			if err := tx.ExecForTest(ctx, `UPDATE lockt SET n = n + 1 WHERE id = $1`, first); err != nil {
				return err
			}
			if tries == 1 { // both hold their first row before either asks for its second
				close(holding[i])
				<-holding[1-i]
			}
			return tx.ExecForTest(ctx, `UPDATE lockt SET n = n + 1 WHERE id = $1`, second)
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, order := range [][2]int{{1, 2}, {2, 1}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = run(i, order[0], order[1])
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("InTx() errors = %v, %v; want both committed after the retry", errs[0], errs[1])
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("attempts = %d, want 3 (the deadlock's victim runs twice)", n)
	}
	if n, err := db.CountForTest(ctx, `SELECT sum(n) FROM lockt`); err != nil || n != 4 {
		t.Errorf("sum of the counters = %d, %v; want 4 (the aborted attempt left nothing)", n, err)
	}
}

// TestInTxAborted checks that a serialization failure is retried, that it
// becomes Aborted when every attempt fails, and that other errors are not
// retried.
func TestInTxAborted(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	const serializationFailure = `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`
	tries := 0
	err := db.InTx(ctx, func(tx *postgres.Tx) error {
		tries++
		if tries == 1 {
			return tx.ExecForTest(ctx, serializationFailure)
		}
		return nil
	})
	if err != nil || tries != 2 {
		t.Errorf("InTx() with one serialization failure = %v after %d tries, want success after 2", err, tries)
	}
	tries = 0
	err = db.InTx(ctx, func(tx *postgres.Tx) error { tries++; return tx.ExecForTest(ctx, serializationFailure) })
	if imprint.ErrorKind(err) != imprint.Aborted || tries != postgres.MaxAttempts {
		t.Errorf("InTx() always failing = %v (kind %v) after %d tries, want Aborted after %d", err, imprint.ErrorKind(err), tries, postgres.MaxAttempts)
	}
	tries = 0
	err = db.InTx(ctx, func(tx *postgres.Tx) error { tries++; return imprint.Errorf(imprint.Conflict, "no") })
	if imprint.ErrorKind(err) != imprint.Conflict || tries != 1 {
		t.Errorf("InTx() with a Conflict = %v after %d tries, want it returned at once", err, tries)
	}
}

// TestInTxComposes runs a provisioning-like flow in one transaction: a thing,
// its certificate's attachment and status, a policy attached to it. A step
// that fails and is handled (the policy exists already) leaves the rest
// going; a flow that fails leaves nothing at all.
func TestInTxComposes(t *testing.T) {
	t.Parallel()
	db := pgtest.Open(t)
	ca := mustCA(t, db)
	cert := newCert(ca.ID, "flow-1")
	cert.Status = imprint.CertificatePendingActivation
	if err := db.CreateCertificates(ctx, []imprint.Certificate{cert}, imprint.SystemActor, nil); err != nil {
		t.Fatal(err)
	}
	const doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	if _, err := db.CreatePolicy(ctx, "shared", doc, imprint.SystemActor); err != nil {
		t.Fatal(err)
	}
	flow := func(thing string, fail error) error {
		return db.InTx(ctx, func(tx *postgres.Tx) error {
			if err := tx.CreateThing(ctx, &imprint.Thing{Name: thing}, imprint.SystemActor); err != nil {
				return err
			}
			if err := tx.AttachPrincipal(ctx, thing, cert.ID, true, imprint.SystemActor); err != nil {
				return err
			}
			if created, err := tx.EnsurePolicy(ctx, "shared", doc, imprint.SystemActor); err != nil || created {
				return fmt.Errorf("EnsurePolicy(existing) = %v, %v; want false, nil", created, err)
			} // the policy is there: attach it
			if err := tx.AttachPolicy(ctx, "shared", imprint.TargetCertificate, cert.ID, imprint.SystemActor); err != nil {
				return err
			}
			if _, err := tx.SetCertificateStatus(ctx, cert.ID, imprint.CertificateActive, imprint.SystemActor); err != nil {
				return err
			}
			return fail
		})
	}
	before, _ := db.CountForTest(ctx, `SELECT count(*) FROM audit_events`)
	if err := flow("flow-thing-a", imprint.Errorf(imprint.Invalid, "the template says no")); imprint.ErrorKind(err) != imprint.Invalid {
		t.Fatalf("failing flow = %v, want its Invalid error", err)
	}
	after, _ := db.CountForTest(ctx, `SELECT count(*) FROM audit_events`)
	things, _ := db.CountForTest(ctx, `SELECT count(*) FROM things`)
	if c, _ := db.Certificate(ctx, cert.ID); after != before || things != 0 || c.Status != imprint.CertificatePendingActivation {
		t.Errorf("a failed flow left events %d→%d, things %d, status %s; want nothing", before, after, things, c.Status)
	}
	if err := flow("flow-thing-b", nil); err != nil {
		t.Fatalf("flow = %v", err)
	}
	if c, _ := db.Certificate(ctx, cert.ID); c.Status != imprint.CertificateActive {
		t.Errorf("status after the flow = %s, want ACTIVE", c.Status)
	}
	if vs, err := db.EffectivePolicies(ctx, cert.ID, "flow-thing-b"); err != nil || len(vs) != 1 {
		t.Errorf("effective policies after the flow = %v, %v; want shared", vs, err)
	}
	if n, _ := db.CountForTest(ctx, `SELECT count(DISTINCT txid) FROM audit_events WHERE id > 0 AND type IN ('thing.created', 'thing.principal_attached', 'policy.attached', 'certificate.activated')`); n != 1 {
		t.Errorf("the flow's events came from %d transactions, want 1", n)
	}
}
